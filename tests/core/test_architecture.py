"""The import rules of docs/architecture.md, checked on the source: what may import what.

1. The science core (``aiida_flexo`` outside ``cli/``, ``nodes/``, ``profiles.py``, ``provenance.py``) imports no
   AiiDA, so it runs in any Python process (the executables on a cluster node, a notebook).
2. The AiiDA layer (``calcjobs/``, ``workflows/``, ``nodes/``) imports no torch at module level: the daemon stays
   light and starts fast; models run inside the CalcJobs' executables.
3. Science packages do not import their siblings' private names (``from aiida_flexo.x import _y``), and ``flexo``
   (the μ machinery) does not import the model packages ``gnn``/``mlip`` at module level (it takes models as
   objects).
4. The general packages (``gnn``, ``mlip``, ``polarization``) do not import the applications (``textures``,
   ``flexo``) at all.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CORE = ROOT / 'aiida_flexo'
NOT_CORE = {'cli', 'nodes', 'profiles.py', 'provenance.py'}


def _sources(*folders: Path) -> list[Path]:
    return sorted(p for folder in folders for p in folder.rglob('*.py'))


def _core_sources() -> list[Path]:
    return [p for p in _sources(CORE) if p.relative_to(CORE).parts[0] not in NOT_CORE]


def _module_level_imports(path: Path) -> list[tuple[str, list[str]]]:
    """(module, names) of the imports at module level (not inside functions: lazy imports are allowed)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in tree.body:
        if isinstance(node, ast.Import):
            found += [(alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.module, [alias.name for alias in node.names]))
        elif isinstance(node, ast.If | ast.Try):  # TYPE_CHECKING blocks and optional imports
            for child in ast.walk(node):
                if isinstance(child, ast.ImportFrom) and child.module and child.level == 0:
                    found.append((child.module, [alias.name for alias in child.names]))
    return found


def _all_imports(path: Path) -> list[tuple[str, list[str]]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    return [
        (node.module, [alias.name for alias in node.names])
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0
    ]


@pytest.mark.parametrize('path', _core_sources(), ids=lambda p: str(p.relative_to(ROOT)))
def test_the_science_core_imports_no_aiida(path):
    bad = [m for m, _ in _all_imports(path) if m == 'aiida' or m.startswith('aiida.')]
    assert not bad, f'{path.relative_to(ROOT)} imports {bad}: move the AiiDA part to calcjobs/ or workflows/'


def test_the_aiida_layer_imports_no_torch():
    """Every CalcJob, WorkChain and data plugin imported in a fresh interpreter: torch is not loaded."""
    modules = [
        'aiida_flexo.' + '.'.join(p.relative_to(ROOT).with_suffix('').parts)
        for p in _sources(ROOT / 'calcjobs', ROOT / 'workflows')
        if p.name != '__init__.py'
    ] + ['aiida_flexo.nodes.frames', 'aiida_flexo.nodes.coefficient']
    code = 'import importlib, sys\n' + ''.join(f'importlib.import_module({m!r})\n' for m in modules)
    code += 'print(sorted(m for m in sys.modules if m.split(".")[0] == "torch")[:3])'
    result = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == '[]', f'the AiiDA layer loads torch: {result.stdout}'


@pytest.mark.parametrize(
    'path', _sources(CORE, ROOT / 'calcjobs', ROOT / 'workflows'), ids=lambda p: str(p.relative_to(ROOT))
)
def test_no_private_names_cross_modules(path):
    bad = [
        f'{module}.{name}'
        for module, names in _all_imports(path)
        if module.startswith('aiida_flexo')
        for name in names
        if name.startswith('_') and not name.startswith('__')
    ]
    assert not bad, (
        f'{path.relative_to(ROOT)} imports private names {bad}: make them public where they are defined'
    )


@pytest.mark.parametrize('path', _sources(CORE / 'flexo'), ids=lambda p: str(p.relative_to(ROOT)))
def test_flexo_does_not_import_the_model_packages(path):
    bad = [m for m, _ in _module_level_imports(path) if m.startswith(('aiida_flexo.gnn', 'aiida_flexo.mlip'))]
    assert not bad, f'{path.relative_to(ROOT)} imports {bad} at module level: take the model as an argument'


@pytest.mark.parametrize(
    'path',
    _sources(CORE / 'gnn', CORE / 'mlip', CORE / 'polarization'),
    ids=lambda p: str(p.relative_to(ROOT)),
)
def test_the_general_packages_do_not_import_the_applications(path):
    """The models (``gnn``, ``mlip``) and the polarization conventions are general: they do not import the
    applications built on them (``textures``: perovskite superlattices, ``flexo``: μ), even lazily."""
    bad = [m for m, _ in _all_imports(path) if m.startswith(('aiida_flexo.textures', 'aiida_flexo.flexo'))]
    assert not bad, f'{path.relative_to(ROOT)} imports {bad}: move what it needs to a general package'
