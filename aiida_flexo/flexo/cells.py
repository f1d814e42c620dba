"""Per-unit-cell dipoles and polarizations of a supercell (generic: used by flexo and by local polarization maps).

A unit cell's dipole is the sum of the per-atom dipoles of the atoms assigned to it; the assignment is an integer
array (one cell index per atom) fixed on the undistorted reference supercell and stored with the result (DESIGN.md
§2). Its polarization is that dipole divided by the reference unit-cell volume Ω. Nothing here knows about strain
gradients, so a texture / domain-wall code can call :func:`cell_dipoles` and :func:`cell_polarization` with any
assignment (e.g. from :func:`assign_to_reference`).

The Born-charge baseline replaces a dipole model by the linear response of the reference: p_i = Z*_i · u_i, with u_i
the displacement of atom i from its reference position, so p_cell = Σ_{i ∈ cell} Z*_ref(i) · u_i.

Units: dipoles e·Å, volumes Å³, polarizations e/Å² (convert at the edges with :mod:`aiida_flexo.units`), Z* e.
"""

from __future__ import annotations

import numpy as np
from ase import Atoms


def displacements(atoms: Atoms, reference: Atoms) -> np.ndarray:
    """(n, 3) displacement of each atom from its reference position (Å), minimum image over the reference cell.

    The atoms must be in the same order as in the reference (same species at each index).
    """
    if len(atoms) != len(reference):
        raise ValueError(
            f'the structure has {len(atoms)} atoms but the reference has {len(reference)}: displacements need the '
            'same atoms in the same order'
        )
    if atoms.get_chemical_symbols() != reference.get_chemical_symbols():
        raise ValueError(
            'the structure and the reference list different species at the same index: keep the order'
        )
    delta = np.asarray(atoms.positions) - np.asarray(reference.positions)
    cell = np.asarray(reference.cell)
    frac = np.linalg.solve(cell.T, delta.T).T
    return delta - np.rint(frac) @ cell


def cell_dipoles(per_atom: np.ndarray, assignment: np.ndarray, n_cells: int | None = None) -> np.ndarray:
    """(n_cells, 3) cell dipoles (e·Å): the sum of the per-atom dipoles (n_atoms, 3) of each cell's atoms."""
    per_atom = np.asarray(per_atom, dtype=float)
    assignment = np.asarray(assignment, dtype=int)
    if per_atom.ndim != 2 or per_atom.shape[1] != 3:
        raise ValueError(f'per-atom dipoles must have shape (n_atoms, 3), got {per_atom.shape}')
    if len(per_atom) != len(assignment):
        raise ValueError(
            f'{len(per_atom)} per-atom dipoles but {len(assignment)} assigned atoms: predict on the supercell whose '
            'assignment you pass'
        )
    if n_cells is None:
        n_cells = int(assignment.max()) + 1 if len(assignment) else 0
    if len(assignment) and (assignment.min() < 0 or assignment.max() >= n_cells):
        raise ValueError(f'cell indices must be in 0 … {n_cells - 1}')
    out = np.zeros((n_cells, 3))
    np.add.at(out, assignment, per_atom)
    return out


def cell_polarization(cell_dipoles_eA: np.ndarray, volume_A3: float) -> np.ndarray:
    """Cell polarizations (e/Å²): cell dipoles (e·Å) divided by the reference unit-cell volume Ω (Å³)."""
    if volume_A3 <= 0:
        raise ValueError(f'the unit-cell volume must be positive, got {volume_A3} Å³')
    return np.asarray(cell_dipoles_eA, dtype=float) / float(volume_A3)


def born_charge_dipoles(born_charges: np.ndarray, displacement: np.ndarray) -> np.ndarray:
    """(n, 3) per-atom dipoles of the Born-charge baseline, p_i = Z*_i · u_i (e·Å), Z* (n, 3, 3) e, u (n, 3) Å."""
    born_charges = np.asarray(born_charges, dtype=float)
    displacement = np.asarray(displacement, dtype=float)
    if born_charges.shape != (len(displacement), 3, 3):
        raise ValueError(
            f'Born charges must have shape (n_atoms, 3, 3) = ({len(displacement)}, 3, 3), got {born_charges.shape}'
        )
    return np.einsum('iab,ib->ia', born_charges, displacement)


def layer_average(
    values: np.ndarray, layer_index: np.ndarray, n_layers: int | None = None, mask: np.ndarray | None = None
) -> np.ndarray:
    """Average per-cell values (n_cells, ...) over the cells of each layer (``layer_index``), optionally masked."""
    values = np.asarray(values, dtype=float)
    layer_index = np.asarray(layer_index, dtype=int)
    if mask is None:
        mask = np.ones(len(values), dtype=bool)
    if n_layers is None:
        n_layers = int(layer_index.max()) + 1
    sums = np.zeros((n_layers, *values.shape[1:]))
    counts = np.zeros(n_layers)
    np.add.at(sums, layer_index[mask], values[mask])
    np.add.at(counts, layer_index[mask], 1.0)
    if np.any(counts == 0):
        raise ValueError(f'layers {np.where(counts == 0)[0].tolist()} have no cells left after masking')
    return sums / counts.reshape(-1, *([1] * (values.ndim - 1)))


def assign_to_reference(atoms: Atoms, reference: Atoms, reference_assignment: np.ndarray) -> np.ndarray:
    """Cell index of each atom of ``atoms``: that of its nearest reference site (minimum image, same species).

    Robust to displacements smaller than half the distance between reference sites and to a permuted atom order;
    for the reference itself it returns ``reference_assignment``.
    """
    reference_assignment = np.asarray(reference_assignment, dtype=int)
    cell = np.asarray(reference.cell)
    ref_pos = np.asarray(reference.positions)
    ref_symbols = np.array(reference.get_chemical_symbols())
    symbols = np.array(atoms.get_chemical_symbols())
    result = np.empty(len(atoms), dtype=int)
    inverse = np.linalg.inv(cell)
    for species in set(symbols):
        sites = np.where(ref_symbols == species)[0]
        if len(sites) == 0:
            raise ValueError(f'species {species} is not in the reference structure')
        targets = np.where(symbols == species)[0]
        for start in range(0, len(targets), 256):
            chunk = targets[start : start + 256]
            delta = np.asarray(atoms.positions)[chunk, None, :] - ref_pos[None, sites, :]
            frac = delta @ inverse
            delta = delta - np.rint(frac) @ cell
            nearest = np.argmin(np.einsum('abk,abk->ab', delta, delta), axis=1)
            result[chunk] = reference_assignment[sites[nearest]]
    return result
