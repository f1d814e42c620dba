"""The ``aiida-flexo`` command.

Subcommands are loaded lazily (``aiida-flexo --help`` imports neither torch nor AiiDA); each lives in its own module
of this package.
"""

from __future__ import annotations

import importlib
import json
import sys
import traceback
from pathlib import Path

import click

#: subcommand name -> "module:attribute"
SUBCOMMANDS: dict[str, str] = {
    'setup': 'aiida_flexo.cli.setup:setup',
    'polarization': 'aiida_flexo.cli.polarization:polarization',
    'born-charges': 'aiida_flexo.cli.polarization:born_charges',
    'flexo': 'aiida_flexo.cli.flexo:flexo',
    'frames': 'aiida_flexo.cli.frames:frames',
    'label': 'aiida_flexo.cli.label:label',
    'gnn': 'aiida_flexo.cli.gnn:gnn',
    'mlip': 'aiida_flexo.cli.mlip:mlip',
    'engine': 'aiida_flexo.cli.engine:engine',
    'query': 'aiida_flexo.cli.query:query',
    'quickstart': 'aiida_flexo.cli.quickstart:quickstart',
    'textures': 'aiida_flexo.cli.textures:textures',
    'active': 'aiida_flexo.cli.active:active',
}


class LazyGroup(click.Group):
    """A click group whose subcommands are imported only when used."""

    def __init__(self, *args, lazy_subcommands: dict[str, str] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.lazy_subcommands = lazy_subcommands or {}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(self.lazy_subcommands))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy_subcommands:
            module_name, attribute = self.lazy_subcommands[cmd_name].split(':')
            return getattr(importlib.import_module(module_name), attribute)
        return super().get_command(ctx, cmd_name)


@click.group(
    cls=LazyGroup, lazy_subcommands=SUBCOMMANDS, context_settings={'help_option_names': ['-h', '--help']}
)
@click.version_option(package_name='aiida-flexo')
def main() -> None:
    """aiida-flexo: flexoelectric coefficients and polarization maps with AiiDA provenance."""


def echo_json(data) -> None:
    """Print ``data`` as indented JSON on stdout (the ``--json`` contract of every subcommand)."""
    import json

    click.echo(json.dumps(data, indent=2))


class FlexoCommandError(click.ClickException):
    """A clear error (``Error: <message>`` on stderr) with a chosen exit status (CalcJob parsers map it)."""

    def __init__(self, message: str, exit_status: int = 1):
        super().__init__(message)
        self.exit_code = exit_status


def fail(message: str, exit_status: int = 1) -> None:
    """Stop with a clear error message and ``exit_status`` instead of a traceback."""
    raise FlexoCommandError(message, exit_status)


#: ``aiida-flexo --status-file FILE <command> ...`` writes {"exit_status": int, "message": str} to FILE on exit, so
#: that CalcJob parsers know how the executable ended (the scheduler does not record it).
STATUS_OPTION = '--status-file'


def run(argv: list[str] | None = None) -> None:
    """Console-script entry point: runs :func:`main`, optionally recording the exit status in a status file."""
    args = list(sys.argv[1:] if argv is None else argv)
    status_file = None
    if len(args) >= 2 and args[0] == STATUS_OPTION:
        status_file, args = Path(args[1]), args[2:]
    status, message = 0, ''
    try:
        main.main(args=args, prog_name='aiida-flexo', standalone_mode=False)
    except click.ClickException as exc:
        exc.show()
        status, message = exc.exit_code, exc.format_message()
    except click.exceptions.Abort:
        click.echo('Aborted!', err=True)
        status, message = 1, 'aborted'
    except click.exceptions.Exit as exc:
        status = exc.exit_code
    except SystemExit as exc:
        status = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        message = '' if isinstance(exc.code, int) or exc.code is None else str(exc.code)
    except Exception as exc:  # noqa: BLE001 - recorded for the parser, then re-raised as a non-zero exit
        traceback.print_exc()
        status, message = 1, f'{type(exc).__name__}: {exc}'
    if status_file is not None:
        status_file.write_text(json.dumps({'exit_status': int(status), 'message': message}))
    sys.exit(status)
