"""The lattice of polarization quanta and minimum-image folding of dipole residuals.

A Berry-phase cell dipole ``d`` (e·Å) is defined only modulo the lattice ``{q e R}`` where ``R`` runs over the
lattice vectors of the cell and ``q`` is the *charge quantum*: 1 in general, 2 for spin-paired electrons with even
ionic charges (GPAW reports the latter). Two dipoles of the same structure can only be compared through the
minimum image of their difference over that lattice. Folding with ``q = 1`` is always safe as long as the true
residual stays below half a quantum.

For non-orthogonal cells rounding the fractional coordinates of a residual is *not* enough: the lattice is first
Minkowski-reduced and the 27 neighbouring images of the rounded point are searched (the same algorithm as
:func:`ase.geometry.find_mic`, which does this for interatomic distance vectors).
"""

from __future__ import annotations

import itertools

import numpy as np
from ase.geometry import minkowski_reduce

#: Charge quantum (in e) that is always safe to fold with.
SAFE_CHARGE_QUANTUM = 1.0

_NEIGHBOUR_SHIFTS = np.array(list(itertools.product((-1, 0, 1), repeat=3)), dtype=float)


def _as_cell(cell: np.ndarray) -> np.ndarray:
    cell = np.asarray(cell, dtype=float)
    if cell.shape != (3, 3):
        raise ValueError(f'a cell must be a 3×3 matrix of lattice vectors (rows, Å), got shape {cell.shape}')
    volume = abs(np.linalg.det(cell))
    if volume < 1e-8:
        raise ValueError(
            'the cell is singular or not periodic in 3D (volume ≈ 0): polarization quanta need a 3D periodic '
            'cell; give the structure three lattice vectors'
        )
    return cell


def quantum_lattice(cell: np.ndarray, charge_quantum: float = SAFE_CHARGE_QUANTUM) -> np.ndarray:
    """Lattice of dipole quanta ``q e R_i`` (rows, e·Å) of a cell given as rows of lattice vectors in Å."""
    if charge_quantum <= 0:
        raise ValueError(f'charge_quantum must be positive (1 or 2 e), got {charge_quantum}')
    return charge_quantum * _as_cell(cell)


def polarization_quanta(cell: np.ndarray, charge_quantum: float = SAFE_CHARGE_QUANTUM) -> np.ndarray:
    """Lattice of polarization quanta ``q e R_i / Ω`` (rows, e/Å²)."""
    cell = _as_cell(cell)
    return quantum_lattice(cell, charge_quantum) / abs(np.linalg.det(cell))


def closest_lattice_vector(vectors: np.ndarray, lattice: np.ndarray) -> np.ndarray:
    """The vector of the lattice spanned by the rows of ``lattice`` closest to each vector (same shape).

    Works for any non-singular lattice (triclinic included): the basis is Minkowski-reduced and the 27 images
    around the rounded fractional coordinates are searched, which is exact for a reduced basis in 3D.
    """
    lattice = np.asarray(lattice, dtype=float)
    if lattice.shape != (3, 3) or abs(np.linalg.det(lattice)) == 0.0:
        raise ValueError(f'the lattice of quanta must be a non-singular 3×3 matrix, got {lattice!r}')
    vectors = np.asarray(vectors, dtype=float)
    flat = vectors.reshape(-1, 3)
    reduced, _ = minkowski_reduce(lattice)
    base = np.rint(np.linalg.solve(reduced.T, flat.T).T)
    candidates = (base[:, None, :] + _NEIGHBOUR_SHIFTS[None, :, :]) @ reduced  # (n, 27, 3)
    distance = np.linalg.norm(flat[:, None, :] - candidates, axis=-1)
    best = candidates[np.arange(len(flat)), np.argmin(distance, axis=1)]
    return best.reshape(vectors.shape)


def lattice_shift(
    residual: np.ndarray, cell: np.ndarray, charge_quantum: float = SAFE_CHARGE_QUANTUM
) -> np.ndarray:
    """The lattice vector of dipole quanta ``q e R`` closest to ``residual`` (same shape, e·Å).

    ``residual - lattice_shift(residual, ...)`` is the minimum image. ``residual`` may be a 3-vector or an
    ``(n, 3)`` array of residuals that share the cell.
    """
    return closest_lattice_vector(residual, quantum_lattice(cell, charge_quantum))


def minimum_image(
    residual: np.ndarray, cell: np.ndarray, charge_quantum: float = SAFE_CHARGE_QUANTUM
) -> np.ndarray:
    """Minimum image (e·Å) of a dipole residual over the lattice of quanta ``q e R``."""
    residual = np.asarray(residual, dtype=float)
    return residual - lattice_shift(residual, cell, charge_quantum)


def minimum_image_batch(
    residuals: np.ndarray, cells: np.ndarray, charge_quanta: np.ndarray | float = SAFE_CHARGE_QUANTUM
) -> np.ndarray:
    """Minimum images of ``(n, 3)`` residuals, each with its own cell ``(n, 3, 3)`` and charge quantum."""
    residuals = np.asarray(residuals, dtype=float).reshape(-1, 3)
    cells = np.asarray(cells, dtype=float).reshape(-1, 3, 3)
    quanta = np.broadcast_to(np.asarray(charge_quanta, dtype=float), (len(residuals),))
    if len(cells) != len(residuals):
        raise ValueError(f'{len(residuals)} residuals but {len(cells)} cells')
    return np.stack([minimum_image(r, c, q) for r, c, q in zip(residuals, cells, quanta)])


def half_quantum_margin(
    residual: np.ndarray, cell: np.ndarray, charge_quantum: float = SAFE_CHARGE_QUANTUM
) -> float:
    """Distance (e·Å) between the nearest and the second-nearest image of ``residual``.

    Zero means the residual sits exactly half-way between two images (a centrosymmetric cell on a half quantum,
    e.g. diamond Si with valence charges): its folded value is then ambiguous and a reference phase must be used.
    """
    quanta = quantum_lattice(cell, charge_quantum)
    reduced, _ = minkowski_reduce(quanta)
    residual = np.asarray(residual, dtype=float).reshape(3)
    base = np.rint(np.linalg.solve(reduced.T, residual))
    shifts = np.array(list(itertools.product((-2, -1, 0, 1, 2), repeat=3)), dtype=float)
    distance = np.sort(np.linalg.norm(residual - (base + shifts) @ reduced, axis=-1))
    return float(distance[1] - distance[0])
