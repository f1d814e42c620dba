"""Born-charge dipoles of ABO3 perovskites near their cubic parent, and the label branch they fix.

:func:`perovskite_born_dipole` is the cell dipole d = Σ_i Z*_i · (r_i − r_i,ideal) (e·Å) with the ideal sites of
:func:`ideal_perovskite_sites`; :func:`align_perovskite_dipoles` moves Berry-phase labels onto the branch closest to
it (a general branch alignment, :func:`aiida_flexo.polarization.branches.align_to_reference`, with this
reference), so that a dipole model is fitted to single-valued labels (``label_branches='perovskite-born'`` of the
GNN training). The superlattice maps of :mod:`aiida_flexo.textures.born` use the same charges.

Default values (:data:`LITERATURE_BORN_CHARGES`): cubic-phase LDA Born charges of W. Zhong, R. D. King-Smith and
D. Vanderbilt, Phys. Rev. Lett. 72, 3618 (1994) (BaTiO3, PbTiO3; SrTiO3 from the same authors' tables), with the
transverse oxygen charge O⊥ set so that the acoustic sum rule holds exactly in each material.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import numpy as np
from ase import Atoms

from aiida_flexo.polarization.branches import align_to_reference


def _with_asr(a: float, b: float, o_parallel: float) -> dict[str, float]:
    """Site charges with O⊥ from the acoustic sum rule Z_A + Z_B + O∥ + 2·O⊥ = 0."""
    return {'A': a, 'B': b, 'O_par': o_parallel, 'O_perp': -(a + b + o_parallel) / 2.0}


#: Born charges (e) per material: A, B, O∥ (along the B–O bond) and O⊥ (acoustic sum rule).
LITERATURE_BORN_CHARGES: dict[str, dict[str, float]] = {
    'BaTiO3': _with_asr(2.75, 7.16, -5.69),
    'PbTiO3': _with_asr(3.90, 7.06, -5.83),
    'SrTiO3': _with_asr(2.56, 7.26, -5.73),
}


#: pseudo-cubic lattice parameter used to count perovskite cells along each lattice vector, Å
PSEUDO_CUBIC_A = 3.95


def perovskite_sites_of(material: str) -> tuple[str, str]:
    """The A and B elements of an ABO3 formula such as ``'PbTiO3'``."""
    elements = re.findall(r'[A-Z][a-z]?', material)
    if len(elements) != 3 or elements[2] != 'O':
        raise ValueError(f'{material!r} is not an ABO3 perovskite formula')
    return elements[0], elements[1]


def _minimum_image(vectors: np.ndarray, cell: np.ndarray) -> np.ndarray:
    """Minimum-image copies of Cartesian vectors (..., 3), Å, in ``cell``."""
    fractional = np.linalg.solve(cell.T, vectors.reshape(-1, 3).T).T
    return ((fractional - np.rint(fractional)) @ cell).reshape(vectors.shape)


def ideal_perovskite_sites(atoms: Atoms) -> np.ndarray:
    """(n, 3) ideal (cubic-site) positions, Å, of the atoms of a distorted ABO3 cell or supercell.

    Each lattice vector holds ``round(|a_i| / 3.95 Å)`` pseudo-cubic cells; every atom is put on the nearest point
    of the half-cell grid, after a common shift that puts the A sublattice on the grid (uniform along each lattice
    vector: in a superlattice with layers of different heights the sites are off by the height mismatch, about
    0.1 Å for PbTiO3/SrTiO3, fine for a branch reference). Raises ``ValueError``
    when an atom is more than 1 Å from its site (not a perovskite near its cubic parent).
    """
    cell = np.asarray(atoms.cell[:], dtype=float)
    n_cells = np.maximum(1, np.rint(np.linalg.norm(cell, axis=1) / PSEUDO_CUBIC_A)).astype(int)
    grid = 2 * n_cells
    fractional = atoms.get_scaled_positions(wrap=False) * grid
    symbols = atoms.get_chemical_symbols()
    a_like = [i for i, s in enumerate(symbols) if s != 'O' and fractional.shape[0] and _is_a_site(s)]
    anchor = fractional[a_like] if a_like else fractional
    offset = anchor - np.rint(anchor)
    shift = np.mean(offset - np.rint(offset - offset[0]), axis=0)  # same image of every offset
    sites = np.rint(fractional - shift).astype(int)
    origin = sites[a_like[0]] if a_like else np.zeros(3, dtype=int)
    odd = ((sites - origin) % 2).sum(
        axis=1
    )  # relative to an A atom: A: (even, even, even), B: (odd, odd, odd), O: two odd coordinates
    expected = np.array([0 if _is_a_site(s) else (2 if s == 'O' else 3) for s in symbols])
    wrong = np.flatnonzero(odd != expected)
    if len(wrong):
        raise ValueError(
            f'atom {wrong[0]} ({symbols[wrong[0]]}) is not on its ABO3 sublattice: the structure is not a '
            'perovskite near its cubic parent; give the labels another reference'
        )
    ideal = (sites + shift) / grid @ cell
    displacement = np.linalg.norm(atoms.positions - ideal, axis=1)
    if displacement.max() > 1.0:
        worst = int(np.argmax(displacement))
        raise ValueError(
            f'atom {worst} ({symbols[worst]}) is {displacement[worst]:.2f} Å from its cubic perovskite site: the '
            'structure is not a perovskite near its cubic parent; give the labels another reference'
        )
    return ideal


def _is_a_site(symbol: str) -> bool:
    return symbol in {perovskite_sites_of(m)[0] for m in LITERATURE_BORN_CHARGES}


def perovskite_born_dipole(
    atoms: Atoms, charges: Mapping[str, Mapping[str, float]] | None = None
) -> np.ndarray:
    """Cell dipole (3,), e·Å, of a distorted ABO3 cell from Born charges: d = Σ_i Z*_i · (r_i − r_i,ideal).

    The ideal sites come from :func:`ideal_perovskite_sites` (the cubic parent has zero dipole); B and O atoms take
    the charges of the material of their nearest A atom, O its tensor along the bond to its nearest B atom.
    The default charges are :data:`LITERATURE_BORN_CHARGES`. A reference for the branch of Berry-phase labels
    (:func:`align_perovskite_dipoles`), good to a few tenths of e·Å in the data shipped with the package.
    """
    charges = LITERATURE_BORN_CHARGES if charges is None else charges
    by_a = {perovskite_sites_of(m)[0]: m for m in charges}
    b_elements = {perovskite_sites_of(m)[1] for m in charges}
    symbols = atoms.get_chemical_symbols()
    unknown = sorted(set(symbols) - set(by_a) - b_elements - {'O'})
    if unknown or not any(s in by_a for s in symbols):
        raise ValueError(
            f'not a perovskite of the known materials {sorted(charges)}: elements {unknown or sorted(set(symbols))} '
            'have no Born charges (give charges={material: {"A", "B", "O_par", "O_perp"}})'
        )
    cell = np.asarray(atoms.cell[:], dtype=float)
    ideal = ideal_perovskite_sites(atoms)
    u = atoms.positions - ideal
    a_sites = np.array([i for i, s in enumerate(symbols) if s in by_a])
    b_sites = np.array([i for i, s in enumerate(symbols) if s in b_elements])

    def nearest(index: int, among: np.ndarray) -> tuple[int, np.ndarray]:
        vectors = _minimum_image(ideal[among] - ideal[index], cell)
        k = int(np.argmin(np.linalg.norm(vectors, axis=1)))
        return int(among[k]), vectors[k]

    dipole = np.zeros(3)
    for i, symbol in enumerate(symbols):
        if symbol in by_a:
            dipole += charges[by_a[symbol]]['A'] * u[i]
            continue
        z = charges[by_a[symbols[nearest(i, a_sites)[0]]]]
        if symbol != 'O':
            dipole += z['B'] * u[i]
            continue
        if len(b_sites) == 0:
            raise ValueError('oxygen without a B-site neighbour: not a perovskite')
        axis = int(np.argmax(np.abs(nearest(i, b_sites)[1])))
        diagonal = np.full(3, z['O_perp'])
        diagonal[axis] = z['O_par']
        dipole += diagonal * u[i]
    return dipole


def align_perovskite_dipoles(
    frames: Sequence[Atoms], charges: Mapping[str, Mapping[str, float]] | None = None
) -> list[Atoms]:
    """Copies of labelled perovskite frames with each ``info['dipole']`` (e·Å) moved onto the branch closest to its
    Born-charge dipole (:func:`perovskite_born_dipole`); ``info['dipole_branch'] = 'perovskite-born'``.

    The labels become single-valued (zero branch at the cubic parent), so a dipole model can be fitted to them
    without folding: in small cells the polar dipoles come close to half a quantum, and a folded loss lets a
    model settle on wrapped branches.
    """
    out = []
    for atoms in frames:
        copy = atoms.copy()
        copy.calc = atoms.calc
        reference = perovskite_born_dipole(atoms, charges)
        copy.info['dipole'] = align_to_reference(
            np.asarray(atoms.info['dipole'], dtype=float),
            reference,
            np.asarray(atoms.cell[:]),
            float(atoms.info.get('charge_quantum', 1.0)),
        )[0]
        copy.info['dipole_branch'] = 'perovskite-born'
        out.append(copy)
    return out
