"""``aiida-flexo label``: submit the DFT labelling of a structure file (flexo.label) and print its pk."""

from __future__ import annotations

from pathlib import Path

import click

from aiida_flexo.cli import echo_json, fail
from aiida_flexo.cli.frames import load_cli_profile, profile_option, require_daemon


@click.command('label')
@click.argument('structures', type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option('--engine', type=click.Choice(['gpaw', 'vasp']), default='gpaw', show_default=True)
@click.option(
    '--protocol', type=click.Choice(['fast', 'moderate', 'precise']), default='moderate', show_default=True
)
@click.option(
    '--born-charges', is_flag=True, help='Born charges on every frame (central finite differences).'
)
@click.option('--born-charges-frames', default=None, help='Born charges on these frames only, e.g. "0,5,9".')
@click.option(
    '--code',
    'code_label',
    default=None,
    help='DFT code [default: aiida-flexo@localhost for gpaw; required for vasp].',
)
@click.option('--potential-family', default='PBE.54', show_default=True, help='POTCAR family (vasp).')
@click.option('--max-wallclock', type=int, default=3600, show_default=True, help='Per-frame walltime, s.')
@profile_option
@click.option('--json', 'as_json', is_flag=True, help='Print JSON (pk, frames pk, n_frames).')
def label(
    structures: Path,
    engine: str,
    protocol: str,
    born_charges: bool,
    born_charges_frames: str | None,
    code_label: str | None,
    potential_family: str,
    max_wallclock: int,
    profile: str | None,
    as_json: bool,
) -> None:
    """Label every structure of STRUCTURES (extxyz or any ase-readable file) with DFT through the daemon.

    Submits flexo.label (energy, forces, stress and the Berry-phase dipole of each frame, Born charges where asked)
    and prints its pk; `aiida-flexo frames export <labelled pk> FILE.xyz` writes the result for the GNN/MLIP CLIs.
    """
    load_cli_profile(profile)
    waiting = require_daemon()
    from aiida import orm
    from aiida.common.exceptions import MultipleObjectsError, NotExistent
    from aiida.engine import submit
    from ase.io import read

    from aiida_flexo.calcjobs.base import serial_options
    from aiida_flexo.data import FramesError
    from aiida_flexo.nodes.frames import FramesData
    from aiida_flexo.workflows.label import LabelWorkChain

    if engine == 'vasp' and code_label is None:
        fail('--engine vasp needs --code LABEL (the VASP code, e.g. vasp-6.4@my-cluster)')
    try:
        atoms = read(structures, index=':')
        frames = FramesData.from_frames(atoms, source=structures.name)
    except FramesError as exc:
        fail(str(exc))
    except Exception as exc:  # noqa: BLE001 - ase raises many types
        fail(f'{structures}: could not be read by ase ({type(exc).__name__}: {exc})')
    try:
        code = orm.load_code(code_label or 'aiida-flexo@localhost')
    except (NotExistent, MultipleObjectsError) as exc:
        fail(
            f'code {code_label or "aiida-flexo@localhost"} not found ({exc}); run `aiida-flexo setup` or pass --code'
        )
    subset = None
    if born_charges_frames:
        subset = [int(i) for i in born_charges_frames.split(',')]
        bad = [i for i in subset if not 0 <= i < frames.n_frames]
        if bad:
            fail(f'--born-charges-frames {bad} out of range: the file has {frames.n_frames} frames')
    overrides = {'engine_inputs': {'born_charges': {'enabled': True}}} if born_charges or subset else {}
    frames.label = structures.name
    frames.store()
    builder = LabelWorkChain.get_builder_from_protocol(
        code,
        frames,
        engine=engine,
        protocol=protocol,
        overrides=overrides,
        options=serial_options(max_wallclock),
        born_charges_frames=subset,
        potential_family=potential_family,
    )
    builder.metadata.label = f'label {structures.name} ({engine}, {protocol})'
    node = submit(builder)
    if waiting:
        click.echo(f'Warning: {waiting}', err=True)
    data = {
        'pk': node.pk,
        'frames_pk': frames.pk,
        'n_frames': frames.n_frames,
        'engine': engine,
        'protocol': protocol,
    }
    if as_json:
        echo_json(data)
        return
    click.echo(
        f'Submitted flexo.label <{node.pk}> for {frames.n_frames} frames ({engine}, {protocol} protocol)'
    )
    click.echo(f'  follow it: verdi process status {node.pk}   |   result: verdi process show {node.pk}')
    click.echo('  export:    aiida-flexo frames export <pk of the "labelled" output> labelled.xyz')
