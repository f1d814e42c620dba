"""Sphinx helpers of the aiida-flexo docs.

* ``flexo-protocols`` directive: the protocol table of a WorkChain, generated from its protocol YAML file (the same
  source as ``get_builder_from_protocol`` and ``aiida-flexo quickstart --help``).
* ``flexo-exit-codes`` directive: the exit codes of every aiida-flexo process, from their specs.
* ``flexo-executable-exit-codes`` directive: each executable's exit-status table (:mod:`aiida_flexo.exit_codes`).
* ``flexo-docstring`` directive: an object's docstring (the Data types, without autodoc's attribute walk).
* The port help texts that aiida-core's extension renders are plain text written for ``verdi``: they are dedented,
  joined into one paragraph and their ``|``, ``*`` and trailing ``_`` escaped before docutils reads them, and a docutils warning
  in them stops the build (the site is built with warnings as errors).
"""

from __future__ import annotations

import inspect
import re

from docutils import nodes
from docutils.core import publish_doctree
from docutils.parsers.rst import Directive, directives
from docutils.statemachine import StringList

_SPECIAL = re.compile(r'([|*])|(?<=\w)_(?=\W|$)')


def _plain_help(text: str, *args, **kwargs):
    text = ' '.join(inspect.cleandoc(text).split())
    return publish_doctree(
        _escape(text),
        settings_overrides={'report_level': 2, 'halt_level': 2, 'warning_stream': False},
    )


def _escape(text: str) -> str:
    """Plain text as reStructuredText: ``|``, ``*`` and trailing ``_`` escaped."""
    return _SPECIAL.sub(lambda match: '\\' + match.group(0), text)


class _RstDirective(Directive):
    """A directive that writes reStructuredText lines and parses them in place."""

    def parsed(self, lines: list[str]) -> list:
        container = nodes.container()
        self.state.nested_parse(StringList(lines), self.content_offset, container)
        return container.children

    def list_table(self, header: list[str], rows: list[list[str]], widths: str | None = None) -> list:
        lines = ['.. list-table::', '   :header-rows: 1', *([f'   :widths: {widths}'] if widths else []), '']
        for cells in [header, *rows]:
            lines.append(f'   * - {cells[0]}')
            lines.extend(f'     - {" ".join(str(cell).split())}' for cell in cells[1:])
        return self.parsed(lines)


class ProtocolTable(_RstDirective):
    """``.. flexo-protocols:: pipeline``: one row per protocol with its description, cost and accuracy."""

    required_arguments = 1
    option_spec = {'columns': directives.unchanged}

    def run(self):
        from aiida_flexo.workflows.protocols import protocol_table

        rows = protocol_table(self.arguments[0])
        columns = [c.strip() for c in self.options.get('columns', 'description,cost,accuracy').split(',')]
        table = [[row['name'], *(row.get(c, '') for c in columns)] for row in rows]
        return self.list_table(['protocol', *columns], table)


class ProcessExitCodes(_RstDirective):
    """``.. flexo-exit-codes::``: every exit code of every aiida-flexo process (entry point, status, label, message)."""

    def run(self):
        from importlib.metadata import entry_points

        rows = []
        for group in ('aiida.workflows', 'aiida.calculations'):
            for entry in sorted(entry_points(group=group), key=lambda e: e.name):
                if not entry.name.startswith('flexo.'):
                    continue
                codes = sorted(entry.load().spec().exit_codes.items(), key=lambda item: item[1].status)
                for label, code in codes:
                    if code.status < 300:
                        continue  # aiida-core's own (1-299), the same for every process
                    rows.append([f'``{entry.name}``', code.status, f'``{label}``', _escape(code.message)])
        return self.list_table(['process', 'status', 'label', 'message'], rows, widths='20 8 27 45')


class ExecutableExitTables(_RstDirective):
    """``.. flexo-executable-exit-codes::``: the exit-status table of every executable (aiida_flexo.exit_codes)."""

    def run(self):
        from aiida_flexo.engines.exit_codes import ENGINE_EXIT
        from aiida_flexo.exit_codes import COMMAND_EXIT
        from aiida_flexo.mlip.exit_codes import MLIP_EXIT

        rows = []
        for table in (COMMAND_EXIT, ENGINE_EXIT, MLIP_EXIT):
            for entry in table:
                rows.append(
                    [
                        f'``{table.executable}``',
                        '' if entry.status is None else entry.status,
                        entry.exit_code,
                        f'``{entry.label}``',
                        'yes' if entry.recoverable else 'no',
                    ]
                )
        header = ['executable', 'process status', 'CalcJob exit code', 'label', 'restart handles it']
        return self.list_table(header, rows, widths='22 12 14 32 12')


class Docstring(_RstDirective):
    """``.. flexo-docstring:: module.Class``: the docstring of an object, as reStructuredText."""

    required_arguments = 1

    def run(self):
        import importlib

        module, _, name = self.arguments[0].rpartition('.')
        text = inspect.getdoc(getattr(importlib.import_module(module), name)) or ''
        return self.parsed(text.splitlines())


def setup(app):
    import aiida.sphinxext.process as process

    process.publish_doctree = _plain_help
    app.add_directive('flexo-protocols', ProtocolTable)
    app.add_directive('flexo-exit-codes', ProcessExitCodes)
    app.add_directive('flexo-executable-exit-codes', ExecutableExitTables)
    app.add_directive('flexo-docstring', Docstring)
    return {'parallel_read_safe': True, 'parallel_write_safe': True}
