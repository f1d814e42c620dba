"""``aiida-flexo frames``: store labelled frame sets as ``flexo.frames`` nodes and export them."""

from __future__ import annotations

from pathlib import Path

import click

from aiida_flexo.atomic import atomic_path
from aiida_flexo.cli import echo_json, fail
from aiida_flexo.cli.outputs import overwrite_option, refuse_existing


def load_cli_profile(profile: str | None) -> None:
    """Load ``profile`` (or the default one) with a clear error when there is none."""
    from aiida import load_profile
    from aiida.common.exceptions import (
        ConfigurationError,
        MissingConfigurationError,
        ProfileConfigurationError,
    )

    try:
        load_profile(profile, allow_switch=True)
    except (ConfigurationError, MissingConfigurationError, ProfileConfigurationError) as exc:
        fail(f'no usable AiiDA profile ({exc}): run `aiida-flexo setup` first, or pass --profile NAME')


profile_option = click.option(
    '-p', '--profile', default=None, help='AiiDA profile [default: the default profile].'
)


def require_daemon(what: str = 'the labelling') -> str | None:
    """Stop before anything is stored when the loaded profile cannot run what is submitted; return a warning to
    print after submitting when it will run later.

    No broker: nothing can run it. The ZeroMQ broker (embedded profile) lives in the daemon: without the daemon the
    submission itself fails. RabbitMQ keeps the task until a daemon starts, as on a cluster: submitted, with a
    warning.
    """
    from aiida.manage import get_manager

    manager = get_manager()
    profile = manager.get_profile()
    name = profile.name
    if profile.process_control_backend is None:
        fail(
            f'profile {name} has no broker, so no daemon can run {what}: use a profile with one '
            '(`aiida-flexo setup --profile NAME` makes a ZeroMQ one, no server needed); nothing was submitted'
        )
    if manager.get_daemon_client().is_daemon_running:
        return None
    start = f'`verdi -p {name} daemon start`'
    if profile.process_control_backend == 'core.rabbitmq':
        return f'the daemon of profile {name} is not running: {what} waits in RabbitMQ until you run {start}'
    fail(
        f'the daemon of profile {name} is not running: {start}, then run this command again ({what} runs in '
        'the daemon); nothing was submitted'
    )
    return None


@click.group('frames')
def frames() -> None:
    """Labelled frame sets (extxyz <-> flexo.frames nodes)."""


@frames.command('import')
@click.argument('path', type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    '--require', multiple=True, help='Label every frame must carry (repeatable), e.g. --require dipole.'
)
@click.option('--label', 'node_label', default=None, help='Label of the node [default: the file name].')
@profile_option
@click.option('--json', 'as_json', is_flag=True, help='Print JSON (pk, uuid, n_frames, labels, frames_hash).')
def import_frames(
    path: Path, require: tuple[str, ...], node_label: str | None, profile: str | None, as_json: bool
):
    """Store the frames of an extxyz file as one flexo.frames node and print its pk."""
    from aiida_flexo.data import FramesError

    load_cli_profile(profile)
    from aiida_flexo.nodes.frames import FramesData

    try:
        node = FramesData.from_file(path, require=require)
    except FramesError as exc:
        fail(str(exc))
    node.label = node_label or path.name
    node.store()
    data = {
        'pk': node.pk,
        'uuid': node.uuid,
        'n_frames': node.n_frames,
        'labels': node.labels,
        'species': node.base.attributes.get('species'),
        'frames_hash': node.frames_hash,
    }
    if as_json:
        echo_json(data)
    else:
        click.echo(
            f'Stored {node.n_frames} frames ({", ".join(node.labels)}) as flexo.frames node pk={node.pk}'
        )


#: outputs of a process whose frames `frames export` writes, first found first (label, sampling, active, pipeline)
FRAMES_OUTPUTS = ('labelled', 'frames')


def frames_output(process):
    """The flexo.frames output of ``process`` that a user exporting it wants (``labelled``, else ``frames``)."""
    from aiida.orm import ProcessNode

    from aiida_flexo.nodes.frames import FramesData

    if not isinstance(process, ProcessNode):
        fail(
            f'node {process.pk} is a {type(process).__name__}, not a flexo.frames node nor a process that made '
            'one: pass the pk of a flexo.frames node or of the workflow (label, sampling, active) that made it'
        )
    outputs = process.outputs
    for name in FRAMES_OUTPUTS:
        if name in outputs and isinstance(outputs[name], FramesData):
            return outputs[name], name
    found = sorted(name for name in outputs if isinstance(outputs[name], FramesData))
    if found:
        return outputs[found[0]], found[0]
    state = process.process_state.value if process.process_state else 'unknown'
    fail(
        f'{process.process_label}<{process.pk}> has no flexo.frames output (state {state}, outputs '
        f'{sorted(outputs) or "none"}): wait until it has finished (`verdi process show {process.pk}`)'
    )


@frames.command('export')
@click.argument('pk', type=str)
@click.argument('path', type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    '--max-force',
    type=float,
    default=None,
    help='Leave out frames with a force component above this, eV/Å (e.g. perturbations that brought two '
    'atoms too close; they dominate a force loss). The node keeps every frame.',
)
@profile_option
@overwrite_option('output file')
def export_frames(
    pk: str, path: Path, profile: str | None, max_force: float | None = None, overwrite: bool = False
) -> None:
    """Write the frames of a flexo.frames node to an extxyz file (an existing one needs --overwrite).

    PK: the node (pk or uuid), or the workflow that made it (flexo.label, flexo.sampling, flexo.active, ...): its
    `labelled` (else `frames`) output is written.
    """
    refuse_existing(overwrite, path)
    load_cli_profile(profile)
    from aiida.common.exceptions import MultipleObjectsError, NotExistent
    from aiida.orm import load_node

    from aiida_flexo.nodes.frames import FramesData

    try:
        node = load_node(pk)
    except (NotExistent, MultipleObjectsError) as exc:
        fail(f'no single node with identifier {pk}: {exc}')
    source = ''
    if not isinstance(node, FramesData):
        process = node
        node, output = frames_output(process)
        source = f' (output `{output}` of {process.process_label}<{process.pk}>)'
    if max_force is None:
        with atomic_path(path) as temporary:
            node.write_extxyz(temporary)
        click.echo(f'Wrote {node.n_frames} frames{source} to {path}')
        return
    import numpy as np

    from aiida_flexo.data.frames import write_frames

    kept, dropped = [], []
    for index, atoms in enumerate(node.get_frames()):
        forces = atoms.arrays.get('forces')
        if forces is not None and np.abs(forces).max() > max_force:
            dropped.append(index)
        else:
            kept.append(atoms)
    with atomic_path(path) as temporary:
        write_frames(temporary, kept)
    click.echo(
        f'Wrote {len(kept)} of {node.n_frames} frames{source} to {path}; left out (force above {max_force} eV/Å): '
        f'{dropped or "none"}'
    )


@frames.command('from-vasp')
@click.argument('runs', nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option(
    '--out',
    'path',
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help='extxyz file to write.',
)
@click.option(
    '--require',
    multiple=True,
    type=click.Choice(['dipole', 'born_charges', 'stress']),
    help='Label every run must give (repeatable); a run without it is an error naming the INCAR tag.',
)
@overwrite_option('output file')
@click.option('--json', 'as_json', is_flag=True, help='Print JSON (path, n_frames, labels, species).')
def frames_from_vasp(
    runs: tuple[Path, ...], path: Path, require: tuple[str, ...], overwrite: bool, as_json: bool
) -> None:
    """Labelled frames from finished VASP runs you already have (no AiiDA, no VASP needed).

    RUNS: run folders (or their OUTCAR / OUTCAR.gz / vasprun.xml), one frame each, in the order given: energy
    (energy(sigma->0), eV), forces (eV/Å) and stress (eV/Å³, ase sign) of the last ionic step; the Berry-phase
    dipole (e·Å, physics sign for every VASP version, minimum image over e·R) of LCALCPOL runs; Born charges (e) of
    LEPSILON/LCALCEPS runs. Then `aiida-flexo frames import OUT` stores them, or `gnn train` / `mlip train` read OUT.
    """
    from aiida_flexo.data.frames import LABELS, check_frames, write_frames
    from aiida_flexo.data.vasp import read_vasp_frames
    from aiida_flexo.polarization.vasp import VaspOutputError

    refuse_existing(overwrite, path)
    if any(Path(run).resolve() == path.resolve() for run in runs):
        fail(f'{path} is one of the runs read: write the frames to another file')
    try:
        frames = read_vasp_frames(runs, require=require)
        check_frames(frames, source=', '.join(map(str, runs)))
    except (VaspOutputError, ValueError) as exc:
        fail(str(exc))
    with atomic_path(path) as temporary:
        write_frames(temporary, frames)
    labels = sorted({key for f in frames for key in (*f.info, *f.arrays) if key in LABELS})
    species = sorted({s for f in frames for s in f.get_chemical_symbols()})
    if as_json:
        echo_json({'path': str(path), 'n_frames': len(frames), 'labels': labels, 'species': species})
    else:
        click.echo(f'Wrote {len(frames)} frames ({", ".join(labels)}; {" ".join(species)}) to {path}')
