"""Errors of a trained dipole GNN on labelled frames, and prediction records for the CLI."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from ase import Atoms

from aiida_flexo.data import has_label
from aiida_flexo.gnn.losses import error_metrics, fold_residuals
from aiida_flexo.gnn.predict import DipolePredictor
from aiida_flexo.gnn.reference import frames_offset_dipoles
from aiida_flexo.units import dipole_to_polarization


def reference_offsets(predictor: DipolePredictor, frames: Sequence[Atoms]) -> np.ndarray:
    """The labels' reference offsets ``offset · cell`` (B, 3), e·Å, of frames (:mod:`aiida_flexo.gnn.reference`)."""
    default = predictor.model.dipole_offset.detach().cpu().to(torch.float64).numpy()
    return frames_offset_dipoles(frames, predictor.model.config, default)


def evaluate_frames(predictor: DipolePredictor, frames: Sequence[Atoms], with_parity: bool = False) -> dict:
    """Folded dipole errors (e·Å) and, when every frame has Born charges, Born-charge errors (e).

    Keys: ``n_frames``, ``n_atoms``, ``dipole_mae_eA``, ``dipole_rmse_eA``, ``dipole_max_eA``,
    ``dipole_norm_mae_eA`` (mean length of the residual vector) and ``bec_mae_e``, ``bec_rmse_e``, ``bec_max_e``.
    The dipole residual is folded to its minimum image over each frame's lattice of quanta, after removing the
    model's reference offset (see :class:`aiida_flexo.gnn.GNNConfig`).
    """
    cells = np.stack([np.asarray(a.cell[:], dtype=np.float64) for a in frames])
    quanta = np.array([float(a.info.get('charge_quantum', 1.0)) for a in frames])
    labels = np.stack([np.asarray(a.info['dipole'], dtype=np.float64) for a in frames])
    predicted = predictor.dipoles(frames) + reference_offsets(predictor, frames)
    residual = fold_residuals(torch.as_tensor(predicted - labels), cells, quanta).numpy()
    out = {'n_frames': len(frames), 'n_atoms': int(sum(len(a) for a in frames))}
    out.update(error_metrics(residual, 'dipole', 'eA'))
    out['dipole_norm_mae_eA'] = float(np.mean(np.linalg.norm(residual, axis=1)))
    if with_parity:
        out['_parity_dipole'] = (predicted, predicted - residual)
    if frames and all(has_label(a, 'born_charges') for a in frames):
        born = np.concatenate(predictor.born_charges_many(frames))
        born_labels = np.concatenate([np.asarray(a.arrays['born_charges']) for a in frames])
        out.update(error_metrics(born - born_labels, 'bec', 'e'))
        if with_parity:
            out['_parity_bec'] = (born, born_labels)
    return out


def prediction_record(
    predictor: DipolePredictor,
    atoms: Atoms,
    per_atom: bool = True,
    born_charges: bool = False,
    where: str = '',
) -> dict:
    """Dipole (e·Å), polarization (C/m²), volume (Å³) and optionally per-atom dipoles and Born charges of one
    structure, as JSON-ready lists."""
    volume = abs(float(atoms.cell.volume))
    p = predictor.per_atom_dipoles(atoms)
    d = p.sum(0)
    record = {
        'n_atoms': len(atoms),
        'volume_A3': volume,
        'dipole_eA': d.tolist(),
        'polarization_C_m2': dipole_to_polarization(d, volume).tolist(),
        'reference_offset_eA': reference_offsets(predictor, [atoms])[0].tolist(),
        'symbols': atoms.get_chemical_symbols(),
    }
    if per_atom:
        record['per_atom_dipoles_eA'] = p.tolist()
    if born_charges:
        z = predictor.born_charges(atoms)
        record['born_charges_e'] = z.tolist()
        record['asr_residual_e'] = z.sum(0).tolist()
    return record
