"""Frames moved by a point operation of a cubic parent (a signed permutation of the axes), labels included.

The check of an equivariant dipole model with a physical reference: a frame polarized along +z, turned so that it is
polarized along x or −z, must get the turned dipole. The operated frame is written as a user would write it: lattice
vectors back along +x, +y, +z (rows re-ordered and re-signed), atoms wrapped into the cell.
"""

from __future__ import annotations

import numpy as np
from ase import Atoms

#: a few operations of the cubic group (Cartesian 3×3, rows: new axes): names as the polarization +z goes
CUBIC_OPERATIONS: dict[str, np.ndarray] = {
    'z_to_x': np.array([[0, 0, 1], [0, 1, 0], [-1, 0, 0]], dtype=float),  # proper rotation: +z → +x
    'z_to_-z': np.diag([1.0, 1.0, -1.0]),  # mirror
    'z_to_y': np.array([[1, 0, 0], [0, 0, 1], [0, -1, 0]], dtype=float),  # proper rotation: +z → +y
    'inversion': -np.eye(3),
}


def _check_operation(rotation: np.ndarray) -> np.ndarray:
    rotation = np.asarray(rotation, dtype=float)
    if (
        rotation.shape != (3, 3)
        or not np.allclose(np.abs(rotation).sum(0), 1)
        or not np.allclose(np.abs(rotation).sum(1), 1)
    ):
        raise ValueError(f'a cubic point operation is a signed permutation matrix, got {rotation.tolist()}')
    return rotation


def apply_point_operation(atoms: Atoms, rotation: np.ndarray) -> Atoms:
    """A copy of a labelled frame moved by ``rotation`` (a signed permutation matrix; Cartesian ``r → R r``).

    Positions, cell, forces (eV/Å), Born charges (``R Z R^T``, e), stress and polarizability (``R σ R^T``) and the dipole (``R d``,
    e·Å) are transformed; the lattice vectors are re-ordered and re-signed to point along +x, +y, +z again (the cell
    is the same lattice), and the atoms wrapped into it. The dipole stays a valid Berry-phase label (the lattice of
    quanta is the transformed one).
    """
    rotation = _check_operation(rotation)
    cell = np.asarray(atoms.cell[:], dtype=float) @ rotation.T
    order = np.argmax(np.abs(cell), axis=1)  # which axis each turned lattice vector lies along
    if sorted(order) != [0, 1, 2]:
        raise ValueError(
            'apply_point_operation needs a cell whose lattice vectors lie near the Cartesian axes'
        )
    new_cell = np.zeros((3, 3))
    for row, axis in enumerate(order):
        new_cell[axis] = cell[row] * np.sign(cell[row, axis])
    out = atoms.copy()
    out.calc = None
    out.set_cell(new_cell, scale_atoms=False)
    out.positions = np.asarray(atoms.positions, dtype=float) @ rotation.T
    out.wrap()
    if 'forces' in atoms.arrays:
        out.arrays['forces'] = np.asarray(atoms.arrays['forces']) @ rotation.T
    if 'born_charges' in atoms.arrays:
        born = np.asarray(atoms.arrays['born_charges']).reshape(-1, 3, 3)
        out.arrays['born_charges'] = np.einsum('ab,nbc,dc->nad', rotation, born, rotation)
    if 'dipole' in atoms.info:
        out.info['dipole'] = rotation @ np.asarray(atoms.info['dipole'], dtype=float)
    for key in ('stress', 'polarizability'):  # rank-2 tensors
        if key in atoms.info:
            tensor = np.asarray(atoms.info[key], dtype=float).reshape(3, 3)
            out.info[key] = rotation @ tensor @ rotation.T
    if 'reference_offset' in atoms.info:  # fractions per lattice vector follow the lattice vectors
        values = np.asarray(atoms.info['reference_offset'], dtype=float)
        out.info['reference_offset'] = [float(values[list(order).index(axis)]) for axis in range(3)]
    return out
