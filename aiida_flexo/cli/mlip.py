"""``aiida-flexo mlip``: train, fine-tune, distil, evaluate and run interatomic potentials (files in, files out).

Models are any kind :func:`aiida_flexo.mlip.load_calculator` takes (Allegro, a fine-tuned SevenNet or CHGNet, a
committee) or a pretrained potential's name (zero-shot).

Every command reads files and writes files, so an AiiDA CalcJob can run it on any computer. Exit statuses
(the CalcJob parsers map them to their exit codes):

====  =====================================================================================================
0     success (relax: converged)
1     error, with a message on stderr (bad input file, bad option value, training failed)
2     usage error (unknown option, missing argument; click's convention)
3     relax: not converged within --max-steps; the structure, summary and trajectory are still written
4     relax/md: NaN energies or forces, or an exploding MD run (temperature far above target)
5     the structure contains species the model was not trained on (the message names them)
====  =====================================================================================================
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from aiida_flexo.cli import echo_json, fail
from aiida_flexo.cli.outputs import refuse_existing
from aiida_flexo.units import parse_duration

#: a model argument: a file of any kind aiida_flexo.mlip.load_calculator takes, or a pretrained potential's name
MODEL_ARGUMENT = click.Path(dir_okay=False, path_type=str)

EXIT_NOT_CONVERGED = 3
EXIT_UNSTABLE = 4
EXIT_MISSING_SPECIES = 5


def _load(model: str | Path, device: str):
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


def _check_species(atoms, calculator) -> None:
    from aiida_flexo.mlip.calculator import MissingSpeciesError, check_species

    try:
        check_species(atoms, calculator.type_names, calculator.model_path)
    except MissingSpeciesError as exc:
        fail(str(exc), EXIT_MISSING_SPECIES)


@click.group('mlip')
def mlip() -> None:
    """Interatomic potentials: train (Allegro or --from a pretrained one), distill, sample, eval, relax, md."""


@mlip.command('train')
@click.argument('data', type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    '--from',
    'from_potential',
    default=None,
    metavar='NAME',
    help='Fine-tune this pretrained universal potential instead of training Allegro from scratch: '
    'sevennet-0 (best measured on BaTiO3), sevennet-l3i5, sevennet-mf-0, chgnet-0.3.0 (weights from the '
    'installed sevenn/chgnet packages, never downloaded).',
)
@click.option(
    '--committee',
    type=int,
    default=None,
    metavar='K',
    help='Train K >= 2 models (seeds and train/validation splits differ, one shared test set) -> '
    'model.committee.zip, whose spread is the force uncertainty of mlip eval/relax/md.',
)
@click.option(
    '--out',
    'out_dir',
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help='Output directory (model.nequip.zip, metrics.json, learning_curve.csv, run/, split.json).',
)
@click.option('--epochs', type=int, default=200, show_default=True, help='Maximum number of epochs.')
@click.option('--cutoff', type=float, default=5.0, show_default=True, help='Neighbour cutoff r_max, Å.')
@click.option('--seed', type=int, default=0, show_default=True, help='Seed of the split and the model.')
@click.option(
    '--val-fraction', type=float, default=0.1, show_default=True, help='Fraction of validation frames.'
)
@click.option('--test-fraction', type=float, default=0.1, show_default=True, help='Fraction of test frames.')
@click.option(
    '--energy-weight',
    type=float,
    default=10.0,
    show_default=True,
    help='Loss weight of the per-atom energy MSE, (eV/atom)².',
)
@click.option(
    '--force-weight',
    type=float,
    default=1.0,
    show_default=True,
    help='Loss weight of the force MSE, (eV/Å)².',
)
@click.option(
    '--stress-weight',
    type=float,
    default=100.0,
    show_default=True,
    help='Loss weight of the stress MSE, (eV/Å³)²; 0 trains without stress.',
)
@click.option(
    '--model-size',
    type=click.Choice(['tiny', 'small', 'medium']),
    default='small',
    show_default=True,
    help='Allegro size (tiny: tests; small: CPUs; medium: l_max 2, for GPUs).',
)
@click.option(
    '--dtype',
    'model_dtype',
    type=click.Choice(['float32', 'float64']),
    default='float32',
    show_default=True,
    help='Model precision.',
)
@click.option(
    '--max-time',
    type=str,
    default=None,
    help='Wall-time limit of the training (e.g. 3600, 45m, 2h, 00:30:00); the best model so far is kept.',
)
@click.option(
    '--patience',
    type=int,
    default=40,
    show_default=True,
    help='Early stopping: epochs without improvement of the validation errors.',
)
@click.option(
    '--lr',
    'learning_rate',
    type=float,
    default=None,
    help='Adam learning rate [default: 1e-3 for Allegro, 3e-4 for fine-tuning].',
)
@click.option('--batch-size', type=int, default=1, show_default=True, help='Frames per training batch.')
@click.option(
    '--loss',
    type=click.Choice(['mse', 'huber']),
    default=None,
    help="Fine-tuning loss [default: the route's]: mse, or huber (threshold 0.01 in eV/atom, eV/Å, eV/Å³).",
)
@click.option('--resume', is_flag=True, help='Continue from OUT/run/last.ckpt (same data and options).')
@click.option('--device', default='cpu', show_default=True, help='torch device of fine-tuning (cpu, cuda).')
@click.option(
    '--compile',
    'do_compile',
    is_flag=True,
    help='Also build an AOTInductor model (model.nequip.pt2); slow to build, eager is the default.',
)
@click.option('--json', 'as_json', is_flag=True, help='Print metrics.json.')
def train_cmd(
    data: Path,
    from_potential: str | None,
    committee: int | None,
    out_dir: Path,
    epochs: int,
    cutoff: float,
    seed: int,
    val_fraction: float,
    test_fraction: float,
    energy_weight: float,
    force_weight: float,
    stress_weight: float,
    model_size: str,
    model_dtype: str,
    max_time: str | None,
    patience: int,
    learning_rate: float | None,
    batch_size: int,
    loss: str | None,
    resume: bool,
    device: str,
    do_compile: bool,
    as_json: bool,
) -> None:
    """Train a potential on labelled frames DATA (extxyz with energy, forces, stress).

    Splits DATA (train/validation/test) and trains Allegro from scratch (nequip-train; OUT/model.nequip.zip) or,
    with --from NAME, fine-tunes a pretrained universal potential (OUT/model.sevenn.pth or model.chgnet.pt) after
    fitting per-element reference energies; with --committee K, K of them (OUT/model.committee.zip). Writes
    OUT/metrics.json (force MAE meV/Å, energy MAE meV/atom, stress MAE GPa on the validation and test frames) and
    OUT/learning_curve.csv.
    """
    from aiida_flexo.data import FramesError, read_frames
    from aiida_flexo.device import DeviceError, check_device
    from aiida_flexo.mlip import MissingSpeciesError, ModelError, TrainingError, TrainingSettings
    from aiida_flexo.mlip.route import train_potential

    try:
        check_device(device)
    except DeviceError as exc:
        fail(str(exc))
    if committee is not None and committee < 2:
        fail(
            f'--committee {committee}: a committee needs at least 2 models to estimate an uncertainty; omit '
            '--committee to train one model'
        )
    try:
        seconds = parse_duration(max_time)
        fractions = (1.0 - val_fraction - test_fraction, val_fraction, test_fraction)
        settings = TrainingSettings(
            cutoff=cutoff,
            seed=seed,
            fractions=fractions,
            energy_weight=energy_weight,
            force_weight=force_weight,
            stress_weight=stress_weight,
            model_size=model_size,
            model_dtype=model_dtype,
            max_epochs=epochs,
            max_time=seconds,
            patience=patience,
            learning_rate=learning_rate,
            batch_size=batch_size,
            from_potential=from_potential,
            committee=committee or 1,
            loss=loss,
        )
        frames = read_frames(data)
        result = train_potential(
            frames, out_dir, settings, resume=resume, compile=do_compile, source=str(data), device=device
        )
    except MissingSpeciesError as exc:
        fail(str(exc), EXIT_MISSING_SPECIES)
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
    calculator = _load(model, device)
    try:
        for atoms in frames:
            check_species(atoms, calculator.type_names, model)
        result = error_metrics(calculator, frames, source=str(data))
    except MissingSpeciesError as exc:
        fail(str(exc), EXIT_MISSING_SPECIES)
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
@click.option('--fmax', type=float, default=0.01, show_default=True, help='Force tolerance, eV/Å.')
@click.option('--max-steps', type=int, default=500, show_default=True, help='Maximum optimizer steps.')
@click.option(
    '--optimizer',
    type=click.Choice(['FIRE', 'BFGS', 'LBFGS'], case_sensitive=False),
    default='FIRE',
    show_default=True,
)
@click.option('--relax-cell', is_flag=True, help='Also relax the cell (FrechetCellFilter, zero stress).')
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
@click.option('--device', default='cpu', show_default=True, help='torch device.')
@click.option(
    '--stall-steps',
    type=click.IntRange(min=0),
    default=200,
    show_default=True,
    help='Watchdog: stop (exit status 3) when the largest force has not fallen by 1 % for this many steps; 0: off.',
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
    fmax: float,
    max_steps: int,
    optimizer: str,
    relax_cell: bool,
    trajectory: Path | None,
    restart_from: Path | None,
    summary: Path | None,
    log: Path | None,
    device: str,
    stall_steps: int,
    overwrite: bool,
    as_json: bool,
) -> None:
    """Relax STRUCTURE with MODEL, holding --fix atoms exactly in place.

    Writes OUT and a JSON summary (energy_eV, max_force_eV_A over free atoms, converged, n_steps, ...). Exit
    status 3 when not converged within --max-steps (the files are still written), 4 on NaN, 5 for species the
    model does not know.
    """
    from aiida_flexo.mlip import RelaxationError, relax

    if trajectory is not None and restart_from is not None and trajectory.resolve() == restart_from.resolve():
        fail('--trajectory must differ from --restart-from (the restart file would be overwritten)')
    refuse_existing(overwrite, out, trajectory, summary or out.with_suffix('.json'))
    atoms = _read_structure(restart_from if restart_from is not None else structure)
    calculator = _load(model, device)
    _check_species(atoms, calculator)
    try:
        result = relax(
            atoms,
            calculator,
            fix=fix,
            fmax=fmax,
            max_steps=max_steps,
            optimizer=optimizer.upper(),
            relax_cell=relax_cell,
            trajectory=trajectory,
            log=log,
            stall_steps=stall_steps or None,
        )
    except RelaxationError as exc:
        fail(str(exc), EXIT_UNSTABLE)
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
            'fmax': fmax,
            'optimizer': optimizer.upper(),
            'relax_cell': relax_cell,
            'exit_status': 0 if result.converged else EXIT_NOT_CONVERGED,
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
            EXIT_NOT_CONVERGED,
        )
    if not result.converged:
        fail(
            f'not converged within {max_steps} steps (max |F| {result.max_force:.4g} eV/Å > {fmax}); continue '
            f'with --restart-from {trajectory or out}',
            EXIT_NOT_CONVERGED,
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
@click.option('--timestep', type=float, default=1.0, show_default=True, help='Time step, fs.')
@click.option(
    '--thermostat',
    type=click.Choice(['langevin', 'nose-hoover', 'npt', 'epitaxial']),
    default='langevin',
    show_default=True,
    help='langevin / nose-hoover: NVT; npt: isotropic MTK barostat; epitaxial: in-plane lattice clamped (a film on '
    'its substrate), out-of-plane free (Berendsen NPT along z).',
)
@click.option('--friction', type=float, default=0.01, show_default=True, help='Langevin friction, 1/fs.')
@click.option(
    '--tdamp',
    type=float,
    default=100.0,
    show_default=True,
    help='Nosé–Hoover (epitaxial: Berendsen) damping time, fs.',
)
@click.option(
    '--pressure', type=float, default=0.0, show_default=True, help='npt / epitaxial target pressure, GPa.'
)
@click.option(
    '--pdamp',
    type=float,
    default=1000.0,
    show_default=True,
    help='npt / epitaxial barostat damping time, fs.',
)
@click.option(
    '--out',
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help='Trajectory (ase .traj) written every --stride steps as the run goes.',
)
@click.option('--stride', type=int, default=10, show_default=True, help='Steps between written frames.')
@click.option(
    '--restart-from',
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help='Continue from the last frame of this trajectory (written by this command, same schedule); '
    'frames are appended when it is the --out file.',
)
@click.option('--fix', default=None, help='Atoms held fixed: species or 0-based indices.')
@click.option('--seed', type=int, default=0, show_default=True, help='Seed of velocities and Langevin noise.')
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
@click.option('--device', default='cpu', show_default=True, help='torch device.')
@click.option('--overwrite', is_flag=True, help='Replace existing output files (trajectory, final, summary).')
@click.option('--json', 'as_json', is_flag=True, help='Print the summary JSON.')
def md_cmd(
    model: str,
    structure: Path,
    schedule: str,
    timestep: float,
    thermostat: str,
    friction: float,
    tdamp: float,
    pressure: float,
    pdamp: float,
    out: Path,
    stride: int,
    restart_from: Path | None,
    fix: str | None,
    seed: int,
    final: Path | None,
    summary: Path | None,
    log: Path | None,
    device: str,
    overwrite: bool,
    as_json: bool,
) -> None:
    """Molecular dynamics of STRUCTURE with MODEL through a temperature --schedule (e.g. an anneal).

    Exit status 4 when the run explodes (NaN, or temperature far above the schedule), 5 for unknown species.
    """
    from aiida_flexo.mlip import MDExplosionError, parse_schedule, run_md
    from aiida_flexo.mlip.md import last_md_step

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
    calculator = _load(model, device)
    _check_species(atoms, calculator)
    try:
        result = run_md(
            atoms,
            calculator,
            stages,
            timestep_fs=timestep,
            thermostat=thermostat,
            friction_per_fs=friction,
            tdamp_fs=tdamp,
            pressure_GPa=pressure,
            pdamp_fs=pdamp,
            trajectory=out,
            stride=stride,
            fix=fix,
            seed=seed,
            start_step=start_step,
            append=append,
            log=log,
        )
    except MDExplosionError as exc:
        fail(f'{exc}; the trajectory up to the last good frame is in {out}', EXIT_UNSTABLE)
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
            'timestep_fs': timestep,
            'thermostat': thermostat,
            'stride': stride,
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


#: the raw options of the teacher's frames, gathered into one SamplingSettings argument by _sampling_options
_SAMPLING_KEYS = ('temperatures', 'n_frames', 'strain', 'displacement', 'stride', 'timestep', 'sample_seed')


def _sampling_options(function):
    """Options of the teacher's frames (mlip sample and mlip distill), handed to ``function`` as ``sampling``
    (a :class:`~aiida_flexo.mlip.distill.SamplingSettings`), next to ``structures_file``."""
    import functools

    @functools.wraps(function)
    def wrapper(**kwargs):
        raw = {key: kwargs.pop(key) for key in _SAMPLING_KEYS}
        return function(sampling=_sampling_settings(**raw), **kwargs)

    options = [
        click.option(
            '--structures',
            'structures_file',
            required=True,
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
            help='Periodic starting structures (any file ase reads; every frame of an extxyz).',
        ),
        click.option(
            '--temperatures',
            default='300,600,1000',
            show_default=True,
            help='MD temperatures, K, comma-separated.',
        ),
        click.option(
            '--frames',
            'n_frames',
            type=int,
            default=400,
            show_default=True,
            help='Teacher-labelled frames in total (half MD, half random strains/displacements).',
        ),
        click.option(
            '--strain', type=float, default=0.02, show_default=True, help='Largest random strain component.'
        ),
        click.option(
            '--displacement',
            type=float,
            default=0.05,
            show_default=True,
            help='Standard deviation of the random atomic displacements, Å.',
        ),
        click.option(
            '--stride', type=int, default=5, show_default=True, help='MD steps between kept frames.'
        ),
        click.option('--timestep', type=float, default=2.0, show_default=True, help='MD time step, fs.'),
        click.option(
            '--sample-seed', type=int, default=0, show_default=True, help='Seed of MD and perturbations.'
        ),
    ]
    for option in reversed(options):
        wrapper = option(wrapper)
    return wrapper


def _sampling_settings(temperatures, n_frames, strain, displacement, stride, timestep, sample_seed):
    from aiida_flexo.mlip.distill import SamplingSettings

    try:
        values = tuple(float(t) for t in temperatures.split(',') if t.strip())
        return SamplingSettings(
            temperatures=values,
            n_frames=n_frames,
            strain=strain,
            displacement=displacement,
            stride=stride,
            timestep_fs=timestep,
            seed=sample_seed,
        )
    except ValueError as exc:
        fail(f'bad sampling option: {exc}')


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

    calculator = _load(teacher, device)
    structures = _read_structures(structures_file)
    for atoms in structures:
        _check_species(atoms, calculator)
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
            fail(f'the teacher MD exploded: {exc}', EXIT_UNSTABLE)
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
@click.option('--device', default='cpu', show_default=True, help='torch device.')
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
@click.option('--epochs', type=int, default=200, show_default=True, help='Student: maximum epochs.')
@click.option(
    '--model-size',
    type=click.Choice(['tiny', 'small', 'medium']),
    default='small',
    show_default=True,
    help='Student Allegro size.',
)
@click.option('--cutoff', type=float, default=5.0, show_default=True, help='Student cutoff, Å.')
@click.option(
    '--max-time', type=str, default=None, help='Wall-time limit of the student training (e.g. 20m).'
)
@click.option('--seed', type=int, default=0, show_default=True, help='Seed of the student and its split.')
@click.option('--committee', type=int, default=None, metavar='K', help='Train K >= 2 students (uncertainty).')
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
@click.option('--device', default='cpu', show_default=True, help='torch device of the teacher.')
@click.option('--json', 'as_json', is_flag=True, help='Print distill.json.')
def distill_cmd(
    teacher: str,
    structures_file: Path,
    sampling,
    out_dir: Path,
    dft_file: Path | None,
    epochs: int,
    model_size: str,
    cutoff: float,
    max_time: str | None,
    seed: int,
    committee: int | None,
    resume: bool,
    speed_steps: int,
    device: str,
    as_json: bool,
) -> None:
    """Distil TEACHER into a fast Allegro student: teacher-labelled MD and perturbed frames, then training.

    Reports student vs teacher on held-out teacher frames and, with --dft, student and teacher vs DFT.
    """
    from aiida_flexo.data import FramesError, read_frames
    from aiida_flexo.mlip import TrainingError, TrainingSettings
    from aiida_flexo.mlip.distill import (
        REPORT_FILE,
        TEACHER_FRAMES_FILE,
        distillation_report,
        save_report,
        write_teacher_frames,
    )
    from aiida_flexo.mlip.route import train_potential

    if committee is not None and committee < 2:
        fail(f'--committee {committee}: a committee needs at least 2 models; omit it for one student')
    frames_path = out_dir / TEACHER_FRAMES_FILE
    if (out_dir / REPORT_FILE).exists() or (frames_path.exists() and not resume):
        fail(f'{out_dir} already holds a distillation; choose a new --out (or --resume an unfinished one)')
    try:
        student_settings = TrainingSettings(
            max_epochs=epochs,
            model_size=model_size,
            cutoff=cutoff,
            max_time=parse_duration(max_time),
            seed=seed,
            committee=committee or 1,
        )
        dft_frames = read_frames(dft_file) if dft_file else None
    except (ValueError, FramesError) as exc:
        fail(str(exc))
    if resume and frames_path.exists():
        teacher_calc = _load(teacher, device)
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
        student = _load(result.model_path, 'cpu')
        if dft_frames:
            for atoms in dft_frames:
                _check_species(atoms, student)
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
