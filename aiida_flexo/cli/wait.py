"""``aiida-flexo wait PK``: block until a submitted process ends, printing its steps; the exit status says how."""

from __future__ import annotations

import click

from aiida_flexo.cli import fail
from aiida_flexo.cli.frames import load_cli_profile, profile_option


@click.command('wait')
@click.argument('pk', type=str)
@click.option(
    '--timeout',
    default=86400.0,
    show_default=True,
    type=click.FloatRange(min=0),
    help='Seconds to wait at most.',
)
@profile_option
def wait(pk: str, timeout: float, profile: str | None) -> None:
    """Wait until process PK (and every step it calls) has ended, printing each step as it starts and ends.

    For scripts and how-tos: submit (`aiida-flexo label`, `active submit`, `textures submit`, `verdi run ...`),
    then `aiida-flexo wait PK` and go on with its outputs.
    Exit status 0 when it finished with exit status 0; 1 (with its exit status and message) when it failed, was
    killed or excepted, or did not end within --timeout (it keeps running in the daemon).
    """
    load_cli_profile(profile)
    from aiida.common.exceptions import MultipleObjectsError, NotExistent
    from aiida.orm import ProcessNode, load_node

    from aiida_flexo.cli.quickstart import follow

    try:
        node = load_node(pk)
    except (NotExistent, MultipleObjectsError) as exc:
        fail(f'no single node with identifier {pk}: {exc}')
    if not isinstance(node, ProcessNode):
        fail(
            f'node {node.pk} is a {type(node).__name__}, not a process: pass the pk a submit command printed'
        )
    follow({'process': node}, timeout)
    if not node.is_finished_ok:
        state = node.process_state.value if node.process_state else 'unknown'
        status = f' [{node.exit_status}] {node.exit_message or ""}'.rstrip() if node.is_finished else ''
        fail(f'{node.process_label}<{node.pk}> {state}{status}; see `verdi process report {node.pk}`')
    click.echo(f'{node.process_label}<{node.pk}> finished [0]')
