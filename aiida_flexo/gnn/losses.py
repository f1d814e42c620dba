"""Losses and error metrics on multivalued Berry-phase dipoles (folded residuals) and Born charges.

A Berry-phase dipole label is known only modulo the lattice of quanta ``q e R`` of its cell
(:mod:`aiida_flexo.polarization`). The dipole loss therefore compares prediction and label through the
minimum image of their residual: the closest lattice vector of quanta is found without gradient (it is
piecewise constant) and subtracted, so the loss is unchanged when any multiple of ``q e R`` is added to a
label, for any cell shape (the search is done on a Minkowski-reduced lattice).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from aiida_flexo.polarization import lattice_shift


def fold_residuals(
    residuals: torch.Tensor,
    cells: Sequence[np.ndarray] | np.ndarray,
    charge_quanta: Sequence[float] | np.ndarray,
) -> torch.Tensor:
    """Minimum images ``r − q e R*`` of dipole residuals (B, 3), e·Å, over each frame's lattice of quanta.

    Args:
        residuals: (B, 3) prediction − label, e·Å (may carry gradients; the shift does not).
        cells: (B, 3, 3) lattice vectors (rows, Å) of each frame.
        charge_quanta: (B,) charge quantum q (e) of each frame.
    """
    values = residuals.detach().cpu().to(torch.float64).numpy()
    cells = np.asarray(cells, dtype=np.float64).reshape(-1, 3, 3)
    quanta = np.broadcast_to(np.asarray(charge_quanta, dtype=np.float64), (len(values),))
    shifts = np.stack([lattice_shift(r, cell, q) for r, cell, q in zip(values, cells, quanta)])
    return residuals - torch.as_tensor(shifts, dtype=residuals.dtype, device=residuals.device)


def folded_dipole_loss(
    predicted: torch.Tensor,
    label: torch.Tensor,
    cells: Sequence[np.ndarray] | np.ndarray,
    charge_quanta: Sequence[float] | np.ndarray,
    n_atoms: Sequence[int] | np.ndarray | None = None,
) -> torch.Tensor:
    """Mean squared folded dipole residual per component, (e·Å)²; divided by each frame's number of atoms
    when ``n_atoms`` is given (the per-atom normalisation of an extensive quantity, (e·Å)²/atom)."""
    squared = fold_residuals(predicted - label, cells, charge_quanta).square()
    if n_atoms is not None:
        squared = squared / torch.as_tensor(
            np.asarray(n_atoms, dtype=np.float64), dtype=squared.dtype, device=squared.device
        ).unsqueeze(-1)
    return squared.mean()


def born_charge_loss(predicted: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
    """Mean squared Born-charge error per tensor component, e²."""
    return (predicted - label).square().mean()


def error_metrics(errors: np.ndarray, prefix: str, unit: str) -> dict[str, float]:
    """``{prefix}_mae_{unit}``, ``{prefix}_rmse_{unit}`` and ``{prefix}_max_{unit}`` over all components."""
    errors = np.asarray(errors, dtype=np.float64).reshape(-1)
    if errors.size == 0:
        return {}
    return {
        f'{prefix}_mae_{unit}': float(np.mean(np.abs(errors))),
        f'{prefix}_rmse_{unit}': float(np.sqrt(np.mean(errors**2))),
        f'{prefix}_max_{unit}': float(np.max(np.abs(errors))),
    }
