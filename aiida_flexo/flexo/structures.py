"""Small bulk structures for flexo runs, tests and reports (Å; ideal positions, not DFT-relaxed).

``BUILTIN`` names can be given wherever a bulk file is expected (CLI ``--bulk builtin:BaTiO3``).
"""

from __future__ import annotations

import numpy as np
from ase import Atoms

#: Ideal polar directions of the BaTiO3 phases in the pseudo-cubic 5-atom cell.
PHASE_DIRECTIONS = {
    'cubic': (0.0, 0.0, 0.0),
    'tetragonal': (0.0, 0.0, 1.0),
    'orthorhombic': (0.0, 1.0, 1.0),
    'rhombohedral': (1.0, 1.0, 1.0),
}


def cubic_perovskite(formula: tuple[str, str] = ('Ba', 'Ti'), a: float = 4.0) -> Atoms:
    """Cubic ABO3 (Pm-3m) 5-atom cell: A at the corner, B at the centre, O on the face centres."""
    a_site, b_site = formula
    return Atoms(
        [a_site, b_site, 'O', 'O', 'O'],
        scaled_positions=[[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]],
        cell=[a, a, a],
        pbc=True,
    )


def diamond(symbol: str = 'Si', a: float = 5.431, conventional: bool = False) -> Atoms:
    """Diamond structure: the 2-atom primitive fcc cell, or the 8-atom conventional cube."""
    from ase.build import bulk

    return bulk(symbol, 'diamond', a=a, cubic=conventional)


def batio3_phase(
    phase: str,
    a: float = 4.0,
    ti_shift: float = 0.08,
    o_shift: float = 0.06,
    strain: float = 0.005,
    angle_deg: float = 0.15,
) -> Atoms:
    """Idealised BaTiO3 phase in the pseudo-cubic 5-atom cell (Ba fixed at the origin).

    Ti moves by ``ti_shift`` (Å) along the polar direction n̂ ([001] T, [011] O, [111] R) and the O atoms by
    ``-o_shift``; the cell is stretched by ``strain`` along n̂ (T: c/a = 1 + strain; O: b = c stretched and the b–c
    angle reduced by ``angle_deg``; R: all angles reduced by ``angle_deg``). Cubic: the ideal cube. These are
    idealised polar structures for a generalisation report, not DFT minima.
    """
    if phase not in PHASE_DIRECTIONS:
        raise ValueError(f'unknown BaTiO3 phase {phase!r}: choose one of {sorted(PHASE_DIRECTIONS)}')
    atoms = cubic_perovskite(('Ba', 'Ti'), a)
    direction = np.array(PHASE_DIRECTIONS[phase])
    if phase == 'cubic':
        return atoms
    n = direction / np.linalg.norm(direction)
    cell = np.eye(3) * a
    if phase == 'tetragonal':
        cell[2, 2] *= 1 + strain
    else:
        from ase.geometry import cellpar_to_cell

        if phase == 'orthorhombic':
            par = [a, a * (1 + strain), a * (1 + strain), 90 - angle_deg, 90, 90]
        else:
            par = [a * (1 + strain / 3)] * 3 + [90 - angle_deg] * 3
        cell = cellpar_to_cell(par)
    scaled = atoms.get_scaled_positions()
    polar = Atoms(atoms.get_chemical_symbols(), scaled_positions=scaled, cell=cell, pbc=True)
    shift = np.zeros((5, 3))
    shift[1] = ti_shift * n
    shift[2:] = -o_shift * n
    polar.positions = polar.positions + shift
    return polar


def map_frame_to_basis(
    frame: Atoms, unit: Atoms, tol: float = 0.3
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Map the atoms of a supercell frame of the bulk onto the basis sites of an orthogonal ``unit`` cell.

    The frame must be an orthogonal n1×n2×n3 repetition of a cell like ``unit`` (its lattice constants may differ,
    e.g. a tetragonal frame for a cubic unit: matching is done in fractional coordinates). The origin is aligned on
    the mean position of the sublattice of the unit's first species; each frame atom goes to the basis site of the
    same species nearest to its position modulo the unit cell (within ``tol`` in fractional units of the unit
    cell), and every site must get n1·n2·n3 atoms.

    Returns:
        (site index per frame atom, fractional offset of each atom from its site in unit-cell units (n, 3),
        repeats (3,)).
    """
    lengths = np.diag(np.asarray(unit.cell))
    frame_cell = np.asarray(frame.cell)
    repeats = np.maximum(np.rint(np.diag(frame_cell) / lengths), 1)
    off = frame_cell - np.diag(np.diag(frame_cell))
    n_rep = int(np.prod(repeats))
    if np.any(np.abs(off) > 0.05 * lengths.max()) or n_rep * len(unit) != len(frame):
        raise ValueError(
            f'the frame ({len(frame)} atoms) is not an orthogonal {"×".join(map(str, repeats.astype(int)))} '
            f'supercell of the {len(unit)}-atom bulk cell: give a bulk-cell quantity (e.g. Z* from a DFPT OUTCAR or '
            'the aiida-flexo born-charges JSON) instead'
        )
    frac = frame.get_scaled_positions(wrap=True) * repeats  # in units of the unit cell
    basis_frac = np.mod(np.asarray(unit.positions) / lengths, 1.0)
    frame_symbols = np.array(frame.get_chemical_symbols())
    unit_symbols = np.array(unit.get_chemical_symbols())
    first = np.where(frame_symbols == unit_symbols[0])[0]
    if len(first) == 0:
        raise ValueError(f'species {unit_symbols[0]} of the bulk cell is not in the frame')
    offsets = frac[first] - frac[first[0]]
    origin = frac[first[0]] + np.mean(offsets - np.rint(offsets), axis=0)  # mean position of that sublattice
    frac = np.mod(frac - origin + basis_frac[0], 1.0)
    site = np.empty(len(frame), dtype=int)
    shift = np.empty((len(frame), 3))
    for i, (f, s) in enumerate(zip(frac, frame_symbols)):
        candidates = np.where(unit_symbols == s)[0]
        if len(candidates) == 0:
            raise ValueError(f'species {s} of the frame is not in the bulk cell')
        delta = f[None, :] - basis_frac[candidates]
        delta -= np.rint(delta)
        distance = np.linalg.norm(delta, axis=1)
        best = int(np.argmin(distance))
        if distance[best] > tol:
            raise ValueError(f'atom {i} ({s}) of the frame matches no basis site of the bulk cell')
        site[i] = candidates[best]
        shift[i] = delta[best]
    counts = np.bincount(site, minlength=len(unit))
    if np.any(counts != n_rep):
        raise ValueError(
            f'the frame does not map one atom per cell onto each basis site (counts {counts.tolist()}, expected '
            f'{n_rep}): is it a supercell of this bulk cell?'
        )
    return site, shift, repeats


def average_unit_cell(frames, template: Atoms, tol: float = 0.3) -> Atoms:
    """The mean unit cell of supercell frames of a bulk (e.g. the bundled BaTiO3 frames): mean cell / repeats and
    each basis site at the mean fractional position of the atoms mapped onto it (thermal noise averaged out).

    ``template`` gives the basis (species and approximate fractional positions, e.g. :func:`cubic_perovskite`).
    """
    lengths = np.diag(np.asarray(template.cell))
    basis_frac = np.mod(np.asarray(template.positions) / lengths, 1.0)
    cells, fracs = [], []
    for frame in frames:
        site, shift, repeats = map_frame_to_basis(frame, template, tol)
        cells.append(np.diag(np.asarray(frame.cell)) / repeats)
        mean_shift = np.zeros((len(template), 3))
        np.add.at(mean_shift, site, shift)
        fracs.append(basis_frac + mean_shift / np.bincount(site, minlength=len(template))[:, None])
    frac = np.mean(fracs, axis=0)
    frac -= frac[0]  # first basis atom back on its site (the origin is arbitrary)
    frac += basis_frac[0]
    return Atoms(
        template.get_chemical_symbols(),
        scaled_positions=np.mod(frac, 1.0),
        cell=np.mean(cells, axis=0),
        pbc=True,
    )


def batio3_qe_mean_cell() -> Atoms:
    """Mean unit cell of the bundled QE frames of BaTiO3 (tetragonal PBE, c/a ≈ 1.085, polar along z)."""
    from aiida_flexo.data import read_frames
    from aiida_flexo.resources import bundled_path

    return average_unit_cell(
        read_frames(bundled_path('BaTiO3_qe_berry_bec.xyz'), require=()), cubic_perovskite()
    )


BUILTIN = {
    'BaTiO3': lambda: cubic_perovskite(('Ba', 'Ti'), 4.0),
    'BaTiO3-qe': batio3_qe_mean_cell,
    'SrTiO3': lambda: cubic_perovskite(('Sr', 'Ti'), 3.905),
    'PbTiO3': lambda: cubic_perovskite(('Pb', 'Ti'), 3.97),
    'Si': lambda: diamond('Si', 5.431, conventional=False),
    'Si-conventional': lambda: diamond('Si', 5.431, conventional=True),
}


def builtin(name: str) -> Atoms:
    """A built-in bulk structure by name (see ``BUILTIN``)."""
    if name not in BUILTIN:
        raise ValueError(f'unknown built-in structure {name!r}: choose one of {sorted(BUILTIN)}')
    return BUILTIN[name]()
