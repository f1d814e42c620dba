"""Fine-tune a pretrained universal potential (:mod:`aiida_flexo.mlip.universal`) on labelled frames.

The same outputs as an Allegro training (:func:`aiida_flexo.mlip.train.train`), in ``out_dir``::

    model.sevenn.pth | model.chgnet.pt    the fine-tuned model, a file its own package loads as well
    metrics.json                           errors on the validation and test frames (same keys as Allegro's)
    learning_curve.csv                     per-epoch losses and validation errors (epoch 0: before fine-tuning)
    split.json                             frame indices of train/val/test
    run/last.pt                            model, optimizer, scheduler and curve after the last epoch (resume)
    train.log                              one line per epoch

Recipe: (1) per-element reference energies (:mod:`aiida_flexo.mlip.reference`) put the pretrained model on the
labels' energy scale, added to its own atomic-energy shift; (2) Adam on the whole network with the loss of the
Allegro route, ``w_E·L(E/N) + w_F·L(F) + w_S·L(σ)`` (eV, eV/Å, eV/Å³: no kbar, ase's stress sign; L the mean
squared residual or, with ``loss='huber'``, the Huber loss), the learning rate halved on a validation plateau; (3) the model with the best validation metric
``√w_E·MAE(E/N) + √w_F·MAE(F) + √w_S·MAE(σ)`` is kept; early stopping and ``max_time`` end the run with it.
"""

from __future__ import annotations

import csv
import json
import math
import os
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from ase import Atoms

from aiida_flexo.data import FramesError, Split, frames_hash, has_label, make_split, species_of
from aiida_flexo.mlip.config import SPLIT_FILE, TrainingSettings, check_training_frames
from aiida_flexo.mlip.reference import fit_reference_energies
from aiida_flexo.mlip.train import CURVE_FILE, LOG_FILE, METRICS_FILE, TrainingError, TrainResult
from aiida_flexo.mlip.universal import (
    check_universal_species,
    counts_matrix,
    resolve_potential,
)
from aiida_flexo.units import EV_PER_A3_TO_GPA

#: resume state inside ``out_dir``
STATE_FILE = Path('run') / 'last.pt'


def model_file_name(potential_name: str) -> str:
    """``model`` + the suffix of the potential's package (``model.sevenn.pth``, ``model.chgnet.pt``)."""
    return 'model' + resolve_potential(potential_name).adapter.suffix


def _atomic_write(path: Path, writer) -> None:
    """Write through a temporary file and rename, so a kill never leaves a half-written file."""
    tmp = path.with_name(path.name + '.tmp')
    writer(tmp)
    os.replace(tmp, path)


class _Batches:
    """Graphs and label tensors of a frame subset, built once."""

    def __init__(
        self, adapter, model, frames: Sequence[Atoms], modal, uses_stress: bool, device: str = 'cpu'
    ):
        import torch

        self.device = device
        self.frames = list(frames)
        self.graphs = [adapter.graph(model, atoms, modal) for atoms in self.frames]
        dtype = torch.get_default_dtype()
        self.energy = [torch.tensor(float(a.info['energy']), dtype=dtype, device=device) for a in self.frames]
        self.forces = [
            torch.tensor(np.asarray(a.arrays['forces']), dtype=dtype, device=device) for a in self.frames
        ]
        self.stress = [
            torch.tensor(np.asarray(a.info['stress'], dtype=float).reshape(3, 3), dtype=dtype, device=device)
            if uses_stress and has_label(a, 'stress')
            else None
            for a in self.frames
        ]
        self.n_atoms = [len(a) for a in self.frames]


def _loss_term(settings: TrainingSettings):
    """Mean squared residual, or the mean Huber loss with threshold ``huber_delta``."""
    import torch

    if settings.resolved_loss == 'huber':
        delta = settings.huber_delta
        return lambda residual: torch.nn.functional.huber_loss(
            residual, torch.zeros_like(residual), delta=delta, reduction='mean'
        )
    return lambda residual: (residual**2).mean()


def _errors(
    adapter, model, batches: _Batches, indices: Sequence[int], settings: TrainingSettings, train: bool
):
    """Loss (a tensor when ``train``) and summed absolute errors of the frames ``indices``."""
    import torch

    out = adapter.forward(model, [batches.graphs[i] for i in indices], batches.device)
    energy = torch.stack([batches.energy[i] for i in indices])
    n = torch.tensor([batches.n_atoms[i] for i in indices], dtype=energy.dtype, device=energy.device)
    forces = torch.cat([batches.forces[i] for i in indices], 0)
    d_energy = (out['energy'].to(energy.dtype) - energy) / n
    d_forces = out['forces'].to(forces.dtype) - forces
    with_stress = [k for k, i in enumerate(indices) if batches.stress[i] is not None]
    term = _loss_term(settings)
    loss = settings.energy_weight * term(d_energy) + settings.force_weight * term(d_forces)
    d_stress = None
    if with_stress and settings.uses_stress:
        target = torch.stack([batches.stress[indices[k]] for k in with_stress])
        d_stress = out['stress'][with_stress].to(target.dtype) - target
        loss = loss + settings.stress_weight * term(d_stress)
    sums = {
        'energy': float(d_energy.detach().abs().sum()),
        'n_energy': len(indices),
        'forces': float(d_forces.detach().abs().sum()),
        'n_forces': int(d_forces.numel()),
        'stress': 0.0 if d_stress is None else float(d_stress.detach().abs().sum()),
        'n_stress': 0 if d_stress is None else int(d_stress.numel()),
    }
    return (loss if train else float(loss.detach())), sums


def _accumulate(total: dict, sums: dict) -> None:
    for key, value in sums.items():
        total[key] = total.get(key, 0) + value


def _maes(total: dict) -> dict:
    """MAEs in the learning-curve units (meV/atom, meV/Å, GPa) from summed absolute errors."""
    return {
        'energy': 1e3 * total['energy'] / max(total['n_energy'], 1),
        'forces': 1e3 * total['forces'] / max(total['n_forces'], 1),
        'stress': (total['stress'] / total['n_stress'] * EV_PER_A3_TO_GPA) if total.get('n_stress') else None,
    }


def _monitor(total: dict, settings: TrainingSettings) -> float:
    """The selection metric of :mod:`aiida_flexo.mlip.config` (eV units)."""
    value = math.sqrt(settings.energy_weight) * total['energy'] / max(total['n_energy'], 1)
    value += math.sqrt(settings.force_weight) * total['forces'] / max(total['n_forces'], 1)
    if total.get('n_stress') and settings.uses_stress:
        value += math.sqrt(settings.stress_weight) * total['stress'] / total['n_stress']
    return value


def _evaluate(adapter, model, batches, settings, batch_size: int = 4) -> tuple[float, dict]:
    model.eval()
    total: dict = {}
    losses = []
    indices = list(range(len(batches.frames)))
    for start in range(0, len(indices), batch_size):
        chunk = indices[start : start + batch_size]
        loss, sums = _errors(adapter, model, batches, chunk, settings, train=False)
        losses.append(loss * len(chunk))
        _accumulate(total, sums)
    return float(sum(losses) / len(indices)), total


def _curve_row(epoch: int, train_loss, val_loss, total, lr) -> dict:
    maes = _maes(total)
    return {
        'epoch': epoch,
        'train_loss': train_loss,
        'val_loss': val_loss,
        'val_force_mae_meV_A': maes['forces'],
        'val_energy_mae_meV_atom': maes['energy'],
        'val_stress_mae_GPa': maes['stress'],
        'learning_rate': lr,
    }


def finetune(
    frames: Sequence[Atoms],
    out_dir: str | Path,
    settings: TrainingSettings,
    *,
    resume: bool = False,
    source: str = 'frames',
    split: Split | None = None,
    device: str = 'cpu',
) -> TrainResult:
    """Fine-tune ``settings.from_potential`` on ``frames``; see the module docstring for files and recipe.

    Args:
        frames: normalized labelled frames (energy, forces, and stress unless its weight is 0).
        out_dir: output directory.
        settings: the training settings (``from_potential`` names the pretrained model; ``max_epochs``,
            ``max_time``, ``patience``, ``learning_rate``, ``lr_patience``, ``batch_size``, the loss weights,
            ``seed`` and ``fractions`` as for Allegro).
        resume: continue from ``out_dir/run/last.pt`` (same frames and settings).
        split: a given train/val/test split (committee members); default ``make_split(fractions, seed)``.
        device: torch device.

    Raises:
        UnknownPotentialError: ``from_potential`` unknown or not installed (the message lists the available ones).
        MissingSpeciesError: the frames hold species the pretrained model does not know.
        TrainingError: ``out_dir`` holds another training, or the state to resume does not match.
        FramesError: frames unfit for training.
    """
    import torch

    from aiida_flexo.mlip.calculator import load_calculator
    from aiida_flexo.mlip.train import split_metrics, write_learning_curve

    if not settings.from_potential:
        raise ValueError('finetune() needs settings.from_potential (a pretrained potential name)')
    start = time.perf_counter()
    potential = resolve_potential(settings.from_potential)
    adapter = potential.adapter
    check_training_frames(frames, settings, source=source)
    out_dir = Path(out_dir).resolve()
    state_path = out_dir / STATE_FILE
    if state_path.is_file() and not resume:
        raise TrainingError(
            f'{out_dir} already holds a fine-tuning (run/last.pt); continue it with resume (--resume) or choose a '
            'new output directory'
        )
    (out_dir / 'run').mkdir(parents=True, exist_ok=True)
    digest = frames_hash(frames)
    split = split or make_split(len(frames), fractions=settings.fractions, seed=settings.seed)
    if not split.val:
        raise FramesError(f'{source}: the split {settings.fractions} leaves no validation frame')
    split.to_json(out_dir / SPLIT_FILE)
    species = species_of(frames)
    log_path = out_dir / LOG_FILE

    def log(line: str) -> None:
        with open(log_path, 'a') as handle:
            handle.write(line + '\n')

    torch.manual_seed(settings.seed)
    model = adapter.load_pretrained(potential)
    check_universal_species(species, adapter.species(model), potential.name)
    model.to(device)
    train_batches, val_batches = (
        _Batches(adapter, model, [frames[i] for i in subset], potential.modal, settings.uses_stress, device)
        for subset in (split.train, split.val)
    )
    lr = settings.resolved_learning_rate
    optimizer = torch.optim.Adam(adapter.trainable_parameters(model), lr=lr)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, factor=0.5, patience=settings.lr_patience, min_lr=lr * 1e-3
    )
    resumed = None
    if resume and state_path.is_file():
        state = torch.load(str(state_path), map_location=device, weights_only=False)
        if state['frames_sha256'] != digest or state['potential'] != potential.name:
            raise TrainingError(
                f'{state_path} belongs to another training (frames or starting potential differ); use a new '
                'output directory'
            )
        model.load_state_dict(state['model'])
        optimizer.load_state_dict(state['optimizer'])
        scheduler.load_state_dict(state['scheduler'])
        curve, epoch, best = state['curve'], state['epoch'], state['best']
        reference = state['reference']
        best_state = state['best_model']
        bad_epochs = state['bad_epochs']
        rng = np.random.default_rng()
        rng.bit_generator.state = state['rng']
        resumed = str(state_path)
        log(f'resumed from {state_path} at epoch {epoch}')
    else:
        # (1) per-element reference energies on the training frames, before any gradient step
        model.eval()
        energies = []
        for i in range(len(train_batches.frames)):
            out = adapter.forward(model, [train_batches.graphs[i]], device)
            energies.append(float(out['energy'].detach()[0]))
        fit = fit_reference_energies(
            counts_matrix(train_batches.frames, species),
            [float(a.info['energy']) for a in train_batches.frames],
            energies,
            species,
        )
        adapter.add_reference_energies(model, dict(zip(fit.species, fit.deltas)), potential.modal)
        reference = fit.as_dict()
        log(
            f'reference energies (eV/atom): {reference["per_element_eV"]}; rank {fit.rank}; RMS (E_DFT-E_model)/N '
            f'{fit.rmse_before_eV_atom:.4g} -> {fit.rmse_after_eV_atom:.4g} eV/atom'
        )
        val_loss, total = _evaluate(adapter, model, val_batches, settings)
        curve = [_curve_row(0, None, val_loss, total, lr)]
        best = {'epoch': 0, 'metric': _monitor(total, settings)}
        best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        epoch, bad_epochs = 0, 0
        rng = np.random.default_rng(settings.seed)
        log(f'epoch 0 (zero-shot, shifted): {curve[-1]}')

    def save_state() -> None:
        state = {
            'model': model.state_dict(),
            'optimizer': optimizer.state_dict(),
            'scheduler': scheduler.state_dict(),
            'curve': curve,
            'epoch': epoch,
            'best': best,
            'best_model': best_state,
            'bad_epochs': bad_epochs,
            'reference': reference,
            'rng': rng.bit_generator.state,
            'frames_sha256': digest,
            'potential': potential.name,
            'settings': settings.as_dict(),
        }
        _atomic_write(state_path, lambda p: torch.save(state, str(p)))

    deadline = start + settings.max_time if settings.max_time else math.inf
    stopped = 'max_epochs'
    while epoch < settings.max_epochs:
        if time.perf_counter() >= deadline:
            stopped = 'max_time'
            break
        if bad_epochs >= settings.patience:
            stopped = 'early stopping'
            break
        epoch += 1
        model.train()
        order = rng.permutation(len(train_batches.frames))
        loss_sum, n_seen = 0.0, 0
        for first in range(0, len(order), settings.batch_size):
            chunk = [int(i) for i in order[first : first + settings.batch_size]]
            optimizer.zero_grad()
            loss, _ = _errors(adapter, model, train_batches, chunk, settings, train=True)
            if not torch.isfinite(loss):
                raise TrainingError(
                    f'the loss became {float(loss)} at epoch {epoch}; lower the learning rate'
                )
            loss.backward()
            optimizer.step()
            loss_sum, n_seen = loss_sum + float(loss.detach()) * len(chunk), n_seen + len(chunk)
            if time.perf_counter() >= deadline:
                break
        train_loss = loss_sum / max(n_seen, 1)
        val_loss, total = _evaluate(adapter, model, val_batches, settings)
        metric = _monitor(total, settings)
        scheduler.step(metric)
        curve.append(_curve_row(epoch, train_loss, val_loss, total, optimizer.param_groups[0]['lr']))
        if metric < best['metric']:
            best = {'epoch': epoch, 'metric': metric}
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            bad_epochs = 0
        else:
            bad_epochs += 1
        save_state()
        log(f'epoch {epoch}: {curve[-1]} ({time.perf_counter() - start:.0f} s)')
    train_time = time.perf_counter() - start
    if epoch == 0:
        save_state()

    # (3) the best model, saved in the package's own format, evaluated through the calculator factory
    model.load_state_dict(best_state)
    model_path = out_dir / model_file_name(potential.name)
    metadata = {
        'from': potential.name,
        'package': potential.package,
        'modal': potential.modal,
        'energy_reference': reference,
        'epochs': epoch,
        'best_epoch': best['epoch'],
        'frames_sha256': digest,
        'settings': settings.as_dict(),
    }
    _atomic_write(model_path, lambda p: adapter.save(model, p, metadata))
    curve_path = write_learning_curve(curve, out_dir / CURVE_FILE)
    calculator = load_calculator(model_path, device=device)
    metrics = {
        **split_metrics(calculator, frames, split, source),
        'best_epoch': best['epoch'],
        'epochs': epoch,
        'wall_time_s': time.perf_counter() - start,
        'train_time_s': train_time,
        'type_names': species,
        'frames_sha256': digest,
        'resumed_from': resumed,
        'settings': settings.as_dict(),
        'model_file': model_path.name,
        'route': 'finetune',
        'from_potential': potential.name,
        'energy_reference': reference,
        'before_finetuning_val': {k: v for k, v in curve[0].items() if k.startswith('val_')},
        'stopped_by': stopped,
    }
    _atomic_write(out_dir / METRICS_FILE, lambda p: p.write_text(json.dumps(metrics, indent=2)))
    return TrainResult(out_dir, model_path, out_dir / METRICS_FILE, curve_path, model_path, metrics)


def read_curve(path: str | Path) -> list[dict]:
    """Rows of a ``learning_curve.csv`` (numbers as floats, empty cells as ``None``)."""
    with open(path, newline='') as handle:
        return [
            {k: (float(v) if v not in ('', None) else None) for k, v in row.items()}
            for row in csv.DictReader(handle)
        ]
