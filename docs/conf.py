"""Sphinx configuration of the aiida-flexo documentation (built offline: `bash tools/docs.sh`)."""

from __future__ import annotations

import sys
from importlib.metadata import version as _version
from pathlib import Path

DOCS = Path(__file__).parent
sys.path.insert(0, str(DOCS))

project = 'aiida-flexo'
author = 'the aiida-flexo developers'
copyright = '2026, the aiida-flexo developers'  # noqa: A001 - Sphinx's name
release = _version('aiida-flexo')
version = release

extensions = [
    'myst_parser',
    'sphinx.ext.autodoc',
    'sphinx.ext.napoleon',
    'sphinx.ext.mathjax',
    'sphinx_click',
    'aiida.sphinxext',
    'flexo_docs',  # docs/flexo_docs.py: the protocol table, generated from the protocol YAML files
]
myst_enable_extensions = ['colon_fence', 'deflist', 'dollarmath']
myst_heading_anchors = 3
source_suffix = {'.md': 'markdown', '.rst': 'restructuredtext'}
exclude_patterns = ['_build', 'README.md']
html_theme = 'furo'
html_title = f'aiida-flexo {release}'
# offline: no intersphinx, no remote images, mathjax from the theme's default path is only used in the browser
nitpicky = False
suppress_warnings = ['myst.header']
autodoc_typehints = 'description'
autodoc_mock_imports: list[str] = []
