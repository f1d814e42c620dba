"""Reference offsets of the dipole labels: which half quantum each frame's label is measured from.

The model's cell dipole is a sum of local terms, zero on a centrosymmetric structure; a Berry-phase label of that
structure sits at ``f · q e R`` with ``f`` 0 or ½ along each lattice vector
(:mod:`aiida_flexo.polarization.reference`). The model is therefore compared with ``label − offset`` where, for a
frame (first match wins):

1. ``info['reference_offset']`` (fractions ``f``, set when its label was aligned to a labelled centrosymmetric
   reference): ``q f``;
2. the offset chosen for its composition at training (:attr:`GNNConfig.label_offsets`, the best of the half-quantum
   vectors allowed by the symmetry of the parent lattice (:func:`symmetric_half_quantum_vectors`) for the training
   frames of that formula; a property of the cell's reference, never a continuous parameter);
3. :attr:`GNNConfig.dipole_offset` (the offset of the largest training group, or the learned offset of
   ``reference_offset='learned'``).

Offsets are stored in e (``q f``, per lattice vector); ``offset @ cell`` is the dipole in e·Å.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from ase import Atoms

#: the eight half-quantum vectors f ∈ {0, ½}³
HALF_QUANTUM_VECTORS = 0.5 * np.array(np.meshgrid([0, 1], [0, 1], [0, 1], indexing='ij')).reshape(3, -1).T


def composition_key(atoms: Atoms) -> str:
    """The group of frames that share one reference offset: their chemical formula (Hill order, with counts)."""
    return atoms.get_chemical_formula(mode='hill')


def fixed_offset(atoms: Atoms) -> np.ndarray | None:
    """``q f`` (3,), e, from ``info['reference_offset']`` (a label aligned to a labelled reference), else None."""
    if 'reference_offset' not in atoms.info:
        return None
    return float(atoms.info.get('charge_quantum', 1.0)) * np.asarray(
        atoms.info['reference_offset'], dtype=float
    )


def frame_offset(
    composition: str, fixed: np.ndarray | None, label_offsets: dict[str, Sequence[float]], default: np.ndarray
) -> np.ndarray:
    """The reference offset (3,), e, of one frame by the rule of this module."""
    if fixed is not None:
        return np.asarray(fixed, dtype=float)
    if composition in label_offsets:
        return np.asarray(label_offsets[composition], dtype=float)
    return np.asarray(default, dtype=float)


def frames_offset_dipoles(frames: Sequence[Atoms], config, default: np.ndarray) -> np.ndarray:
    """Offset dipoles ``offset @ cell`` (B, 3), e·Å, of frames for a model with ``config`` (a GNNConfig)."""
    out = []
    for atoms in frames:
        offset = frame_offset(composition_key(atoms), fixed_offset(atoms), config.label_offsets, default)
        out.append(offset @ np.asarray(atoms.cell[:], dtype=float))
    return np.stack(out) if out else np.zeros((0, 3))


def off_half_quantum(offset: np.ndarray, charge_quantum: float) -> float:
    """How far (fraction of a quantum, largest over the lattice vectors) an offset in e is from {0, ½}."""
    doubled = 2.0 * np.asarray(offset, dtype=float) / charge_quantum
    return float(np.max(np.abs(doubled - np.rint(doubled))) / 2.0)


#: lattice vectors whose lengths differ by less than this (relative) and that are near 90° to each other are taken
#: as equivalent vectors of a (pseudo)cubic parent (a tetragonal phase of a cubic perovskite: c/a up to ~1.09)
PARENT_TOLERANCE = 0.1


def symmetric_half_quantum_vectors(cell: np.ndarray, tolerance: float = PARENT_TOLERANCE) -> np.ndarray:
    """The half-quantum vectors a centrosymmetric parent of this cell can have (rows, fractions of the quantum).

    The reference is invariant under the point group of the parent, so lattice vectors that the parent maps onto
    each other carry the same fraction: for a (pseudo)cubic cell (three near-equal, near-orthogonal lattice vectors,
    e.g. the 3×3×3 supercell of a tetragonal perovskite) only (0, 0, 0) and (½, ½, ½) remain; an elongated supercell
    (1×1×2) keeps its long vector free. Without this, the best of the eight vectors on frames of one polar phase
    (say f = (0, 0, ½) in a cubic-parent cell) absorbs the model's error along the polar axis like a learned offset.
    """
    cell = np.asarray(cell, dtype=float)
    lengths = np.linalg.norm(cell, axis=1)
    cosines = np.abs(cell @ cell.T) / np.outer(lengths, lengths)
    equivalent = (np.abs(lengths[:, None] / lengths[None, :] - 1.0) < tolerance) & (
        (cosines < 0.1) | np.eye(3, dtype=bool)
    )
    allowed = [
        f
        for f in HALF_QUANTUM_VECTORS
        if all(f[i] == f[j] for i in range(3) for j in range(3) if equivalent[i, j] and equivalent[j, i])
    ]
    return np.array(allowed)
