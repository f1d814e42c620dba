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
    'wait': 'aiida_flexo.cli.wait:wait',
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
    """Stop with a clear error message and ``exit_status`` (a number or an entry of an exit table,
    :mod:`aiida_flexo.exit_codes`) instead of a traceback."""
    raise FlexoCommandError(message, int(exit_status))


#: exit statuses of the command line (README, "Exit statuses"); commands add their own (3 not converged, ...)
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_UNEXPECTED = 70
EXIT_INTERRUPTED = 130


def known_errors() -> tuple[type[BaseException], ...]:
    """Exceptions whose message already names the problem and the fix: printed as one line, no traceback."""
    from aiida_flexo.data.frames import FramesError
    from aiida_flexo.gnn.io import ModelFileError
    from aiida_flexo.mlip.calculator import ModelError
    from aiida_flexo.mlip.committee import CommitteeError
    from aiida_flexo.mlip.universal import UnknownPotentialError
    from aiida_flexo.polarization.vasp import VaspOutputError
    from aiida_flexo.profiles import SetupError

    known: list[type[BaseException]] = [
        FramesError,
        ModelFileError,
        ModelError,
        CommitteeError,
        UnknownPotentialError,
        VaspOutputError,
        SetupError,
        FileNotFoundError,
        IsADirectoryError,
        NotADirectoryError,
        PermissionError,
    ]
    try:
        from aiida.common.exceptions import ConfigurationError, NotExistent, ProfileConfigurationError

        known += [NotExistent, ConfigurationError, ProfileConfigurationError]
    except ImportError:  # pragma: no cover - aiida-core is a dependency
        pass
    return tuple(known)


def error_log_dir() -> Path:
    """Folder of the full tracebacks of unexpected errors ($AIIDA_FLEXO_LOG_DIR, else ~/.cache/aiida-flexo/errors)."""
    import os

    configured = os.environ.get('AIIDA_FLEXO_LOG_DIR')
    if configured:
        return Path(configured)
    cache = os.environ.get('XDG_CACHE_HOME') or str(Path.home() / '.cache')
    return Path(cache) / 'aiida-flexo' / 'errors'


def report_unexpected(exc: BaseException, traceback_to_stderr: bool = False) -> tuple[int, str]:
    """Print one line for ``exc`` (and where its full traceback is); return (exit status, message).

    Known errors (:func:`known_errors`) are a one-line ``Error: <message>``, exit status 1. Anything else is a bug or
    an unforeseen case: one line naming the exception, plus the path of a log file holding the full traceback, exit
    status 70. ``traceback_to_stderr`` (a CalcJob: its stderr is a retrieved log) prints the traceback as well.
    """
    import datetime
    import os

    first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    try:
        known = known_errors()
    except Exception:  # noqa: BLE001 - a broken installation must still get its one line
        known = (FileNotFoundError, PermissionError)
    if isinstance(exc, known):
        click.echo(f'Error: {first_line}', err=True)
        return EXIT_ERROR, first_line
    text = ''.join(traceback.format_exception(exc))
    if traceback_to_stderr:
        click.echo(text, err=True, nl=False)
    log = None
    try:
        folder = error_log_dir()
        folder.mkdir(parents=True, exist_ok=True)
        stamp = datetime.datetime.now().strftime('%Y%m%d-%H%M%S')
        log = folder / f'{stamp}-{os.getpid()}.log'
        log.write_text(f'aiida-flexo {" ".join(sys.argv[1:])}\n\n{text}')
    except OSError:
        log = None
    where = f'full traceback in {log}' if log else 'the traceback could not be written to a log file'
    message = f'{type(exc).__name__}: {first_line}'
    click.echo(
        f'Error: unexpected {message} ({where}; please report it with that file)',
        err=True,
    )
    return EXIT_UNEXPECTED, message


#: ``aiida-flexo --status-file FILE <command> ...`` writes {"exit_status": int, "message": str} to FILE on exit, so
#: that CalcJob parsers know how the executable ended (the scheduler does not record it).
STATUS_OPTION = '--status-file'


def run(argv: list[str] | None = None) -> None:
    """Console-script entry point: runs :func:`main`, optionally recording the exit status in a status file."""
    args = list(sys.argv[1:] if argv is None else argv)
    status_file = None
    if len(args) >= 2 and args[0] == STATUS_OPTION:
        status_file, args = Path(args[1]), args[2:]
        # a job restarted in a copy of an earlier job's folder must not leave that job's verdict behind if it is killed
        status_file.unlink(missing_ok=True)
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
    except KeyboardInterrupt:
        click.echo('Error: interrupted (Ctrl-C); nothing was written after the interruption', err=True)
        status, message = EXIT_INTERRUPTED, 'interrupted'
    except Exception as exc:  # noqa: BLE001 - one line for the user, the traceback to a log file
        status, message = report_unexpected(exc, traceback_to_stderr=status_file is not None)
    if status_file is not None:
        status_file.write_text(json.dumps({'exit_status': int(status), 'message': message}))
    sys.exit(status)
