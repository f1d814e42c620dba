"""Training of the dipole GNN on folded Berry-phase dipoles and (optionally) Born charges.

Reproducible (seeded weights, split, batch order and sign projections), resumable (a checkpoint after every
epoch), with a learning-rate schedule (reduce on plateau), an exponential moving average of the weights (the
averaged model is validated and returned), early stopping on the validation loss, a per-epoch CSV log and the
final metrics as JSON. Graphs of the frames are built once (the neighbour lists do not change).

Start: the per-species standardisation of the atom updates is calibrated on training frames, the radial
bond-charge part is fitted by least squares, and the labels' reference offset (a half quantum) is chosen; the
readout of the learned part starts at zero, so training starts from that linear model and never returns a
model worse than it on the validation set.

Loss (per batch)::

    L = w_d · mean_frames,α [(minimum image of d_pred − d_DFT + f·cell)² / N_atoms]
        + w_Z · mean_atoms,αβ (Z*_pred − Z*_DFT)²

in (e·Å)²/atom and e²; Born charges are ``∂d/∂r`` by autograd (double backward for the weight gradients),
``f`` the labels' reference offset (:attr:`GNNConfig.dipole_offset`). Dividing the squared error of the
extensive dipole by the number of atoms puts both terms on the same per-atom footing: with a larger dipole
weight the many frame-level dipole labels pull against the per-atom Born charges and training slows down a lot.
"""

from __future__ import annotations

import copy
import csv
import json
import math
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from ase import Atoms

from aiida_flexo import units
from aiida_flexo.atomic import atomic_path, write_text
from aiida_flexo.data import FramesError, Split, check_frames, frames_hash, has_label, make_split, species_of
from aiida_flexo.gnn.checkpoint import CHECKPOINT_NAME, TrainingState, check_resume_config, read_checkpoint
from aiida_flexo.gnn.config import GNNConfig, TrainConfig
from aiida_flexo.gnn.graph import Graph, batch_graphs, build_graph
from aiida_flexo.gnn.losses import born_charge_loss, error_metrics, fold_residuals
from aiida_flexo.gnn.model import DipoleGNN, cell_dipoles, dipoles_and_born_charges, init_parameters
from aiida_flexo.gnn.reference import (
    composition_key,
    fixed_offset,
    frame_offset,
    off_half_quantum,
    symmetric_half_quantum_vectors,
)
from aiida_flexo.polarization.reference import REFERENCE_BRANCH, align_to_references, has_reference_frame

#: a learned offset further than this (fraction of a quantum) from 0 or ½ is reported as a warning
OFF_HALF_QUANTUM_WARNING = 0.02


class TrainingDivergedError(RuntimeError):
    """The training loss became NaN or infinite; no model is saved."""


def dipole_residuals(
    residuals: torch.Tensor, cells: np.ndarray, quanta: np.ndarray, fold: bool | np.ndarray = True
) -> torch.Tensor:
    """Prediction − label (B, 3), e·Å: folded to the minimum image over each frame's quanta where ``fold`` (one
    flag for all frames, or one per frame: labels on a fixed branch are compared as they are)."""
    mask = np.broadcast_to(np.asarray(fold, dtype=bool), (residuals.shape[0],))
    if not mask.any():
        return residuals
    folded = fold_residuals(residuals, cells, quanta)
    if mask.all():
        return folded
    return torch.where(torch.as_tensor(mask, device=residuals.device).unsqueeze(-1), folded, residuals)


@dataclass
class Sample:
    """One labelled frame ready for the model (graph built once)."""

    graph: Graph
    dipole: torch.Tensor  # (3,) e·Å
    cell: np.ndarray  # (3, 3) Å
    charge_quantum: float  # e
    born_charges: torch.Tensor | None  # (n, 3, 3) e
    composition: str = ''  # the group that shares one reference offset (chemical formula)
    fixed_offset: np.ndarray | None = None  # (3,) e: the offset of a label aligned to a labelled reference
    fold: bool = True  # False: the label is on a fixed branch, compared as it is


@dataclass
class TrainResult:
    """What :func:`train` returns (the model holds the best validation weights)."""

    model: DipoleGNN
    split: Split
    metrics: dict
    history: list[dict] = field(default_factory=list)
    training_data_hash: str = ''


def make_samples(
    frames: Sequence[Atoms], config: GNNConfig, device: str = 'cpu', source: str = 'frames', fold: bool = True
) -> list[Sample]:
    """Graphs and labels of labelled frames (dipole required, Born charges when present).

    ``fold``: fold the residuals of frames whose labels are not on a fixed branch (a label aligned to a labelled
    reference, ``info['dipole_branch'] == 'reference'``, never is).
    """
    samples = []
    for i, atoms in enumerate(frames):
        where = f'{source}, frame {i}'
        graph = build_graph(atoms, config.species, config.cutoff, config.triplet_cutoff, device, where)
        if graph.n_edges == 0:
            raise FramesError(no_edges_message(atoms, config.cutoff, where))
        born = None
        if has_label(atoms, 'born_charges'):
            born = torch.as_tensor(np.asarray(atoms.arrays['born_charges']), device=device)
        samples.append(
            Sample(
                graph=graph,
                dipole=torch.as_tensor(np.asarray(atoms.info['dipole'], dtype=np.float64), device=device),
                cell=np.asarray(atoms.cell[:], dtype=np.float64),
                charge_quantum=float(atoms.info.get('charge_quantum', 1.0)),
                born_charges=born,
                composition=composition_key(atoms),
                fixed_offset=fixed_offset(atoms),
                fold=fold and atoms.info.get('dipole_branch') != REFERENCE_BRANCH,
            )
        )
    return samples


def shortest_distance(atoms: Atoms, search: float = 10.0) -> float | None:
    """The shortest interatomic distance (Å, periodic images included), or ``None`` when none is below ``search``."""
    from ase.neighborlist import neighbor_list

    distances = neighbor_list('d', atoms, search)
    return float(distances.min()) if len(distances) else None


def no_edges_message(atoms: Atoms, cutoff: float, where: str) -> str:
    """The error for a frame whose graph has no edge: its shortest distance against the cutoff, and the fix."""
    shortest = shortest_distance(atoms)
    distance = f'{shortest:.3f} Å' if shortest is not None else 'more than 10 Å'
    return (
        f'{where}: the cutoff {cutoff:g} Å is shorter than the shortest interatomic distance ({distance}), so the '
        f'model sees no bonds; use a cutoff well above it (--cutoff, default {GNNConfig().cutoff} Å)'
    )


def offset_dipoles(model: DipoleGNN, samples: Sequence[Sample]) -> np.ndarray:
    """The labels' reference offsets ``offset @ cell`` (B, 3), e·Å (:mod:`aiida_flexo.gnn.reference`)."""
    default = model.dipole_offset.detach().cpu().to(torch.float64).numpy()
    return np.stack(
        [
            frame_offset(s.composition, s.fixed_offset, model.config.label_offsets, default) @ s.cell
            for s in samples
        ]
    )


def _fold_mask(samples: Sequence[Sample]) -> np.ndarray:
    return np.array([s.fold for s in samples], dtype=bool)


def _collate(samples: Sequence[Sample], dtype: torch.dtype):
    graph = batch_graphs([s.graph for s in samples])
    dipoles = torch.stack([s.dipole for s in samples]).to(dtype)
    cells = np.stack([s.cell for s in samples])
    quanta = np.array([s.charge_quantum for s in samples])
    born = None
    if all(s.born_charges is not None for s in samples):
        born = torch.cat([s.born_charges for s in samples]).to(dtype)
    return graph, dipoles, cells, quanta, born


def batch_loss(
    model: DipoleGNN,
    samples: Sequence[Sample],
    dipole_weight: float,
    bec_weight: float,
    create_graph: bool,
    bec_projection: torch.Tensor | None = None,
    fold: bool = True,
) -> tuple[torch.Tensor, dict]:
    """Loss of a batch and its parts (dipole MSE in (e·Å)², BEC MSE in e²).

    With ``bec_projection`` (B, 3) random signs, the Born-charge term is the unbiased one-backward-pass estimate
    ``mean_iβ (Σ_α w_α ΔZ*_iαβ)² / 3`` instead of the exact three-pass mean (about twice as fast per step).
    """
    graph, dipoles, cells, quanta, born = _collate(samples, model.dtype)
    dipoles = dipoles - torch.as_tensor(
        offset_dipoles(model, samples), dtype=dipoles.dtype, device=dipoles.device
    )
    if fold is True:
        fold = _fold_mask(samples)
    if bec_weight > 0 and bec_projection is not None:
        # unbiased one-pass estimate: E_w[(Σ_α w_α ΔZ_iαβ)²] = Σ_α ΔZ²_iαβ for random signs w (per structure)
        positions = graph.positions.detach().clone().requires_grad_(True)
        predicted = cell_dipoles(model(graph, positions=positions), graph)
        signs = bec_projection.to(predicted.dtype)
        (projected,) = torch.autograd.grad((predicted * signs).sum(), positions, create_graph=create_graph)
        target = torch.einsum('na,nab->nb', signs[graph.batch], born)
        bec_mse = (projected.to(predicted.dtype) - target).square().mean() / 3.0
    elif bec_weight > 0:
        _, predicted, z = dipoles_and_born_charges(model, graph, create_graph=create_graph)
        bec_mse = born_charge_loss(z, born)
    else:
        predicted = cell_dipoles(model(graph), graph)
        bec_mse = torch.zeros((), dtype=predicted.dtype, device=predicted.device)
    residual = dipole_residuals(predicted - dipoles, cells, quanta, fold)
    squared = residual.square()
    n_atoms = torch.bincount(graph.batch, minlength=graph.n_structures).to(squared.dtype)
    dipole_loss = (squared / n_atoms.unsqueeze(-1)).mean()
    loss = dipole_weight * dipole_loss + bec_weight * bec_mse
    parts = {
        'dipole_mse': float(squared.detach().mean()),
        'bec_mse': float(bec_mse.detach()),
        'residuals': residual.detach().cpu().to(torch.float64).numpy(),
        'cells': cells,
    }
    return loss, parts


def predict_samples(
    model: DipoleGNN, samples: Sequence[Sample], with_bec: bool, batch_size: int = 8
) -> tuple[np.ndarray, np.ndarray | None]:
    """Cell dipoles (B, 3) e·Å and, with ``with_bec``, Born charges (ΣN, 3, 3) e of the samples."""
    dipoles, borns = [], []
    for start in range(0, len(samples), batch_size):
        chunk = samples[start : start + batch_size]
        graph = batch_graphs([s.graph for s in chunk])
        if with_bec:
            _, d, z = dipoles_and_born_charges(model, graph)
            borns.append(z.cpu().numpy())
        else:
            with torch.inference_mode():
                d = cell_dipoles(model(graph), graph)
        dipoles.append(d.detach().cpu().numpy())
    return np.concatenate(dipoles), (np.concatenate(borns) if with_bec else None)


def evaluate_samples(
    model: DipoleGNN, samples: Sequence[Sample], batch_size: int = 8, fold: bool = True
) -> dict:
    """Dipole errors (e·Å; folded when ``fold``) and, where labelled, Born-charge errors (e) with parity data."""
    if not samples:
        return {'n_frames': 0}
    with_bec = all(s.born_charges is not None for s in samples)
    predicted, born = predict_samples(model, samples, with_bec, batch_size)
    labels = np.stack([s.dipole.cpu().numpy() for s in samples]) - offset_dipoles(model, samples)
    residual = dipole_residuals(
        torch.as_tensor(predicted - labels),
        np.stack([s.cell for s in samples]),
        np.array([s.charge_quantum for s in samples]),
        _fold_mask(samples) if fold is True else fold,
    ).numpy()
    out = {'n_frames': len(samples), 'n_atoms': int(sum(s.graph.n_atoms for s in samples))}
    out.update(error_metrics(residual, 'dipole', 'eA'))
    out['dipole_norm_mae_eA'] = float(np.mean(np.linalg.norm(residual, axis=1)))
    # parity data: the label moved to the branch closest to the prediction
    out['_parity_dipole'] = (predicted, predicted - residual)
    if with_bec:
        born_labels = np.concatenate([s.born_charges.cpu().numpy() for s in samples])
        out.update(error_metrics(born - born_labels, 'bec', 'e'))
        out['_parity_bec'] = (born, born_labels)
    return out


#: design columns of the bond-charge fit below this norm (weighted e·Å per unit coefficient) are treated as zero
BOND_COLUMN_FLOOR = 1e-8


def fit_bond_model(
    model: DipoleGNN,
    samples: Sequence[Sample],
    dipole_weight: float = 1.0,
    bec_weight: float = 1.0,
    max_frames: int = 64,
    rcond: float = TrainConfig.bond_rcond,
    choose_offset: bool = True,
    fold: bool = True,
) -> dict:
    """Least-squares fit of the radial bond-charge part and choice of the labels' reference offsets.

    1. With Born charges, fit ``B`` to them (single-valued labels).
    2. For each composition whose frames have no offset fixed by a labelled reference, choose the half-quantum
       offset ``q f``, ``f ∈ {0, ½}^3`` and invariant under the parent lattice
       (:func:`~aiida_flexo.gnn.reference.symmetric_half_quantum_vectors`), that minimises the dipole residuals
       (largest group first), and store them
       in ``model.config.label_offsets`` (the largest group's also in ``model.config.dipole_offset``).
    3. Refit ``B`` to Born charges and dipoles together (weights as in the training loss), re-folding the
       dipole labels onto the branch of the current fit.

    ``rcond``: relative singular-value cut-off of the (column-scaled) least squares (see ``TrainConfig.bond_rcond``).
    Sets ``model.bond_coefficients`` and returns a summary (RMS errors of the bond model on ``samples``, the
    cut-off and the largest coefficient).
    """
    subset = list(samples[:max_frames])
    seen = {s.composition for s in subset}
    for sample in samples[max_frames:]:  # every composition takes part in the choice of its offset
        if sample.composition not in seen:
            subset.append(sample)
            seen.add(sample.composition)
    designs = [model.bond_design(s.graph) for s in subset]
    dipole_rows = [d.numpy() for d, _ in designs]
    labels = np.stack([s.dipole.cpu().numpy() for s in subset])
    cells = np.stack([s.cell for s in subset])
    quanta = np.array([s.charge_quantum for s in subset])
    use_bec = bec_weight > 0 and all(s.born_charges is not None for s in subset)
    n_columns = dipole_rows[0].shape[1]
    if use_bec:
        bec_rows = np.concatenate([z.numpy() for _, z in designs])
        bec_labels = np.concatenate([s.born_charges.cpu().numpy().reshape(-1) for s in subset])
        bec_scale = math.sqrt(bec_weight / len(bec_labels))
    n_atoms = np.array([s.graph.n_atoms for s in subset], dtype=np.float64)
    dipole_scale = np.repeat(np.sqrt(dipole_weight / (labels.size * n_atoms)), 3)  # one weight per dipole row

    def solve(target_dipoles: np.ndarray | None) -> np.ndarray:
        rows, rhs = [], []
        if use_bec:
            rows.append(bec_scale * bec_rows)
            rhs.append(bec_scale * bec_labels)
        if target_dipoles is not None and dipole_weight > 0:
            rows.append(dipole_scale[:, None] * np.concatenate(dipole_rows))
            rhs.append(dipole_scale * target_dipoles.reshape(-1))
        a, b = np.concatenate(rows), np.concatenate(rhs)
        norms = np.linalg.norm(a, axis=0)
        # columns that vanish (same-species pairs: their bond charges cancel exactly) stay at zero; the absolute
        # floor matters when every column vanishes (an elemental crystal such as Si): relative to the largest
        # column alone, rounding noise would be fitted with enormous coefficients
        active = norms > max(1e-9 * norms.max(), BOND_COLUMN_FLOOR)
        solution = np.zeros(n_columns)
        scaled = a[:, active] / norms[active]
        solution[active] = np.linalg.lstsq(scaled, b, rcond=rcond)[0] / norms[active]  # SVD: minimum norm
        return solution

    fold_mask = _fold_mask(subset) if fold else np.zeros(len(subset), dtype=bool)
    counts: dict[str, int] = {}
    for sample in subset:
        if sample.fixed_offset is None:
            counts[sample.composition] = counts.get(sample.composition, 0) + 1
    groups = sorted(counts, key=lambda g: (-counts[g], g))
    group_offsets = {g: np.zeros(3) for g in groups}

    def predicted_dipoles(coefficients: np.ndarray) -> np.ndarray:
        return np.stack([rows @ coefficients for rows in dipole_rows])

    def folded(coefficients: np.ndarray) -> np.ndarray:
        shifts = np.stack(
            [
                (s.fixed_offset if s.fixed_offset is not None else group_offsets[s.composition]) @ s.cell
                for s in subset
            ]
        )
        residual = torch.as_tensor(predicted_dipoles(coefficients) - (labels - shifts))
        return dipole_residuals(residual, cells, quanta, fold_mask).numpy()

    coefficients = solve(None) if use_bec else np.zeros(n_columns)
    for group in groups if choose_offset else ():
        members = [s for s in subset if s.composition == group]
        quantum = float(min(s.charge_quantum for s in members))
        best = None
        for f in symmetric_half_quantum_vectors(np.mean([s.cell for s in members], axis=0)):
            group_offsets[group] = f * quantum
            trial = coefficients
            # without Born charges: fit the dipoles, re-folding the labels
            for _ in range(0 if use_bec else 4):
                trial = solve(predicted_dipoles(trial) - folded(trial))
            rms = float(np.sqrt(np.mean(folded(trial) ** 2)))
            if best is None or rms < best[0] - 1e-9:
                best = (rms, f * quantum, trial)
        group_offsets[group], coefficients = best[1], best[2]
    for _ in range(3):  # joint refit on Born charges and dipoles, labels on the branch of the current fit
        coefficients = solve(predicted_dipoles(coefficients) - folded(coefficients))
    offset = group_offsets[groups[0]] if groups else np.zeros(3)
    model.config.dipole_offset = [float(x) for x in offset]
    model.config.label_offsets = {g: [float(x) for x in v] for g, v in group_offsets.items()}
    with torch.no_grad():
        model.dipole_offset.copy_(torch.as_tensor(offset, dtype=model.dtype))
        model.bond_coefficients.copy_(
            torch.as_tensor(coefficients.reshape(model.bond_coefficients.shape), dtype=model.dtype)
        )
    summary = {
        'initial_dipole_offset_fractional': model.config.dipole_offset,
        'bond_model_dipole_rmse_eA': float(np.sqrt(np.mean(folded(coefficients) ** 2))),
        'bond_rcond': float(rcond),
        'bond_coefficient_max_eA': float(np.abs(coefficients).max()) if coefficients.size else 0.0,
    }
    if use_bec:
        summary['bond_model_bec_rmse_e'] = float(
            np.sqrt(np.mean((bec_rows @ coefficients - bec_labels) ** 2))
        )
    return summary


def update_reference_offset(model: DipoleGNN, residuals: np.ndarray, cells: np.ndarray) -> np.ndarray:
    """Move the reference offset ``f`` by the least-squares fractional shift that best removes the folded dipole
    residuals (B, 3) of frames with ``cells`` (B, 3, 3): ``r_b ≈ Δf · cell_b``. Returns the new ``f``."""
    lhs = np.einsum('bij,bkj->ik', cells, cells)
    rhs = np.einsum('bij,bj->i', cells, residuals)
    delta = np.linalg.solve(lhs, rhs)
    with torch.no_grad():
        model.dipole_offset.sub_(
            torch.as_tensor(delta, dtype=model.dipole_offset.dtype, device=model.dipole_offset.device)
        )
    return model.dipole_offset.detach().cpu().numpy()


def _write_log(path: Path, history: list[dict]) -> None:
    """Write the per-epoch log (CSV) atomically: a killed run leaves the previous complete log."""
    if not history:
        return
    keys = list(history[0])
    with atomic_path(path) as temporary, temporary.open('w', newline='') as handle:
        writer = csv.DictWriter(handle, fieldnames=keys)
        writer.writeheader()
        writer.writerows(history)


def _public(metrics: dict) -> dict:
    return {k: v for k, v in metrics.items() if not k.startswith('_')}


def check_split(split: Split, fractions: Sequence[float], source: str = 'frames') -> None:
    """Raise :class:`FramesError` when a validation or test set with a positive fraction got no frame."""
    empty = [
        name
        for name, fraction, subset in (
            ('validation', fractions[1], split.val),
            ('test', fractions[2], split.test),
        )
        if fraction > 0 and not subset
    ]
    if empty:
        n_frames = len(split.train) + len(split.val) + len(split.test)
        raise FramesError(
            f'{source}: {n_frames} frame(s) are too few for a train/validation/test split (the '
            f'{" and ".join(empty)} set would be empty): give at least 3 frames, or pass --val-fraction 0 '
            '--test-fraction 0 to train on all of them without held-out errors'
        )


def check_finite_loss(loss: torch.Tensor, epoch: int, step: int, lr: float, what: str = 'training') -> None:
    """Raise :class:`TrainingDivergedError` when ``loss`` is NaN or infinite (instead of saving a NaN model)."""
    if bool(torch.isfinite(loss.detach()).all()):
        return
    raise TrainingDivergedError(
        f'the {what} loss became {float(loss.detach())} at epoch {epoch}, step {step}: the training diverged and '
        f'no model was saved; lower --lr (now {lr:g}) or check the labels'
    )


@dataclass
class TrainingData:
    """The frames of a training, checked, on their label branches and split, as model-ready samples.

    ``val_set`` is the training set when there are no validation frames (the loss that picks the best model);
    ``checkpoint`` is the state to resume from and ``initial`` the model to fine-tune, when given.
    """

    frames: list[Atoms]
    samples: list[Sample]
    split: Split
    train_set: list[Sample]
    val_set: list[Sample]
    test_set: list[Sample]
    bec_weight: float
    fold: bool
    data_hash: str
    path_summary: dict
    reference_offsets: dict[str, list[float]]
    model_config: GNNConfig
    checkpoint: TrainingState | None = None
    initial: DipoleGNN | None = None


def prepare_data(
    frames: Sequence[Atoms],
    out_dir: Path,
    model_config: GNNConfig | None,
    train_config: TrainConfig,
    resume: bool,
    source: str,
) -> TrainingData:
    """Check the frames, put their labels on a branch (``train_config.label_branches``, decided here when
    ``None``), read the checkpoint (``resume``) or make the split, and build the samples; writes ``split.json``
    once every check passed (a refused run leaves ``out_dir`` empty). Raises as :func:`train`."""
    given_config = model_config
    model_config = copy.deepcopy(model_config) if model_config is not None else GNNConfig()
    check_frames(frames, require=('dipole',), source=source)
    data_hash = frames_hash(frames)
    path_summary: dict = {}
    if train_config.label_branches is None:
        train_config.label_branches = 'reference' if has_reference_frame(frames) else 'folded'
    if train_config.label_branches == 'reference':
        if not has_reference_frame(frames):
            raise FramesError(
                f"{source}: label_branches='reference' needs a labelled centrosymmetric reference frame (a path "
                'frame with path_fraction 0, sampled by flexo.sampling with `references`); add one or train '
                "with label_branches='folded'"
            )
        try:
            frames, path_summary = align_to_references(frames)
        except ValueError as exc:
            raise FramesError(f'{source}: {exc}') from exc
    frames, reference_offsets = share_reference_offsets(frames)
    if train_config.label_branches == 'perovskite-born':
        from aiida_flexo.polarization.perovskite import align_perovskite_dipoles

        try:
            frames = align_perovskite_dipoles(frames)
        except ValueError as exc:
            raise FramesError(
                f"{source}: label_branches='perovskite-born' needs ABO3 perovskite frames: {exc}"
            ) from exc
    fold = train_config.fold_labels
    if not model_config.species:
        model_config.species = species_of(frames)
    check_frames(frames, source=source, species=model_config.species)
    all_bec = all(has_label(a, 'born_charges') for a in frames)
    bec_weight = train_config.bec_weight
    if bec_weight is None:
        bec_weight = 1.0 if all_bec else 0.0
    if bec_weight > 0 and not all_bec:
        missing = [i for i, a in enumerate(frames) if not has_label(a, 'born_charges')]
        raise FramesError(
            f'{source}: --bec-weight {bec_weight} needs Born charges in every frame, but frame(s) '
            f'{missing[:10]} have no "born_charges"; label them or train with --bec-weight 0'
        )
    device = train_config.device
    checkpoint_path = out_dir / CHECKPOINT_NAME
    checkpoint = None
    if resume:
        checkpoint = read_checkpoint(checkpoint_path, device)
        if checkpoint.training_data_hash != data_hash:
            raise FramesError(
                f'--resume: {checkpoint_path} was trained on other data (hash {checkpoint.training_data_hash[:12]}'
                f' ≠ {data_hash[:12]}); use the same DATA file or start a new --out folder'
            )
        model_config = GNNConfig.from_dict(checkpoint.model_config)
        if given_config is not None:
            check_resume_config(model_config, given_config, checkpoint_path)
        split = Split(**{k: tuple(v) if k != 'seed' else v for k, v in checkpoint.split.items()})
    else:
        split = make_split(len(frames), train_config.fractions, seed=train_config.seed)
        check_split(split, train_config.fractions, source)
    initial = None
    if train_config.init_model and checkpoint is None:
        from aiida_flexo.gnn.io import read_model_file

        initial, _ = read_model_file(train_config.init_model, device)
        model_config = initial.config
        check_frames(frames, source=source, species=model_config.species)
    samples = make_samples(frames, model_config, device=device, source=source, fold=fold)
    split.to_json(out_dir / 'split.json')
    train_set = [samples[i] for i in split.train]
    return TrainingData(
        frames=list(frames),
        samples=samples,
        split=split,
        train_set=train_set,
        val_set=[samples[i] for i in split.val] or train_set,
        test_set=[samples[i] for i in split.test],
        bec_weight=bec_weight,
        fold=fold,
        data_hash=data_hash,
        path_summary=path_summary,
        reference_offsets=reference_offsets,
        model_config=model_config,
        checkpoint=checkpoint,
        initial=initial,
    )


def start_model(data: TrainingData, train_config: TrainConfig) -> tuple[DipoleGNN, dict]:
    """The model a new run starts from (seeded weights, calibrated standardisation, the least-squares bond-charge
    part and the labels' reference offsets; or the ``init_model`` to fine-tune), and the bond-charge fit's
    summary. A resumed run loads its checkpoint over it."""
    new = data.checkpoint is None and data.initial is None
    model_config = data.model_config
    if new:
        model_config.neighbour_norm = float(
            np.mean([s.graph.n_edges / s.graph.n_atoms for s in data.train_set]) if data.train_set else 16.0
        )
    torch.manual_seed(train_config.seed)
    model = DipoleGNN(model_config).to(train_config.device)
    init_parameters(model, seed=train_config.seed)
    bond_summary: dict = {}
    if data.initial is not None:
        model.load_state_dict(data.initial.state_dict())
    elif data.checkpoint is None:
        model.calibrate([s.graph for s in data.train_set[:16]])
    if new and train_config.fit_bond_model:
        bond_summary = fit_bond_model(
            model,
            data.train_set,
            train_config.dipole_weight,
            data.bec_weight,
            rcond=train_config.bond_rcond,
            choose_offset=train_config.reference_offset != 'zero',
            fold=data.fold,
        )
        if train_config.reference_offset == 'learned':  # one global offset, refined with the weights
            model.config.label_offsets = {}
    if new:
        model.config.label_offsets.update(data.reference_offsets)
    return model, bond_summary


@dataclass
class Optimisation:
    """The model being trained, its moving average (validated and returned), Adam and the plateau scheduler."""

    model: DipoleGNN
    ema: DipoleGNN
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.ReduceLROnPlateau
    n_steps: int = 0

    @property
    def lr(self) -> float:
        return float(self.optimizer.param_groups[0]['lr'])


def make_optimisation(model: DipoleGNN, train_config: TrainConfig) -> Optimisation:
    """Adam (the bond coefficients at ``bond_lr_factor`` × the learning rate), reduce-on-plateau, and the EMA copy
    (a copy of the weights when ``ema_decay`` = 0)."""
    network = [
        p for name, p in model.named_parameters() if name not in ('bond_coefficients', 'dipole_offset')
    ]
    groups = [
        {'params': network},
        {'params': [model.bond_coefficients], 'lr': train_config.lr * train_config.bond_lr_factor},
    ]
    optimizer = torch.optim.Adam(groups, lr=train_config.lr, weight_decay=train_config.weight_decay)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer,
        factor=train_config.lr_factor,
        patience=train_config.lr_patience,
        min_lr=train_config.min_lr,
    )
    ema = copy.deepcopy(model)
    for parameter in ema.parameters():
        parameter.requires_grad_(False)
    return Optimisation(model, ema, optimizer, scheduler)


def validation_loss(
    model: DipoleGNN, samples: Sequence[Sample], train_config: TrainConfig, bec_weight: float, fold: bool
) -> tuple[float, dict]:
    """The loss of ``model`` on ``samples`` and its parts (dipole and Born-charge MSE), frame-weighted means."""
    total, parts = 0.0, {'dipole_mse': 0.0, 'bec_mse': 0.0}
    for k in range(0, len(samples), train_config.batch_size):
        batch = samples[k : k + train_config.batch_size]
        loss, p = batch_loss(
            model, batch, train_config.dipole_weight, bec_weight, create_graph=False, fold=fold
        )
        total += float(loss.detach()) * len(batch)
        for key in parts:
            parts[key] += p[key] * len(batch)
    n = len(samples)
    return total / n, {k: v / n for k, v in parts.items()}


def train_epoch(
    opt: Optimisation,
    train_set: Sequence[Sample],
    train_config: TrainConfig,
    bec_weight: float,
    fold: bool,
    epoch: int,
) -> tuple[float, dict]:
    """One pass over the training frames in a seeded order (one optimiser step per batch, the EMA updated after
    each); the sums over frames of the loss and its parts. Raises :class:`TrainingDivergedError` on NaN."""
    opt.model.train()
    order = np.random.default_rng(train_config.seed * 100003 + epoch).permutation(len(train_set))
    total, sums = 0.0, {'dipole_mse': 0.0, 'bec_mse': 0.0}
    for k in range(0, len(order), train_config.batch_size):
        batch = [train_set[i] for i in order[k : k + train_config.batch_size]]
        opt.optimizer.zero_grad(set_to_none=True)
        signs = None
        if train_config.bec_estimator == 'projected' and bec_weight > 0:
            generator = torch.Generator().manual_seed(train_config.seed * 1_000_003 + epoch * 10_007 + k)
            signs = (torch.randint(0, 2, (len(batch), 3), generator=generator) * 2 - 1).to(
                train_config.device
            )
        loss, parts = batch_loss(
            opt.model,
            batch,
            train_config.dipole_weight,
            bec_weight,
            create_graph=True,
            bec_projection=signs,
            fold=fold,
        )
        check_finite_loss(loss, epoch, opt.n_steps + 1, opt.lr)
        loss.backward()
        opt.optimizer.step()
        opt.n_steps += 1
        decay = min(train_config.ema_decay, (1.0 + opt.n_steps) / (10.0 + opt.n_steps))
        with torch.no_grad():
            for averaged, current in zip(opt.ema.parameters(), opt.model.parameters()):
                averaged.lerp_(current, 1.0 - decay)
        total += float(loss.detach()) * len(batch)
        for key in sums:
            sums[key] += parts[key] * len(batch)
    return total, sums


def refine_learned_offset(opt: Optimisation, train_set: Sequence[Sample]) -> None:
    """``reference_offset='learned'``: the least-squares offset of the averaged model on the training frames,
    copied to the trained model."""
    predicted, _ = predict_samples(opt.ema, train_set, with_bec=False)
    labels = np.stack([s.dipole.cpu().numpy() for s in train_set])
    cells = np.stack([s.cell for s in train_set])
    shifted = labels - offset_dipoles(opt.ema, train_set)
    residuals = dipole_residuals(
        torch.as_tensor(predicted - shifted),
        cells,
        np.array([s.charge_quantum for s in train_set]),
        _fold_mask(train_set),
    ).numpy()
    update_reference_offset(opt.ema, residuals, cells)
    with torch.no_grad():
        opt.model.dipole_offset.copy_(opt.ema.dipole_offset)


def _stop_reason(opt: Optimisation, train_config: TrainConfig, bad_epochs: int, elapsed: float) -> str | None:
    if bad_epochs >= train_config.patience:
        return 'early stopping'
    if opt.lr <= train_config.min_lr * (1 + 1e-9) and bad_epochs >= train_config.lr_patience:
        return 'minimum learning rate'
    if train_config.max_time is not None and elapsed >= train_config.max_time:
        return 'max time'
    return None


def train(
    frames: Sequence[Atoms],
    out_dir: str | Path,
    model_config: GNNConfig | None = None,
    train_config: TrainConfig | None = None,
    resume: bool = False,
    progress: bool = True,
    source: str = 'frames',
    callback: Callable[[dict], None] | None = None,
) -> TrainResult:
    """Train a dipole GNN on labelled frames; write ``model.pt``, ``metrics.json``, ``split.json``, ``log.csv``.

    The steps: :func:`prepare_data` (checks, branches, split), :func:`start_model` (the linear bond-charge start),
    :func:`make_optimisation`, then per epoch :func:`train_epoch`, :func:`validation_loss` of the averaged model
    and a :class:`~aiida_flexo.gnn.checkpoint.TrainingState` written atomically; at the end
    :func:`training_metrics` and :func:`write_training_outputs`.

    Args:
        frames: normalized frames (:func:`aiida_flexo.data.read_frames`) with ``dipole`` labels and, for the
            Born-charge loss, ``born_charges``.
        out_dir: output folder (created).
        model_config: hyperparameters; ``species`` is filled from the frames when empty. On resume the
            checkpoint's are used; given ones must equal them (except the fields training sets itself).
        train_config: training settings.
        resume: continue from ``out_dir/checkpoint.pt`` (same data, split and settings).
        progress: show a progress bar (stderr).
        source: name of the data in error messages.
        callback: called with each epoch's log row.

    Raises:
        FramesError: missing or non-finite labels, non-periodic cells, unknown species, too few frames for the
            split, or a cutoff shorter than the shortest interatomic distance.
        CheckpointError: ``resume`` from an unreadable checkpoint, or with other hyperparameters than its own.
        TrainingDivergedError: the loss became NaN or infinite (no model is saved).
    """
    train_config = copy.deepcopy(train_config) if train_config is not None else TrainConfig()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    data = prepare_data(frames, out_dir, model_config, train_config, resume, source)
    if train_config.threads:
        torch.set_num_threads(int(train_config.threads))
    model, bond_summary = start_model(data, train_config)
    opt = make_optimisation(model, train_config)
    checkpoint = data.checkpoint
    history: list[dict] = []
    start_epoch, best_epoch, bad_epochs, elapsed_before = 0, -1, 0, 0.0
    if checkpoint is not None:
        opt.model.load_state_dict(checkpoint.model)
        opt.ema.load_state_dict(checkpoint.ema)
        opt.n_steps = checkpoint.n_steps
        opt.optimizer.load_state_dict(checkpoint.optimizer)
        opt.scheduler.load_state_dict(checkpoint.scheduler)
        history = checkpoint.history
        start_epoch = checkpoint.epoch + 1
        best_val, best_state = checkpoint.best_val, checkpoint.best_state
        best_epoch, bad_epochs = checkpoint.best_epoch, checkpoint.bad_epochs
        elapsed_before = checkpoint.elapsed
        bond_summary = checkpoint.bond_summary
    else:  # the starting point (bond-charge model) is the first candidate for the best model
        opt.ema.eval()
        best_val, _ = validation_loss(opt.ema, data.val_set, train_config, data.bec_weight, data.fold)
        best_state = copy.deepcopy(opt.ema.state_dict())
    started = time.perf_counter()
    stop_reason = 'epochs'
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=train_config.epochs, initial=start_epoch, desc='gnn train', unit='epoch', leave=True)
    for epoch in range(start_epoch, train_config.epochs):
        t0 = time.perf_counter()
        train_total, train_sums = train_epoch(
            opt, data.train_set, train_config, data.bec_weight, data.fold, epoch
        )
        opt.ema.eval()
        if train_config.reference_offset == 'learned':
            refine_learned_offset(opt, data.train_set)
        v_loss, v_parts = validation_loss(opt.ema, data.val_set, train_config, data.bec_weight, data.fold)
        check_finite_loss(torch.tensor(v_loss), epoch, opt.n_steps, opt.lr, 'validation')
        opt.scheduler.step(v_loss)
        if v_loss < best_val:
            best_val, best_state, best_epoch, bad_epochs = (
                v_loss,
                copy.deepcopy(opt.ema.state_dict()),
                epoch,
                0,
            )
        else:
            bad_epochs += 1
        n_train = max(len(data.train_set), 1)
        row = {
            'epoch': epoch,
            'lr': opt.lr,
            'train_loss': train_total / n_train,
            'train_dipole_rmse_eA': math.sqrt(train_sums['dipole_mse'] / n_train),
            'train_bec_rmse_e': math.sqrt(train_sums['bec_mse'] / n_train),
            'val_loss': v_loss,
            'val_dipole_rmse_eA': math.sqrt(v_parts['dipole_mse']),
            'val_bec_rmse_e': math.sqrt(v_parts['bec_mse']),
            'best_epoch': best_epoch,
            'epoch_time_s': time.perf_counter() - t0,
        }
        history.append(row)
        _write_log(out_dir / 'log.csv', history)
        elapsed = elapsed_before + time.perf_counter() - started
        TrainingState(
            model=opt.model.state_dict(),
            ema=opt.ema.state_dict(),
            n_steps=opt.n_steps,
            optimizer=opt.optimizer.state_dict(),
            scheduler=opt.scheduler.state_dict(),
            epoch=epoch,
            best_val=best_val,
            best_state=best_state,
            best_epoch=best_epoch,
            bad_epochs=bad_epochs,
            history=history,
            elapsed=elapsed,
            model_config=opt.model.config.as_dict(),
            train_config=asdict(train_config),
            split=data.split.as_dict(),
            training_data_hash=data.data_hash,
            bond_summary=bond_summary,
        ).save(out_dir / CHECKPOINT_NAME)
        if bar is not None:
            bar.update(1)
            bar.set_postfix(
                val_d=f'{row["val_dipole_rmse_eA"]:.4f}',
                val_z=f'{row["val_bec_rmse_e"]:.4f}',
                lr=f'{opt.lr:.1e}',
            )
        if callback is not None:
            callback(row)
        reason = _stop_reason(opt, train_config, bad_epochs, elapsed)
        if reason is not None:
            stop_reason = reason
            break
    if bar is not None:
        bar.close()
    model = opt.model
    model.load_state_dict(best_state)
    model.eval()
    model.dipole_offset.requires_grad_(False)
    model.config.dipole_offset = [float(x) for x in model.dipole_offset.detach().cpu()]
    run = {
        'epochs_run': len(history),
        'resumed_from_epoch': start_epoch if checkpoint is not None else None,
        'best_epoch': best_epoch,
        'stop_reason': stop_reason,
        'train_wall_time_s': elapsed_before + time.perf_counter() - started,
    }
    metrics, evaluations = training_metrics(model, data, train_config, run, bond_summary)
    write_training_outputs(out_dir, model, data, metrics, evaluations)
    return TrainResult(
        model=model, split=data.split, metrics=metrics, history=history, training_data_hash=data.data_hash
    )


def training_metrics(
    model: DipoleGNN, data: TrainingData, train_config: TrainConfig, run: dict, bond_summary: dict
) -> tuple[dict, dict]:
    """``metrics.json`` of a finished training (the run's figures ``run``, the settings, the errors per subset,
    the spontaneous polarization, the warnings, which are also issued) and the per-subset evaluations."""
    split = data.split
    metrics: dict = {
        'n_frames': len(data.frames),
        'n_train': len(split.train),
        'n_val': len(split.val),
        'n_test': len(split.test),
        **run,
        'bec_weight': data.bec_weight,
        'dipole_offset_fractional': model.config.dipole_offset,
        'label_offsets': model.config.label_offsets,
        'reference_offset': train_config.reference_offset,
        'label_branches': train_config.label_branches,
        'dipole_weight': train_config.dipole_weight,
        'n_parameters': model.n_parameters(),
        **bond_summary,
        'training_data_hash': data.data_hash,
        'units': {'dipole': 'e·Å', 'bec': 'e', 'time': 's'},
    }
    evaluations = {}
    subsets = (
        ('train', data.train_set),
        ('val', [data.samples[i] for i in split.val]),
        ('test', data.test_set),
    )
    for name, subset in subsets:
        evaluations[name] = evaluate_samples(model, subset, fold=data.fold)
        for key, value in _public(evaluations[name]).items():
            metrics[f'{name}_{key}'] = value
    metrics['spontaneous_polarization'] = spontaneous_polarization_report(
        model, data.frames, data.path_summary
    )
    metrics['warnings'] = offset_warnings(model, data.train_set, train_config.reference_offset)
    metrics['label_mean_deviation_eA'] = label_mean_deviation(data.samples)
    metrics['warnings'] += learned_little_warnings(metrics)
    for message in metrics['warnings']:
        warnings.warn(message, stacklevel=3)
    metrics['model_config'] = model.config.as_dict()
    metrics['train_config'] = asdict(train_config)
    return metrics, evaluations


def write_training_outputs(
    out_dir: Path, model: DipoleGNN, data: TrainingData, metrics: dict, evaluations: dict
) -> None:
    """``metrics.json``, ``model.pt`` and the parity plot (a failed plot is noted, never loses the model)."""
    from aiida_flexo.gnn.io import save_model

    write_text(out_dir / 'metrics.json', json.dumps(metrics, indent=2))
    save_model(
        out_dir / 'model.pt',
        model,
        training_data_hash=data.data_hash,
        split=data.split,
        metrics=_public_metrics(metrics),
    )
    try:
        from aiida_flexo.gnn.plots import parity_plot

        held_out = 'test' if data.split.test else 'val'
        parity_plot(out_dir / 'parity.png', evaluations[held_out], title=f'dipole GNN, {held_out} set')
    except Exception as exc:  # noqa: BLE001 - the plot must not lose a finished training
        (out_dir / 'parity.error.txt').write_text(f'parity plot failed: {type(exc).__name__}: {exc}\n')


def share_reference_offsets(frames: Sequence[Atoms]) -> tuple[list[Atoms], dict[str, list[float]]]:
    """Frames of a composition that a labelled reference fixed the offset of take that offset too.

    Returns the frames (copies where changed) and the offsets by composition, ``q f`` in e (what the model keeps in
    :attr:`GNNConfig.label_offsets` to compare new frames of those compositions with their labels).
    """
    known: dict[str, list[float]] = {}
    for atoms in frames:
        offset = fixed_offset(atoms)
        if offset is not None:
            known.setdefault(composition_key(atoms), [float(x) for x in offset])
    out = []
    for atoms in frames:
        key = composition_key(atoms)
        if key in known and 'reference_offset' not in atoms.info:
            atoms = atoms.copy()
            quantum = float(atoms.info.get('charge_quantum', 1.0))
            atoms.info['reference_offset'] = [x / quantum for x in known[key]]
        out.append(atoms)
    return out, known


#: a held-out dipole MAE above this fraction of the labels' mean deviation: the model learned little
LEARNED_LITTLE_FRACTION = 0.5


def label_mean_deviation(samples: Sequence[Sample]) -> float:
    """Mean |d − ⟨d⟩| of the dipole labels (e·Å, per component): the MAE of a model that predicts the mean."""
    if not samples:
        return float('nan')
    labels = np.stack([s.dipole.detach().cpu().numpy() for s in samples])
    return float(np.abs(labels - labels.mean(axis=0)).mean())


def learned_little_warnings(metrics: dict) -> list[str]:
    """A warning when the held-out dipole MAE (test, else validation) is above :data:`LEARNED_LITTLE_FRACTION`
    of the labels' mean deviation: such a model predicts little more than a constant (seen on Si, whose meÅ
    dipoles can stall a training on its first plateau until the learning rate has decayed), and a μ from it is
    noise."""
    scale = metrics.get('label_mean_deviation_eA')
    for split in ('test', 'val'):
        mae = metrics.get(f'{split}_dipole_mae_eA')
        if mae is not None and np.isfinite(mae) and scale and np.isfinite(scale):
            if mae > LEARNED_LITTLE_FRACTION * scale:
                return [
                    f"the {split} dipole MAE {mae:.3g} e·Å is {mae / scale:.2f} of the labels' mean deviation "
                    f'{scale:.3g} e·Å: the model learned little beyond a constant, and a μ or map from it is noise; '
                    'train longer (more --patience), with more frames, or another --seed'
                ]
            return []
    return []


def offset_warnings(model: DipoleGNN, samples: Sequence[Sample], mode: str) -> list[str]:
    """Warnings about an offset no centrosymmetric reference can have (a learned offset off {0, ½})."""
    if mode != 'learned' or not samples:
        return []
    quantum = min(s.charge_quantum for s in samples)
    offset = model.dipole_offset.detach().cpu().to(torch.float64).numpy()
    distance = off_half_quantum(offset, quantum)
    if distance <= OFF_HALF_QUANTUM_WARNING:
        return []
    fractions = np.round(np.mod(offset / quantum, 1.0), 3).tolist()
    return [
        f'the learned reference offset ended at {fractions} of a quantum, {distance:.2f} away from 0 or ½: no '
        'centrosymmetric reference has such a dipole, so it absorbs the error of the phase the frames sample and '
        "the absolute polarization of other phases is wrong; train with reference_offset='reference' (default)"
    ]


def spontaneous_polarization_report(model: DipoleGNN, frames: Sequence[Atoms], path_summary: dict) -> dict:
    """Per path from a labelled reference: the end point's polarization (C/m²) from DFT and from the model.

    ``frames``: the frames :func:`~aiida_flexo.polarization.reference.align_to_references` returned with
    ``path_summary`` (its ``end_frame`` indices point into them).

    The DFT value is the label on the branch continuous from the reference minus the reference's half-quantum
    offset; the model's is its own dipole (zero at the centrosymmetric reference) over the volume.
    """
    from aiida_flexo.gnn.predict import DipolePredictor

    report = {}
    predictor = DipolePredictor(model)
    for reference, summary in path_summary.items():
        for path, record in summary['paths'].items():
            if (
                path == reference or 'end_frame' not in record
            ):  # the reference on its own: zero by construction
                continue
            end = frames[record['end_frame']]
            model_p = units.dipole_to_polarization(predictor.dipoles([end])[0], end.get_volume())
            dft_p = np.asarray(record['spontaneous_polarization_C_m2'])
            report[path] = {
                'reference': reference,
                'formula': end.get_chemical_formula(),
                'dft_C_m2': dft_p.tolist(),
                'model_C_m2': model_p.tolist(),
                'error_norm_C_m2': float(np.linalg.norm(model_p - dft_p)),
                'max_jump_fraction_of_quantum': record['max_jump_fraction_of_quantum'],
            }
    return report


def _public_metrics(metrics: dict) -> dict:
    return {k: v for k, v in metrics.items() if isinstance(v, (int, float, str))}
