"""``aiida-flexo quickstart``: the main job on the embedded profile, end to end, with a report folder."""

from __future__ import annotations

import time
from pathlib import Path

import click

from aiida_flexo.cli import fail


def ensure_daemon(profile_name: str) -> None:
    """Start the profile's daemon unless it runs (the ZeroMQ broker starts with it)."""
    from aiida.engine.daemon.client import get_daemon_client

    client = get_daemon_client(profile_name)
    if not client.is_daemon_running:
        click.echo(f'Starting the daemon of profile "{profile_name}" ...')
        client.start_daemon()


def wait_for(node, timeout: float, what: str) -> None:
    """Wait until ``node`` is terminated, echoing its state changes."""
    start, last = time.monotonic(), None
    while not node.is_terminated:
        state = node.process_state.value if node.process_state else 'created'
        if state != last:
            click.echo(f'  {what} <{node.pk}>: {state}')
            last = state
        if time.monotonic() - start > timeout:
            fail(
                f'{what} <{node.pk}> did not finish within {timeout:.0f} s; follow it with `verdi process show {node.pk}`'
            )
        time.sleep(1.0)


@click.command('quickstart')
@click.option(
    '--profile', 'profile_name', default='flexo', show_default=True, help='Embedded profile to use/create.'
)
@click.option('--out', 'out_dir', default='flexo_report', show_default=True, type=click.Path(path_type=Path))
@click.option('--timeout', default=1200.0, show_default=True, help='Seconds to wait for the processes.')
def quickstart(profile_name: str, out_dir: Path, timeout: float) -> None:
    """Run the main job on the embedded profile and write a report folder.

    Sets up the embedded profile if needed, starts its daemon and submits the bundled BaTiO3 Berry-phase path
    (VASP OUTCARs, centrosymmetric -> polar) to the flexo.polarization CalcJob, which runs the aiida-flexo
    executable on the localhost computer; then reports the spontaneous polarization and the pks to query.
    """
    from aiida_flexo.profiles import SetupError, setup_profile

    try:
        report = setup_profile(profile_name, storage='sqlite', broker='zeromq')
    except SetupError as exc:
        fail(str(exc))
    from aiida import orm
    from aiida.engine import submit
    from aiida.plugins import CalculationFactory

    from aiida_flexo.resources import BTO_PATH_STEPS, bundled_path

    ensure_daemon(report.profile)
    code = orm.load_code('aiida-flexo@localhost')
    builder = CalculationFactory('flexo.polarization').get_builder()
    builder.code = code
    builder.outcars = orm.FolderData(tree=bundled_path('vasp/BTO_221_99_polarization'))
    builder.steps = orm.List(list(BTO_PATH_STEPS))
    builder.metadata.label = 'quickstart: BaTiO3 polarization path'
    node = submit(builder)
    click.echo(f'Submitted flexo.polarization <{node.pk}>; follow it with `verdi process list -a`')
    wait_for(node, timeout, 'flexo.polarization')
    if not node.is_finished_ok:
        fail(f'flexo.polarization <{node.pk}> failed: [{node.exit_status}] {node.exit_message}')
    result = node.outputs.polarization.get_dict()
    out_dir.mkdir(parents=True, exist_ok=True)
    ps, q = result['spontaneous_uC_cm2'], result['quantum_uC_cm2']
    lines = [
        '# aiida-flexo quickstart report',
        '',
        f'- profile: `{report.profile}`',
        f'- polarization CalcJob: pk {node.pk} (`verdi process show {node.pk}`)',
        f'- spontaneous polarization of BaTiO3 (same branch, last − first): '
        f'({ps[0]:.3f}, {ps[1]:.3f}, {ps[2]:.3f}) µC/cm²',
        f'- quantum at the polar end: ({q[0]:.2f}, {q[1]:.2f}, {q[2]:.2f}) µC/cm²',
        '',
        '| step | P_x | P_y | P_z (µC/cm²) |',
        '|---|---|---|---|',
        *[
            f'| {i} | {p[0]:.3f} | {p[1]:.3f} | {p[2]:.3f} |'
            for i, p in enumerate(result['polarization_uC_cm2'])
        ],
    ]
    (out_dir / 'summary.md').write_text('\n'.join(lines) + '\n')
    click.echo('\n'.join(lines[2:6]))
    click.echo(f'Report written to {out_dir}/summary.md')
