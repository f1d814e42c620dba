"""The ``aiida-flexo`` command.

Subcommands are loaded lazily (``aiida-flexo --help`` imports neither torch nor AiiDA); each lives in its own module
of this package.
"""

from __future__ import annotations

import importlib

import click

#: subcommand name -> "module:attribute"
SUBCOMMANDS: dict[str, str] = {
    'setup': 'aiida_flexo.cli.setup:setup',
    'polarization': 'aiida_flexo.cli.polarization:polarization',
    'born-charges': 'aiida_flexo.cli.polarization:born_charges',
    'frames': 'aiida_flexo.cli.frames:frames',
    'quickstart': 'aiida_flexo.cli.quickstart:quickstart',
    'textures': 'aiida_flexo.cli.textures:textures',
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


def fail(message: str) -> None:
    """Stop with a clear error message (exit status 2) instead of a traceback."""
    raise click.ClickException(message)
