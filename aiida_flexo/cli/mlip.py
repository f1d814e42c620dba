"""``aiida-flexo mlip``: train, fine-tune, distil, evaluate and run interatomic potentials (files in, files out).

Models are any kind :func:`aiida_flexo.mlip.load_calculator` takes (Allegro, a fine-tuned SevenNet or CHGNet, a
committee) or a pretrained potential's name (zero-shot).

Every command reads files and writes files, so an AiiDA CalcJob can run it on any computer. Its options are the
settings of :mod:`aiida_flexo.mlip.settings` (one definition each, shared with the CalcJobs' parameters). Exit
statuses: 0 success (relax: converged), 1 an error with its message on stderr, 2 a bad command line, and the table
:data:`aiida_flexo.mlip.exit_codes.MLIP_EXIT` (3 relax not converged, files still written; 4 NaN or an exploding
MD; 5 species the model was not trained on), which the CalcJob parsers map to their exit codes.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from aiida_flexo.cli import echo_json, fail
from aiida_flexo.cli.outputs import refuse_existing
from aiida_flexo.mlip.exit_codes import MLIP_EXIT

#: a model argument: a file of any kind aiida_flexo.mlip.load_calculator takes, or a pretrained potential's name
MODEL_ARGUMENT = click.Path(dir_okay=False, path_type=str)


def load_potential(model: str | Path, device: str):
    """The calculator of MODEL (a file, or a pretrained name such as sevennet-0) through the one factory."""
    from aiida_flexo.mlip import ModelError, load_calculator

    try:
        return load_calculator(model, device=device)
    except ModelError as exc:
        fail(str(exc))


def _read_structure(path: Path):
    from aiida_flexo.mlip import read_structure
    from aiida_flexo.mlip.relax import check_structure

    try:
        atoms = read_structure(path, index=-1)
        check_structure(atoms, str(path))
    except (ValueError, FileNotFoundError) as exc:
        fail(str(exc))
    return atoms


def check_model_species(atoms, calculator) -> None:
    from aiida_flexo.mlip.calculator import MissingSpeciesError, check_species

    try:
        check_species(atoms, calculator.type_names, calculator.model_path)
    except MissingSpeciesError as exc:
        fail(str(exc), MLIP_EXIT.MISSING_SPECIES)


@click.group('mlip')
def mlip() -> None:
    """Interatomic potentials: train (Allegro or --from a pretrained one), distill, sample, eval, relax, md."""


def _table_options(table: str, prefix: str = '', exclude: tuple[str, ...] = ()):
    """The options of the settings table ``table`` of :mod:`aiida_flexo.mlip.settings` (one definition each),
    less the ``exclude`` names; ``prefix`` keeps their parameter names apart from another table's."""

    def decorate(command):
        from aiida_flexo.cli.settings import setting_options
        from aiida_flexo.mlip import settings

        chosen = [s for name, s in getattr(settings, table)().items() if name not in exclude]
        return setting_options(chosen, prefix)(command)

    return decorate


def _given(options: dict, table: str, prefix: str = '') -> dict:
    """Pop the given options of the settings table ``table`` from ``options`` (parsed; see :func:`_table_options`)."""
    from aiida_flexo.cli.settings import given_settings
    from aiida_flexo.mlip import settings

    table_settings = {name: s for name, s in getattr(settings, table)().items() if prefix + name in options}
    return given_settings(options, table_settings, prefix)


@mlip.command('train')
@click.argument('data', type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    '--out',
    'out_dir',
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help='Output directory (model.nequip.zip, metrics.json, learning_curve.csv, run/, split.json).',
)
@_table_options('training_settings_table')
@click.option('--resume', is_flag=True, help='Continue from OUT/run/last.ckpt (same data and options).')
@click.option(
    '--compile',
    'do_compile',
    is_flag=True,
    help='Also build an AOTInductor model (model.nequip.pt2); slow to build, eager is the default.',
)
@click.option('--json', 'as_json', is_flag=True, help='Print metrics.json.')
def train_cmd(data: Path, out_dir: Path, resume: bool, do_compile: bool, as_json: bool, **options) -> None:
    """Train a potential on labelled frames DATA (extxyz with energy, forces, stress).

    Splits DATA (train/validation/test) and trains Allegro from scratch (nequip-train; OUT/model.nequip.zip) or,
    with --from NAME, fine-tunes a pretrained universal potential (OUT/model.sevenn.pth or model.chgnet.pt) after
    fitting per-element reference energies; with --committee K, K of them (OUT/model.committee.zip). Writes
    OUT/metrics.json (force MAE meV/Å, energy MAE meV/atom, stress MAE GPa on the validation and test frames) and
    OUT/learning_curve.csv.
    """
    from aiida_flexo.data import FramesError, read_frames
    from aiida_flexo.device import DeviceError, check_device
    from aiida_flexo.mlip import MissingSpeciesError, ModelError, TrainingError
    from aiida_flexo.mlip.route import train_potential
    from aiida_flexo.mlip.settings import training_settings

    given = _given(options, 'training_settings_table')
    device = given.get('device', 'cpu')
    try:
        check_device(device)
    except DeviceError as exc:
        fail(str(exc))
    try:
        settings = training_settings(given)
        frames = read_frames(data)
        result = train_potential(
            frames, out_dir, settings, resume=resume, compile=do_compile, source=str(data), device=device
        )
    except MissingSpeciesError as exc:
        fail(str(exc), MLIP_EXIT.MISSING_SPECIES)
    except (FramesError, ValueError, TrainingError, ModelError) as exc:
        fail(str(exc))
    if as_json:
        echo_json(result.metrics)
        return
    test = result.metrics['test'] or result.metrics['val']
    click.echo(f'model: {result.model_path}')
    click.echo(
        f'test: force MAE {test["force_mae_meV_A"]:.2f} meV/Å, energy MAE {test["energy_mae_meV_atom"]:.3f} '
        f'meV/atom, stress MAE {_fmt(test["stress_mae_GPa"])} GPa ({test["n_frames"]} frames); '
        f'{result.metrics["epochs"]} epochs in {result.metrics["train_time_s"]:.0f} s'
    )


def _fmt(value: float | None) -> str:
    return 'n/a' if value is None else f'{value:.4f}'


@mlip.command('eval')
@click.argument('model', type=MODEL_ARGUMENT)
@click.argument('data', type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    '--json',
    'as_json',
    is_flag=True,
    help='Print JSON (force_mae_meV_A, energy_mae_meV_atom, stress_mae_GPa, n_frames, ...).',
)
@click.option('--device', default='cpu', show_default=True, help='torch device.')
def eval_cmd(model: str, data: Path, as_json: bool, device: str) -> None:
    """Errors of MODEL on the labelled frames DATA (force meV/Å, energy meV/atom, stress GPa).

    MODEL is a model file or a pretrained potential (zero-shot; its energies are on its own scale, so compare
    forces and stress, or fine-tune). A committee also reports each frame's force deviation across its members
    (``committee`` in the JSON: per-frame largest and mean σ_F over the atoms, meV/Å).
    """
    from aiida_flexo.data import FramesError, read_frames
    from aiida_flexo.mlip import error_metrics
    from aiida_flexo.mlip.calculator import MissingSpeciesError, check_species

    try:
        frames = read_frames(data)
    except FramesError as exc:
        fail(str(exc))
    calculator = load_potential(model, device)
    try:
        for atoms in frames:
            check_species(atoms, calculator.type_names, model)
        result = error_metrics(calculator, frames, source=str(data))
    except MissingSpeciesError as exc:
        fail(str(exc), MLIP_EXIT.MISSING_SPECIES)
    except FramesError as exc:
        fail(str(exc))
    result['model_kind'] = calculator.model_kind
    uncertainty = _committee_uncertainty(calculator, frames)
    if uncertainty:
        result['committee'] = uncertainty
    if as_json:
        echo_json(result)
        return
    click.echo(
        f'{result["n_frames"]} frames: force MAE {result["force_mae_meV_A"]:.2f} meV/Å, energy MAE '
        f'{result["energy_mae_meV_atom"]:.3f} meV/atom, stress MAE {_fmt(result["stress_mae_GPa"])} GPa'
    )
    if uncertainty:
        click.echo(
            f'committee of {uncertainty["size"]}: force deviation per frame (largest over atoms) mean '
            f'{uncertainty["force_std_max_meV_A"]["mean"]:.1f}, max {uncertainty["force_std_max_meV_A"]["max"]:.1f} '
            'meV/Å'
        )


def _committee_uncertainty(calculator, frames) -> dict | None:
    """Per-frame committee force deviation (meV/Å) of ``frames``, or None for a single model."""
    from aiida_flexo.mlip.committee import frame_uncertainty, is_committee

    if not is_committee(calculator):
        return None
    per_frame = []
    for atoms in frames:
        probe = atoms.copy()
        probe.calc = calculator
        probe.get_forces()
        per_frame.append(frame_uncertainty(calculator))
    largest = [f['force_std_max_meV_A'] for f in per_frame]
    return {
        'size': len(calculator.members),
        'force_std_max_meV_A': {'mean': float(sum(largest) / len(largest)), 'max': float(max(largest))},
        'per_frame': per_frame,
    }


def _write_structure(atoms, path: Path) -> None:
    """Write ``atoms``; ``.xyz``/``.extxyz`` as full-precision extxyz with energy, forces and stress labels."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix in ('.xyz', '.extxyz'):
        from aiida_flexo.data import normalize_frame, write_frames

        frame = atoms.copy()
        frame.set_constraint()
        frame.calc = atoms.calc
        write_frames(path, [normalize_frame(frame)])
        return
    from ase.io import write

    write(path, atoms)


@mlip.command('relax')
@click.argument('model', type=MODEL_ARGUMENT)
@click.argument('structure', type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    '--out',
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help='Relaxed structure (format from the suffix; .xyz: extxyz with energy, forces, stress).',
)
@click.option(
    '--fix', default=None, help='Atoms held fixed: species ("Ba" or "Ba,O") or 0-based indices ("0,3,5").'
)
@_table_options('relax_settings_table')
@click.option(
    '--trajectory',
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help='ase .traj written step by step (restart a killed run with --restart-from).',
)
@click.option(
    '--restart-from',
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help='Start from the last frame of this trajectory instead of STRUCTURE (a killed or unconverged run).',
)
@click.option(
    '--summary',
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help='JSON summary (default: OUT with suffix .json).',
)
@click.option(
    '--log', type=click.Path(dir_okay=False, path_type=Path), default=None, help='Optimizer log file.'
)
@click.option(
    '--overwrite', is_flag=True, help='Replace existing output files (structure, trajectory, summary).'
)
@click.option('--json', 'as_json', is_flag=True, help='Print the summary JSON.')
def relax_cmd(
    model: str,
    structure: Path,
    out: Path,
    fix: str | None,
    trajectory: Path | None,
    restart_from: Path | None,
    summary: Path | None,
    log: Path | None,
    overwrite: bool,
    as_json: bool,
    **options,
) -> None:
    """Relax STRUCTURE with MODEL, holding --fix atoms exactly in place.

    Writes OUT and a JSON summary (energy_eV, max_force_eV_A over free atoms, converged, n_steps, ...). Exit
    status 3 when not converged within --max-steps (the files are still written), 4 on NaN, 5 for species the
    model does not know.
    """
    from aiida_flexo.mlip import RelaxationError, relax
    from aiida_flexo.mlip.settings import relax_settings

    given = _given(options, 'relax_settings_table')
    device = given.get('device', 'cpu')
    settings = relax_settings(given)
    if trajectory is not None and restart_from is not None and trajectory.resolve() == restart_from.resolve():
        fail('--trajectory must differ from --restart-from (the restart file would be overwritten)')
    refuse_existing(overwrite, out, trajectory, summary or out.with_suffix('.json'))
    atoms = _read_structure(restart_from if restart_from is not None else structure)
    calculator = load_potential(model, device)
    check_model_species(atoms, calculator)
    try:
        result = relax(
            atoms,
            calculator,
            fix=fix,
            fmax=settings.fmax,
            max_steps=settings.max_steps,
            optimizer=settings.optimizer,
            relax_cell=settings.relax_cell,
            trajectory=trajectory,
            log=log,
            stall_steps=settings.stall_steps or None,
        )
    except RelaxationError as exc:
        fail(str(exc), MLIP_EXIT.UNSTABLE)
    except ValueError as exc:
        fail(str(exc))
    _write_structure(result.atoms, out)
    data = result.summary()
    data.update(
        {
            'model': str(model),
            'structure': str(structure),
            'restart_from': _str(restart_from),
            'trajectory': _str(trajectory),
            'fmax': settings.fmax,
            'optimizer': settings.optimizer,
            'relax_cell': settings.relax_cell,
            'exit_status': 0 if result.converged else int(MLIP_EXIT.NOT_CONVERGED),
        }
    )
    summary = summary or out.with_suffix('.json')
    summary.write_text(json.dumps(data, indent=2))
    if as_json:
        echo_json(data)
    else:
        state = 'converged' if result.converged else 'NOT converged'
        click.echo(
            f'{state} in {result.n_steps} steps: E = {result.energy:.6f} eV, max |F| (free atoms) = '
            f'{result.max_force:.4g} eV/Å; wrote {out} and {summary}'
        )
    if result.stalled:
        fail(
            f'not converged: {result.stalled}; continue with --restart-from {trajectory or out}',
            MLIP_EXIT.NOT_CONVERGED,
        )
    if not result.converged:
        fail(
            f'not converged within {settings.max_steps} steps (max |F| {result.max_force:.4g} eV/Å > '
            f'{settings.fmax}); continue '
            f'with --restart-from {trajectory or out}',
            MLIP_EXIT.NOT_CONVERGED,
        )


def _str(value) -> str | None:
    return None if value is None else str(value)


@mlip.command('md')
@click.argument('model', type=MODEL_ARGUMENT)
@click.argument('structure', type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    '--schedule',
    required=True,
    help='Temperature stages TEMPERATURE_K:N_STEPS, comma-separated (e.g. "1000:200,300:200").',
)
@_table_options('md_settings_table')
@click.option(
    '--out',
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help='Trajectory (ase .traj) written every --stride steps as the run goes.',
)
@click.option(
    '--restart-from',
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help='Continue from the last frame of this trajectory (written by this command, same schedule); '
    'frames are appended when it is the --out file.',
)
@click.option('--fix', default=None, help='Atoms held fixed: species or 0-based indices.')
@click.option(
    '--final',
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help='Also write the final structure here (e.g. final.xyz).',
)
@click.option(
    '--summary',
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help='JSON summary (default: OUT with suffix .json).',
)
@click.option('--log', type=click.Path(dir_okay=False, path_type=Path), default=None, help='ase MD log file.')
@click.option('--overwrite', is_flag=True, help='Replace existing output files (trajectory, final, summary).')
@click.option('--json', 'as_json', is_flag=True, help='Print the summary JSON.')
def md_cmd(
    model: str,
    structure: Path,
    schedule: str,
    out: Path,
    restart_from: Path | None,
    fix: str | None,
    final: Path | None,
    summary: Path | None,
    log: Path | None,
    overwrite: bool,
    as_json: bool,
    **options,
) -> None:
    """Molecular dynamics of STRUCTURE with MODEL through a temperature --schedule (e.g. an anneal).

    Exit status 4 when the run explodes (NaN, or temperature far above the schedule), 5 for unknown species.
    """
    import dataclasses

    from aiida_flexo.mlip import MDExplosionError, parse_schedule, run_md
    from aiida_flexo.mlip.md import last_md_step
    from aiida_flexo.mlip.settings import md_settings

    given = _given(options, 'md_settings_table')
    device = given.get('device', 'cpu')
    try:
        settings = md_settings(given)
    except ValueError as exc:
        fail(str(exc))

    try:
        stages = parse_schedule(schedule)
    except ValueError as exc:
        fail(str(exc))
    # a continuation appends to its own trajectory (--restart-from X --out X): that file and its summary go on
    continuing = restart_from is not None and out.resolve() == restart_from.resolve()
    refuse_existing(
        overwrite,
        out,
        final,
        None if continuing else (summary or out.with_suffix('.json')),
        keep=restart_from,
    )
    start_step = 0
    append = False
    if restart_from is not None:
        atoms = _read_structure(restart_from)
        try:
            start_step = last_md_step(atoms)
        except ValueError as exc:
            fail(f'{restart_from}: {exc}')
        append = out.resolve() == restart_from.resolve()
    else:
        atoms = _read_structure(structure)
    calculator = load_potential(model, device)
    check_model_species(atoms, calculator)
    try:
        result = run_md(
            atoms,
            calculator,
            stages,
            **dataclasses.asdict(settings),  # MDSettings' fields are run_md's keyword arguments
            trajectory=out,
            fix=fix,
            start_step=start_step,
            append=append,
            log=log,
        )
    except MDExplosionError as exc:
        fail(f'{exc}; the trajectory up to the last good frame is in {out}', MLIP_EXIT.UNSTABLE)
    except ValueError as exc:
        fail(str(exc))
    if final is not None:
        _write_structure(result.atoms, final)
    data = result.summary()
    data.update(
        {
            'model': str(model),
            'structure': str(structure),
            'restart_from': _str(restart_from),
            'start_step': start_step,
            'schedule': [[s.temperature_K, s.n_steps] for s in stages],
            'timestep_fs': settings.timestep_fs,
            'thermostat': settings.thermostat,
            'stride': settings.stride,
        }
    )
    summary = summary or out.with_suffix('.json')
    summary.write_text(json.dumps(data, indent=2))
    if as_json:
        echo_json(data)
    else:
        means = ', '.join('-' if t is None else f'{t:.0f}' for t in result.stage_mean_temperatures_K)
        click.echo(
            f'{result.n_steps} steps, {result.n_frames} frames written to {out}; mean T per stage: {means} K'
        )


#: training settings a distilled student does not take: it is an Allegro model trained on the teacher's device
STUDENT_EXCLUDED = ('device', 'from_potential', 'loss', 'huber_delta')


def _sampling_options(function):
    """--structures and the settings of the teacher's frames (mlip sample and mlip distill), handed to ``function``
    as ``sampling`` (a :class:`~aiida_flexo.mlip.distill.SamplingSettings`) and ``device`` (the teacher's)."""
    import functools

    @functools.wraps(function)
    def wrapper(**kwargs):
        from aiida_flexo.mlip.settings import sampling_settings

        given = _given(kwargs, 'sampling_settings_table', 'sampling_')
        device = given.get('device', 'cpu')
        try:
            sampling = sampling_settings(given)
        except ValueError as exc:
            fail(f'bad sampling option: {exc}')
        return function(sampling=sampling, device=device, **kwargs)

    wrapper = _table_options('sampling_settings_table', 'sampling_')(wrapper)
    return click.option(
        '--structures',
        'structures_file',
        required=True,
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        help='Periodic starting structures (any file ase reads; every frame of an extxyz).',
    )(wrapper)


def _read_structures(path: Path):
    from ase.io import read

    try:
        structures = read(path, index=':')
    except Exception as exc:  # noqa: BLE001 - ase raises many kinds
        fail(f'{path}: could not be read as structures ({type(exc).__name__}: {exc})')
    if not structures:
        fail(f'{path}: holds no structure')
    return structures


def _teacher_sample(teacher: str, structures_file: Path, settings, device: str):
    """(teacher calculator, sample) with a progress bar on stderr."""
    from aiida_flexo.mlip.distill import teacher_frames

    calculator = load_potential(teacher, device)
    structures = _read_structures(structures_file)
    for atoms in structures:
        check_model_species(atoms, calculator)
    from tqdm import tqdm

    bar = tqdm(total=settings.n_frames, desc='teacher frames', unit='frame', file=sys.stderr)

    def progress(done: int, total: int) -> None:
        bar.total = total
        bar.n = done
        bar.refresh()

    try:
        sample = teacher_frames(
            structures, calculator, settings, teacher_name=str(teacher), progress=progress
        )
    except ValueError as exc:
        fail(str(exc))
    except Exception as exc:  # MD explosions and NaN from the teacher
        from aiida_flexo.mlip import MDExplosionError

        if isinstance(exc, MDExplosionError):
            fail(f'the teacher MD exploded: {exc}', MLIP_EXIT.UNSTABLE)
        raise
    finally:
        bar.close()
    return calculator, sample


@mlip.command('sample')
@click.argument('teacher', type=MODEL_ARGUMENT)
@_sampling_options
@click.option(
    '--out',
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help='Labelled frames (extxyz: energy, forces, stress from the teacher).',
)
@click.option('--overwrite', is_flag=True, help='Replace --out if it exists.')
@click.option('--json', 'as_json', is_flag=True, help='Print the summary JSON.')
def sample_cmd(
    teacher: str,
    structures_file: Path,
    sampling,
    out: Path,
    overwrite: bool,
    device: str,
    as_json: bool,
) -> None:
    """Frames for a student potential: MD and random strains/displacements of --structures, labelled by TEACHER.

    TEACHER is a model file (e.g. a fine-tuned model.sevenn.pth) or a pretrained potential name.
    """
    from aiida_flexo.mlip.distill import write_teacher_frames

    if out.exists() and not overwrite:
        fail(f'{out} exists; choose another --out or pass --overwrite')
    _, sample = _teacher_sample(teacher, structures_file, sampling, device)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_teacher_frames(sample, out)
    summary = {**sample.summary(), 'frames_file': str(out)}
    if as_json:
        echo_json(summary)
        return
    click.echo(
        f'{summary["n_frames"]} frames ({summary["n_md_frames"]} MD, {summary["n_perturbed_frames"]} perturbed) '
        f'labelled by {teacher} in {summary["wall_time_s"]:.0f} s -> {out}'
    )
    for note in sample.notes:
        click.echo(f'note: {note}')


@mlip.command('distill')
@click.argument('teacher', type=MODEL_ARGUMENT)
@_sampling_options
@click.option(
    '--out',
    'out_dir',
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help='Output directory: the student (model.nequip.zip, metrics.json, learning_curve.csv), '
    'teacher_frames.xyz and distill.json.',
)
@click.option(
    '--dft',
    'dft_file',
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help='Held-out DFT frames (not used to train the teacher): student vs DFT next to teacher vs DFT.',
)
@_table_options('training_settings_table', 'student_', exclude=STUDENT_EXCLUDED)
@click.option(
    '--resume', is_flag=True, help='Reuse OUT/teacher_frames.xyz and continue the student training.'
)
@click.option(
    '--speed-steps',
    type=int,
    default=5,
    show_default=True,
    help='MD steps timed with student and teacher on the first structure (atoms/s, speed ratio); 0 skips it.',
)
@click.option('--json', 'as_json', is_flag=True, help='Print distill.json.')
def distill_cmd(
    teacher: str,
    structures_file: Path,
    sampling,
    device: str,
    out_dir: Path,
    dft_file: Path | None,
    resume: bool,
    speed_steps: int,
    as_json: bool,
    **options,
) -> None:
    """Distil TEACHER into a fast Allegro student: teacher-labelled MD and perturbed frames, then training.

    Reports student vs teacher on held-out teacher frames and, with --dft, student and teacher vs DFT.
    """
    from aiida_flexo.data import FramesError, read_frames
    from aiida_flexo.mlip import TrainingError
    from aiida_flexo.mlip.distill import (
        REPORT_FILE,
        TEACHER_FRAMES_FILE,
        distillation_report,
        save_report,
        write_teacher_frames,
    )
    from aiida_flexo.mlip.route import train_potential
    from aiida_flexo.mlip.settings import training_settings

    frames_path = out_dir / TEACHER_FRAMES_FILE
    if (out_dir / REPORT_FILE).exists() or (frames_path.exists() and not resume):
        fail(f'{out_dir} already holds a distillation; choose a new --out (or --resume an unfinished one)')
    try:
        student_settings = training_settings(_given(options, 'training_settings_table', 'student_'))
        dft_frames = read_frames(dft_file) if dft_file else None
    except (ValueError, FramesError) as exc:
        fail(str(exc))
    if resume and frames_path.exists():
        teacher_calc = load_potential(teacher, device)
        sample = json.loads((out_dir / 'teacher_sample.json').read_text())
        frames = read_frames(frames_path)
    else:
        teacher_calc, sample_obj = _teacher_sample(teacher, structures_file, sampling, device)
        out_dir.mkdir(parents=True, exist_ok=True)
        write_teacher_frames(sample_obj, frames_path)
        sample = sample_obj.summary()
        (out_dir / 'teacher_sample.json').write_text(json.dumps(sample, indent=2))
        frames = sample_obj.frames
    try:
        result = train_potential(frames, out_dir, student_settings, resume=resume, source=str(frames_path))
        student = load_potential(result.model_path, 'cpu')
        if dft_frames:
            for atoms in dft_frames:
                check_model_species(atoms, student)
        report = distillation_report(student, teacher_calc, dft_frames, result.metrics, sample)
    except (FramesError, ValueError, TrainingError) as exc:
        fail(str(exc))
    report.update({'teacher': str(teacher), 'student': str(result.model_path), 'dft_frames': _str(dft_file)})
    if speed_steps:
        from aiida_flexo.mlip.distill import md_speed

        structure = _read_structures(structures_file)[0]
        report['speed'] = {
            'student': md_speed(student, structure, steps=speed_steps),
            'teacher': md_speed(teacher_calc, structure, steps=speed_steps),
        }
        report['speed']['ratio'] = (
            report['speed']['student']['atoms_per_second'] / report['speed']['teacher']['atoms_per_second']
        )
    save_report(report, out_dir / REPORT_FILE)
    if as_json:
        echo_json(report)
        return
    st = report['student_vs_teacher']
    click.echo(
        f'student {result.model_path}: vs teacher (held-out teacher frames) force MAE {st["force_mae_meV_A"]:.1f} '
        f'meV/Å, energy MAE {st["energy_mae_meV_atom"]:.3f} meV/atom'
    )
    if dft_frames:
        click.echo(
            f'on {len(dft_frames)} DFT frames: student force MAE {report["student_vs_dft"]["force_mae_meV_A"]:.1f}, '
            f'teacher {report["teacher_vs_dft"]["force_mae_meV_A"]:.1f} meV/Å'
        )
    if 'speed' in report:
        speed = report['speed']
        click.echo(
            f'MD on {speed["student"]["n_atoms"]} atoms: student {speed["student"]["atoms_per_second"]:.0f}, teacher '
            f'{speed["teacher"]["atoms_per_second"]:.0f} atoms/s ({speed["ratio"]:.1f}x)'
        )
