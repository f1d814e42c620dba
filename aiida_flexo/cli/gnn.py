"""``aiida-flexo gnn``: train, evaluate and apply the dipole GNN."""

from __future__ import annotations

import json
from pathlib import Path

import click
import numpy as np

from aiida_flexo.cli import echo_json, fail
from aiida_flexo.cli.outputs import overwrite_option, refuse_existing


def _check_device(device: str) -> None:
    """Stop before any work when torch cannot use ``device`` (e.g. cuda on a CPU build of torch)."""
    from aiida_flexo.device import DeviceError, check_device

    try:
        check_device(device)
    except DeviceError as exc:
        fail(str(exc))


def _model_config(out_dir: Path, settings: dict, resume: bool):
    """The GNNConfig of a new run, or ``None`` on resume (the checkpoint's, which ``settings`` must not change).

    Raises ``FileNotFoundError``/``ValueError`` (unreadable checkpoint, changed settings, bad values).
    """
    from aiida_flexo.gnn import GNNConfig
    from aiida_flexo.gnn.checkpoint import CHECKPOINT_NAME, check_resume_config, read_checkpoint

    if resume:
        path = out_dir / CHECKPOINT_NAME
        check_resume_config(GNNConfig.from_dict(read_checkpoint(path).model_config), settings, path)
        return None
    if 'cutoff' in settings and 'triplet_cutoff' not in settings:
        settings = dict(settings, triplet_cutoff=min(settings['cutoff'], GNNConfig().triplet_cutoff))
    return GNNConfig(**settings)


@click.group('gnn')
def gnn() -> None:
    """Dipole GNN: per-atom dipoles p_j = Σ_k c_kj e_kj trained on Berry-phase dipoles and Born charges."""


def _name_options(message: str, settings: dict) -> str:
    """A config's error message with its setting identifiers written as the options a user typed (bond_rcond ->
    --bond-rcond; one-word names such as cutoff are left to the prose)."""
    import re

    for name, setting in settings.items():
        if '_' in name:
            message = re.sub(rf'(?<![\w-]){name}\b', setting.flag, message)
    return message


def _training_options(command):
    """The ``gnn train`` options of every user setting (:func:`aiida_flexo.gnn.settings.gnn_train_settings`)."""
    from aiida_flexo.cli.settings import setting_options
    from aiida_flexo.gnn.settings import gnn_train_settings

    return setting_options(gnn_train_settings().values())(command)


@gnn.command('train')
@click.argument('data', type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    '--out',
    'out_dir',
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help='Output folder: model.pt, metrics.json, parity.png, split.json, log.csv, checkpoint.pt.',
)
@_training_options
@click.option('--device', default='cpu', show_default=True, help="torch device: 'cpu', 'cuda', 'cuda:1', ...")
@click.option('--resume', is_flag=True, help='Continue from OUT/checkpoint.pt (same data and settings).')
@overwrite_option('output folder (a non-empty OUT is refused otherwise, unless --resume)')
@click.option(
    '--init-model',
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help='Start from this model.pt (fine-tuning: its hyperparameters, weights and offset).',
)
@click.option('--float64', 'use_float64', is_flag=True, help='Short for --dtype float64.')
@click.option('--quiet', is_flag=True, help='No progress bar.')
@click.option('--json', 'as_json', is_flag=True, help='Print the final metrics as JSON.')
def train_command(
    data: Path,
    out_dir: Path,
    device: str,
    resume: bool,
    use_float64: bool,
    quiet: bool,
    as_json: bool,
    init_model: Path | None = None,
    overwrite: bool = False,
    **settings,
) -> None:
    """Train the dipole GNN on DATA (extxyz with a cell dipole per frame and, optionally, Born charges).

    Writes OUT/model.pt (load with aiida_flexo.gnn.load_model), OUT/metrics.json (train/val/test dipole MAE/RMSE
    in e·Å and Born-charge MAE/RMSE in e, on folded residuals), OUT/parity.png, OUT/split.json and OUT/log.csv.
    """
    from aiida_flexo.cli.settings import given_settings
    from aiida_flexo.data import FramesError, read_frames
    from aiida_flexo.gnn import TrainConfig, train
    from aiida_flexo.gnn.settings import gnn_train_settings
    from aiida_flexo.gnn.training import TrainingDivergedError
    from aiida_flexo.settings import config_kwargs, split_fractions

    _check_device(device)
    refuse_existing(overwrite or resume, out_dir, inputs=[data, init_model], folder=True)
    known = gnn_train_settings()
    given = given_settings(settings, known)
    try:
        fractions = split_fractions(given)
    except ValueError as exc:
        fail(str(exc))
    model_settings = config_kwargs(given, known, 'model')
    if use_float64:
        model_settings['dtype'] = 'float64'
    train_kwargs = config_kwargs(given, known, 'train')
    train_kwargs.update(
        fractions=fractions,
        device=device,
        init_model=str(init_model) if init_model else None,
    )
    try:
        model_config = _model_config(out_dir, model_settings, resume)
        train_config = TrainConfig(**train_kwargs)
        frames = read_frames(data, require=('dipole',))
        result = train(
            frames, out_dir, model_config, train_config, resume=resume, progress=not quiet, source=str(data)
        )
    except (FramesError, ValueError, FileNotFoundError, TrainingDivergedError) as exc:
        fail(_name_options(str(exc), known))
    metrics = {k: v for k, v in result.metrics.items() if k not in ('model_config', 'train_config')}
    if as_json:
        echo_json(metrics)
        return
    click.echo(f'model:    {out_dir / "model.pt"}')
    for subset in ('train', 'val', 'test'):
        if not metrics.get(f'{subset}_n_frames'):
            click.echo(f'{subset:<5}  no frames (fraction 0)')
            continue
        line = f'{subset:<5}  dipole MAE {metrics[f"{subset}_dipole_mae_eA"]:.4f} e·Å'
        if f'{subset}_bec_mae_e' in metrics:
            line += f'   Born-charge MAE {metrics[f"{subset}_bec_mae_e"]:.4f} e'
        click.echo(line + f'   ({metrics.get(f"{subset}_n_frames", 0)} frames)')
    click.echo(
        f'stopped:  {metrics["stop_reason"]} after {metrics["epochs_run"]} epochs, '
        f'{metrics["train_wall_time_s"]:.0f} s'
    )
    click.echo(f'branches: {metrics["label_branches"]}, reference offset {metrics["reference_offset"]}')
    for path, record in metrics.get('spontaneous_polarization', {}).items():
        model_p, dft_p = (np.round(record[k], 4).tolist() for k in ('model_C_m2', 'dft_C_m2'))
        click.echo(f'P_s {path}: model {model_p} C/m², DFT {dft_p} C/m²')
    for message in metrics.get('warnings', []):
        click.echo(f'Warning: {message}', err=True)


@gnn.command('eval')
@click.argument('model_path', metavar='MODEL', type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument('data', type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    '--json',
    'as_json',
    is_flag=True,
    help='Print JSON (dipole_mae_eA, dipole_rmse_eA, n_frames, bec_mae_e, ...).',
)
@click.option('--device', default='cpu', show_default=True, help='torch device.')
def eval_command(model_path: Path, data: Path, as_json: bool, device: str) -> None:
    """Errors of MODEL on the labelled frames of DATA (folded dipole residuals, e·Å; Born charges, e)."""
    from aiida_flexo.data import FramesError, check_frames, read_frames
    from aiida_flexo.gnn import ModelFileError, load_model
    from aiida_flexo.gnn.evaluate import evaluate_frames

    _check_device(device)
    try:
        frames = read_frames(data, require=('dipole',))
        predictor = load_model(model_path, device=device)
        check_frames(frames, source=str(data), species=predictor.species)
        result = evaluate_frames(predictor, frames)
    except (FramesError, ModelFileError, ValueError, FileNotFoundError) as exc:
        fail(str(exc))
    result = {'model': str(model_path), 'data': str(data), **result}
    if as_json:
        echo_json(result)
        return
    click.echo(f'{result["n_frames"]} frames, {result["n_atoms"]} atoms')
    click.echo(
        f'dipole (folded)  MAE {result["dipole_mae_eA"]:.4f}  RMSE {result["dipole_rmse_eA"]:.4f}  '
        f'max {result["dipole_max_eA"]:.4f} e·Å'
    )
    if 'bec_mae_e' in result:
        click.echo(
            f'Born charges     MAE {result["bec_mae_e"]:.4f}  RMSE {result["bec_rmse_e"]:.4f}  '
            f'max {result["bec_max_e"]:.4f} e'
        )


@gnn.command('predict')
@click.argument('model_path', metavar='MODEL', type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument('structure', type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option('--per-atom', is_flag=True, help='Also print the per-atom dipoles (e·Å).')
@click.option(
    '--born-charges', 'with_bec', is_flag=True, help='Also compute Born charges Z* (e) by autograd.'
)
@click.option(
    '--out',
    'out_path',
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the prediction: extxyz (arrays 'dipoles', info 'dipole') or JSON if FILE ends with .json.",
)
@click.option('--json', 'as_json', is_flag=True, help='Print JSON on stdout.')
@click.option(
    '--index', default=':', show_default=True, help='ase index of the frames to read from STRUCTURE.'
)
@click.option('--device', default='cpu', show_default=True, help='torch device.')
@click.option('--chunk-size', type=int, default=None, help='Centre atoms per chunk on large structures.')
@overwrite_option('output file (--out)')
def predict_command(
    model_path: Path,
    structure: Path,
    per_atom: bool,
    with_bec: bool,
    out_path: Path | None,
    as_json: bool,
    index: str,
    device: str,
    chunk_size: int | None,
    overwrite: bool = False,
) -> None:
    """Cell dipole (e·Å) and polarization (C/m²) of STRUCTURE (any ase-readable file) with MODEL.

    The dipole is the model's branch, zero for centrosymmetric structures; `reference_offset_eA` (JSON) is the
    offset to the branch of the training labels (a half quantum, refined in training), which matters only for
    absolute dipoles, never for differences.
    """
    from aiida_flexo.atomic import write_text
    from aiida_flexo.gnn import ModelFileError, load_model
    from aiida_flexo.gnn.evaluate import prediction_record

    _check_device(device)
    refuse_existing(overwrite, out_path, inputs=[structure, model_path])
    try:
        frames = _read_structures(structure, index)
        predictor = load_model(model_path, device=device, chunk_size=chunk_size)
        records = [
            prediction_record(
                predictor, atoms, per_atom=True, born_charges=with_bec, where=f'{structure}, frame {i}'
            )
            for i, atoms in enumerate(frames)
        ]
    except (ModelFileError, ValueError, FileNotFoundError) as exc:
        fail(str(exc))

    def public(record: dict, keep_per_atom: bool) -> dict:
        drop = set() if keep_per_atom else {'per_atom_dipoles_eA', 'born_charges_e'}
        return {k: v for k, v in record.items() if k not in drop}

    data = {
        'model': str(model_path),
        'structure': str(structure),
        'units': {'dipole': 'e·Å', 'polarization': 'C/m²', 'volume': 'Å³', 'born_charges': 'e'},
        'n_frames': len(records),
        'frames': [public(r, per_atom or with_bec) for r in records],
    }
    if len(records) == 1:
        data['dipole_eA'] = records[0]['dipole_eA']
        data['polarization_C_m2'] = records[0]['polarization_C_m2']
    if out_path is not None:
        if out_path.suffix.lower() == '.json':
            full = dict(data, frames=[public(r, True) for r in records])
            write_text(out_path, json.dumps(full, indent=2))
        else:
            from aiida_flexo.data import write_frames

            written = []
            for atoms, record in zip(frames, records):
                copy = atoms.copy()
                copy.calc = None
                copy.arrays['dipoles'] = np.asarray(record['per_atom_dipoles_eA'])
                copy.info['dipole'] = np.asarray(record['dipole_eA'])
                copy.info['polarization_C_m2'] = np.asarray(record['polarization_C_m2'])
                if with_bec:
                    copy.arrays['born_charges'] = np.asarray(record['born_charges_e'])
                written.append(copy)
            write_frames(out_path, written)
    if as_json:
        echo_json(data)
        return
    for i, record in enumerate(records):
        d, p = record['dipole_eA'], record['polarization_C_m2']
        prefix = f'frame {i}: ' if len(records) > 1 else ''
        click.echo(f'{prefix}dipole        {d[0]: .6f} {d[1]: .6f} {d[2]: .6f} e·Å')
        click.echo(
            f'{prefix}polarization  {p[0]: .6f} {p[1]: .6f} {p[2]: .6f} C/m²  (Ω = {record["volume_A3"]:.4f} Å³)'
        )
        if per_atom:
            for j, (symbol, pj) in enumerate(zip(record['symbols'], record['per_atom_dipoles_eA'])):
                click.echo(f'  {j:>6} {symbol:<3} {pj[0]: .6f} {pj[1]: .6f} {pj[2]: .6f}')
    if out_path is not None:
        click.echo(f'written: {out_path}')


def _read_structures(structure: Path, index: str) -> list:
    """The frames of ``structure`` (any ase-readable file), each checked (3D periodic, finite positions and cell,
    not flattened) before any neighbour list; raises :class:`~aiida_flexo.data.FramesError` naming the frame."""
    from ase.io import read

    from aiida_flexo.data import FramesError, check_periodic
    from aiida_flexo.data.frames import check_structure

    try:
        frames = read(structure, index=index)
    except Exception as exc:  # noqa: BLE001 - ase raises many types
        raise FramesError(f'{structure}: could not be read by ase ({type(exc).__name__}: {exc})') from exc
    frames = frames if isinstance(frames, list) else [frames]
    for i, atoms in enumerate(frames):
        check_periodic(atoms, f'{structure}, frame {i}')
        check_structure(atoms, f'{structure}, frame {i}')
    return frames
