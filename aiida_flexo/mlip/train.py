"""Train an Allegro potential with ``nequip-train`` and export it for inference.

Layout of the output directory ``out`` of :func:`train`::

    out/train.xyz, val.xyz, test.xyz, split.json, config.yaml   inputs of nequip-train (config.py)
    out/run/best.ckpt, last.ckpt, csv/version_0/metrics.csv     checkpoints and the Lightning CSV log
    out/train.log                                               stdout/stderr of nequip-train
    out/model.nequip.zip                                        the packaged best model (eager, portable)
    out/model.nequip.pt2                                        AOTInductor model (only with compile=True)
    out/metrics.json                                            errors on the validation and test frames
    out/learning_curve.csv                                      per-epoch losses and validation errors

``nequip-train`` runs as a subprocess (``python -m nequip.scripts.train``, hydra ``-cp/-cn``), so a training that
is killed leaves ``run/last.ckpt``; ``train(..., resume=True)`` continues from it.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ase import Atoms

from aiida_flexo.data import Split, frames_hash
from aiida_flexo.mlip.config import CONFIG_NAME, PreparedTraining, TrainingSettings, prepare_training
from aiida_flexo.units import EV_PER_A3_TO_GPA

MODEL_FILE = 'model.nequip.zip'
COMPILED_FILE = 'model.nequip.pt2'
METRICS_FILE = 'metrics.json'
CURVE_FILE = 'learning_curve.csv'
LOG_FILE = 'train.log'


class TrainingError(RuntimeError):
    """``nequip-train`` (or packaging) failed; the message carries the end of its log."""


@dataclass(frozen=True)
class TrainResult:
    """Files and numbers of a finished training."""

    out_dir: Path
    model_path: Path
    metrics_path: Path
    learning_curve_path: Path
    best_checkpoint: Path
    metrics: dict
    compiled_path: Path | None = None


def _tail(path: Path, n: int = 25) -> str:
    if not path.is_file():
        return '(no log)'
    lines = path.read_text(errors='replace').splitlines()
    return '\n'.join(lines[-n:])


def _run(command: list[str], log_path: Path, cwd: Path, what: str, timeout: float | None = None) -> None:
    """Run ``command``, appending its output to ``log_path``; raise :class:`TrainingError` on failure."""
    env = dict(os.environ)
    env.setdefault('HYDRA_FULL_ERROR', '1')
    with open(log_path, 'a') as log:
        log.write(f'\n$ {" ".join(command)}\n')
        log.flush()
        try:
            process = subprocess.run(
                command, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, env=env, timeout=timeout, check=False
            )
        except subprocess.TimeoutExpired as exc:
            raise TrainingError(f'{what} ran past {timeout} s; see {log_path}') from exc
    if process.returncode != 0:
        raise TrainingError(
            f'{what} failed (exit status {process.returncode}); end of {log_path}:\n{_tail(log_path)}'
        )


def run_nequip_train(work_dir: str | Path, resume_from: str | Path | None = None) -> Path:
    """Run ``nequip-train`` on ``work_dir/config.yaml``; return the best checkpoint.

    Args:
        work_dir: a directory prepared by :func:`aiida_flexo.mlip.config.prepare_training`.
        resume_from: a Lightning checkpoint (``run/last.ckpt``) to continue an interrupted training from.
    """
    work_dir = Path(work_dir).resolve()
    command = [
        sys.executable,
        '-m',
        'nequip.scripts.train',
        '-cp',
        str(work_dir),
        '-cn',
        CONFIG_NAME,
        f'hydra.run.dir={work_dir / "run"}',
    ]
    if resume_from is not None:
        command.append(f'++ckpt_path={Path(resume_from).resolve()}')
    _run(command, work_dir / LOG_FILE, work_dir, 'nequip-train')
    best = work_dir / 'run' / 'best.ckpt'
    if not best.is_file():
        raise TrainingError(
            f'nequip-train finished without {best} (did it stop before the first validation? raise max_time or '
            f'max_epochs); end of the log:\n{_tail(work_dir / LOG_FILE)}'
        )
    return best


def package_model(checkpoint: str | Path, output: str | Path) -> Path:
    """``nequip-package build``: a portable ``*.nequip.zip`` of a checkpoint (EMA weights when trained with EMA)."""
    output = Path(output).resolve()
    if not output.name.endswith('.nequip.zip'):
        raise ValueError(f'{output}: a packaged model must end in .nequip.zip')
    command = [
        sys.executable,
        '-m',
        'nequip.scripts.package',
        'build',
        str(Path(checkpoint).resolve()),
        str(output),
    ]
    _run(command, output.parent / LOG_FILE, output.parent, 'nequip-package')
    return output


def compile_model(model: str | Path, output: str | Path, device: str = 'cpu') -> Path:
    """``nequip-compile --mode aotinductor --target ase`` (optional: slow to build, not faster on shared CPUs)."""
    output = Path(output).resolve()
    if not output.name.endswith('.nequip.pt2'):
        raise ValueError(f'{output}: an AOTInductor model must end in .nequip.pt2')
    command = [
        sys.executable,
        '-m',
        'nequip.scripts.compile',
        str(Path(model).resolve()),
        str(output),
        '--mode',
        'aotinductor',
        '--device',
        device,
        '--target',
        'ase',
    ]
    _run(command, output.parent / LOG_FILE, output.parent, 'nequip-compile')
    return output


#: learning-curve column -> (nequip CSV column, factor to the column's unit)
CURVE_COLUMNS: dict[str, tuple[str, float]] = {
    'train_loss': ('train_loss_epoch/weighted_sum', 1.0),
    'val_loss': ('val0_epoch/weighted_sum', 1.0),
    'val_force_mae_meV_A': ('val0_epoch/forces_mae', 1e3),
    'val_energy_mae_meV_atom': ('val0_epoch/per_atom_energy_mae', 1e3),
    'val_stress_mae_GPa': ('val0_epoch/stress_mae', EV_PER_A3_TO_GPA),
    'learning_rate': ('lr-Adam', 1.0),
}


def _log_versions(out_dir: Path) -> list[Path]:
    """The ``metrics.csv`` files of ``out_dir/run/csv/version_*`` in version order."""
    root = out_dir / 'run' / 'csv'
    found = [p for p in root.glob('version_*/metrics.csv') if p.parent.name.split('_')[-1].isdigit()]
    return sorted(found, key=lambda p: int(p.parent.name.split('_')[-1]))


def learning_curve(*metrics_csv: str | Path) -> list[dict[str, float | int | None]]:
    """One row per epoch from Lightning's ``metrics.csv`` files (columns of :data:`CURVE_COLUMNS` plus ``epoch``).

    Lightning writes one sparse row per logging event; the last value logged in each epoch is kept. The learning
    rate is logged at the start of an epoch (with no epoch number) and is assigned to the epoch that follows.
    Several files (a training and its resumptions, in order) are merged; later values win.
    """
    rows: list[dict[str, str]] = []
    for path in metrics_csv:
        with open(path, newline='') as handle:
            rows.extend(csv.DictReader(handle))
    epochs: dict[int, dict[str, float | int | None]] = {}
    pending_lr: str | None = None
    for row in rows:
        if row.get('lr-Adam'):
            pending_lr = row['lr-Adam']
        if not row.get('epoch'):
            continue
        epoch = int(float(row['epoch']))
        entry = epochs.setdefault(epoch, {'epoch': epoch, **{k: None for k in CURVE_COLUMNS}})
        if pending_lr is not None and entry['learning_rate'] is None:
            entry['learning_rate'] = float(pending_lr)
        for name, (column, factor) in CURVE_COLUMNS.items():
            if name != 'learning_rate' and row.get(column):
                entry[name] = float(row[column]) * factor
    return [epochs[e] for e in sorted(epochs)]


def write_learning_curve(rows: Sequence[dict], path: str | Path) -> Path:
    """Write :func:`learning_curve` rows as CSV (empty cells for values not logged)."""
    path = Path(path)
    columns = ['epoch', *CURVE_COLUMNS]
    with open(path, 'w', newline='') as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: ('' if row.get(k) is None else row[k]) for k in columns})
    return path


def train(
    frames: Sequence[Atoms],
    out_dir: str | Path,
    settings: TrainingSettings | None = None,
    *,
    resume: bool = False,
    compile: bool = False,
    source: str = 'frames',
    split: Split | None = None,
) -> TrainResult:
    """Train an Allegro potential on labelled frames and export it.

    Args:
        frames: normalized frames with ``energy``, ``forces`` (and ``stress`` unless the stress weight is 0).
        out_dir: output directory (see the module docstring for its layout).
        settings: training settings (:class:`aiida_flexo.mlip.config.TrainingSettings`).
        resume: continue from ``out_dir/run/last.ckpt`` when it exists (same frames and settings).
        compile: also build an AOTInductor model (``model.nequip.pt2``); eager ``model.nequip.zip`` is always made.
        source: name of the frame set in error messages.
        split: a given split (committee members); default ``make_split(settings.fractions, settings.seed)``.

    Returns:
        :class:`TrainResult`; ``metrics`` holds ``val`` and ``test`` error dicts
        (:func:`aiida_flexo.mlip.metrics.error_metrics`), ``best_epoch``, ``epochs``, ``wall_time_s`` and the
        settings.
    """
    from aiida_flexo.mlip.calculator import load_calculator

    settings = settings or TrainingSettings()
    out_dir = Path(out_dir).resolve()
    last = out_dir / 'run' / 'last.ckpt'
    resume_from = last if resume and last.is_file() else None
    if resume_from is None and any((out_dir / 'run').glob('*.ckpt')):
        raise TrainingError(
            f'{out_dir} already holds a training (run/*.ckpt); continue it with resume (--resume) or choose a new '
            'output directory'
        )
    start = time.perf_counter()
    log_version = len(_log_versions(out_dir)) if resume_from else 0
    prepared: PreparedTraining = prepare_training(
        frames, out_dir, settings, source=source, log_version=log_version, split=split
    )
    best = run_nequip_train(out_dir, resume_from=resume_from)
    train_time = time.perf_counter() - start
    model_path = package_model(best, out_dir / MODEL_FILE)
    compiled = compile_model(model_path, out_dir / COMPILED_FILE) if compile else None

    curve = learning_curve(*_log_versions(out_dir))
    curve_path = write_learning_curve(curve, out_dir / CURVE_FILE)
    calculator = load_calculator(model_path)
    split = prepared.split
    metrics = {
        **split_metrics(calculator, frames, split, source),
        'best_epoch': _best_epoch(curve),
        'epochs': len(curve),
        'wall_time_s': time.perf_counter() - start,
        'train_time_s': train_time,
        'type_names': prepared.type_names,
        'frames_sha256': frames_hash(frames),
        'resumed_from': str(resume_from) if resume_from else None,
        'settings': settings.as_dict(),
        'model_file': model_path.name,
        'route': 'allegro',
    }
    metrics_path = out_dir / METRICS_FILE
    metrics_path.write_text(json.dumps(metrics, indent=2))
    return TrainResult(out_dir, model_path, metrics_path, curve_path, best, metrics, compiled)


def split_metrics(calculator, frames: Sequence[Atoms], split: Split, source: str) -> dict:
    """``val`` and ``test`` errors (:func:`aiida_flexo.mlip.metrics.error_metrics`; ``test`` None without test
    frames) and the subset sizes: the part of ``metrics.json`` every route shares."""
    from aiida_flexo.mlip.metrics import error_metrics

    subsets = {name: [frames[i] for i in getattr(split, name)] for name in ('val', 'test')}
    return {
        'val': error_metrics(calculator, subsets['val'], source=f'{source} (validation)'),
        'test': error_metrics(calculator, subsets['test'], source=f'{source} (test)') if split.test else None,
        'n_train': len(split.train),
        'n_val': len(split.val),
        'n_test': len(split.test),
    }


def _best_epoch(curve: Sequence[dict]) -> int | None:
    scored = [row for row in curve if row.get('val_loss') is not None]
    return int(min(scored, key=lambda row: row['val_loss'])['epoch']) if scored else None
