"""Strain-gradient supercells: a bulk cell repeated N times along the gradient axis with a periodic displacement field.

Geometries (component strings and what they measure: :mod:`aiida_flexo.flexo.convention`), with k = 2π/L,
L = N·a_l the period along the gradient axis l, ξ = k (X_l − X₀), X the reference (undistorted) positions and
f = sin or cos (``shape``):

* longitudinal (LLLL): u_L = A f(ξ);  ε_LL = A k f'(ξ);  ∂ε_LL/∂x_L = −A k² f(ξ).  ε_max = A k, so A = ε_max L/(2π).
* shear (TTLL):        u_T = A f(ξ);  ε_TL = ½ A k f'(ξ);  ∂ε_TL/∂x_L = −½ A k² f(ξ).  ε_max = ½ A k, so A = 2 ε_max/k.
  P_T = 2 μ_TTLL ∂ε_TL/∂x_L (both ε_TL and ε_LT enter the sum).
* transverse (LTTL):   u_T = ε_max f(ξ) (X_T − c_T);  ε_TT = ε_max f(ξ);  ∂ε_TT/∂x_L = ε_max k f'(ξ), with c_T the
  centre of the supercell along T (the seam of the field sits on the cell boundary along T).

All atoms follow the field exactly; the atoms of the fixed sublattice (``fix``) keep it during the relaxation.

Unit cells: the bulk cell is made orthogonal and axis-aligned (a primitive fcc/diamond cell becomes the 8-atom
conventional cube), its basis is the set of atoms inside the box [o − t, o + 1 − t)³ in fractional coordinates
(o = ``basis_origin``, t = ``face_tolerance``, 0.1: atoms on or just below a face belong to the cell), and the supercell is tiled from it so that atom → unit cell (the ``assignment``) is fixed by
construction on the reference and stored; each cell's centre is the centre of its box, (n + o + ½)·a.
Strain and strain gradient are evaluated at the cell centres (reference coordinates, Lagrangian).

``phase_origin='auto'`` shifts X₀ so that a cell centre sits exactly on the first extremum of the strain gradient
(for the seed's 1×1×14 longitudinal sine cell this is X₀ = 0: the cells at L/4 and 3L/4); with an even N the cell
half a period away sits on the opposite extremum too, which makes the two-point formula exact.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from ase import Atoms

from aiida_flexo.flexo.convention import AXES, CONVENTION, Component
from aiida_flexo.selection import parse_fix

#: Largest maximum strain accepted (the method is linear response: keep strains well below 1 %).
MAX_STRAIN_LIMIT = 0.05


# ------------------------------------------------------------------------------------------------ helpers


def _check_periodic(atoms: Atoms, what: str = 'bulk') -> None:
    if not all(atoms.pbc):
        raise ValueError(
            f'the {what} structure is not periodic in 3D (pbc={list(atoms.pbc)}): give a bulk crystal with three '
            'lattice vectors and pbc=True'
        )
    if abs(atoms.cell.volume) < 1e-6:
        raise ValueError(f'the {what} structure has a singular cell (volume ≈ 0): give three lattice vectors')


def _is_axis_aligned(cell: np.ndarray, tol: float) -> bool:
    off = cell - np.diag(np.diag(cell))
    return bool(np.all(np.abs(off) < tol * np.max(np.abs(cell))) and np.all(np.diag(cell) > 0))


def orthogonal_unit_cell(bulk: Atoms, tol: float = 1e-5, max_index: int = 3) -> tuple[Atoms, np.ndarray]:
    """The smallest axis-aligned orthogonal cell of the bulk lattice, and for each of its atoms the bulk index.

    An axis-aligned orthogonal cell (perovskite, conventional diamond) is returned as is; a primitive cell whose
    lattice contains vectors along x, y and z (fcc / bcc / diamond primitive) is converted (2-atom diamond -> 8-atom
    cube). A rotated or oblique lattice without such vectors raises ValueError.
    """
    _check_periodic(bulk)
    cell = np.array(bulk.cell)
    if _is_axis_aligned(cell, tol):
        unit = bulk.copy()
        unit.set_constraint()
        return unit, np.arange(len(bulk))
    scale = np.max(np.linalg.norm(cell, axis=1))
    rows = []
    combos = np.array(
        [n for n in itertools.product(range(-max_index, max_index + 1), repeat=3) if any(n)], dtype=float
    )
    vectors = combos @ cell
    for axis in range(3):
        others = [b for b in range(3) if b != axis]
        ok = (np.abs(vectors[:, others]).max(axis=1) < tol * scale) & (vectors[:, axis] > tol * scale)
        if not np.any(ok):
            raise ValueError(
                f'the bulk lattice has no short lattice vector along {AXES[axis]}: flexo supercells need a lattice '
                'with vectors along x, y and z (rotate the structure so that its cubic/tetragonal axes lie along '
                'x, y, z, or give the conventional cell)'
            )
        candidates = np.where(ok)[0]
        rows.append(combos[candidates[np.argmin(vectors[candidates, axis])]])
    transform = np.array(rows)
    n_cells = int(round(abs(np.linalg.det(transform))))
    new_cell = np.diag([(transform[a] @ cell)[a] for a in range(3)])
    reach = int(np.abs(transform).sum(axis=0).max()) + 1
    shifts = np.array(list(itertools.product(range(-reach, reach + 1), repeat=3)), dtype=float) @ cell
    positions, index = [], []
    frac_bulk = bulk.get_scaled_positions(wrap=True)
    base = frac_bulk @ cell
    for b, r in enumerate(base):
        candidates = r[None, :] + shifts
        frac = candidates / np.diag(new_cell)
        inside = np.all((frac > -tol) & (frac < 1 - tol), axis=1)
        positions.extend(candidates[inside])
        index.extend([b] * int(inside.sum()))
    if len(positions) != n_cells * len(bulk):
        raise ValueError(
            f'could not tile the bulk cell into its orthogonal cell ({len(positions)} atoms for {n_cells} × '
            f'{len(bulk)}): check the bulk structure for overlapping atoms'
        )
    symbols = [bulk.get_chemical_symbols()[b] for b in index]
    unit = Atoms(symbols=symbols, positions=np.array(positions), cell=new_cell, pbc=True)
    return unit, np.array(index, dtype=int)


def _shape_functions(shape: str):
    if shape == 'sine':
        return np.sin, np.cos
    if shape == 'cosine':
        return np.cos, lambda x: -np.sin(x)
    raise ValueError(f'shape must be "sine" or "cosine", got {shape!r}')


def _atoms_to_dict(atoms: Atoms) -> dict:
    return {
        'symbols': atoms.get_chemical_symbols(),
        'positions': np.asarray(atoms.positions).tolist(),
        'cell': np.asarray(atoms.cell).tolist(),
        'pbc': [bool(p) for p in atoms.pbc],
    }


def _atoms_from_dict(data: dict) -> Atoms:
    return Atoms(symbols=data['symbols'], positions=data['positions'], cell=data['cell'], pbc=data['pbc'])


# ------------------------------------------------------------------------------------------------ the supercell


@dataclass
class FlexoSupercell:
    """A strain-gradient supercell with its imposed field, cell assignment and analytic strain fields.

    Units: Å for positions, lengths and displacements; strain dimensionless; strain gradient in 1/Å.
    Per-cell arrays are indexed by the flat cell index ``numpy.ravel_multi_index(cell_index.T, repeat)``.
    """

    atoms: Atoms  #: displaced supercell (imposed field), same atom order as ``reference``
    reference: Atoms  #: undistorted supercell
    unit: Atoms  #: orthogonal unit cell with its basis wrapped into the box [o, o+1)³
    component: str  #: 1-based label, convention.py
    geometry: str  #: 'longitudinal', 'transverse' or 'shear'
    shape: str  #: 'sine' or 'cosine' (dependence of u on x_l)
    repeat: tuple[int, int, int]
    max_strain: float  #: max |ε_jk| of the named strain component
    amplitude: float  #: maximum displacement of the field (Å)
    period: float  #: L along the gradient axis (Å)
    phase_origin: float  #: X₀ (Å)
    basis_origin: np.ndarray  #: o, fractional (3,)
    assignment: np.ndarray  #: (n_atoms,) flat cell index of each atom
    basis_index: np.ndarray  #: (n_atoms,) index of the atom in ``unit``
    bulk_index: np.ndarray  #: (n_atoms,) index of the atom in the user's bulk cell
    cell_index: np.ndarray  #: (n_cells, 3) integer cell coordinates
    cell_centres: np.ndarray  #: (n_cells, 3) Å, reference
    strain: np.ndarray  #: (n_cells,) ε_jk at the cell centres
    strain_gradient: np.ndarray  #: (n_cells,) ∂ε_jk/∂x_l at the cell centres, 1/Å
    fixed_indices: list[int] = field(default_factory=list)
    transverse_centre: float | None = None  #: c_T (Å), transverse geometry only

    # ------------------------------------------------------------------ derived quantities

    @property
    def component_obj(self) -> Component:
        return Component.parse(self.component)

    @property
    def axis(self) -> int:
        """Gradient axis l (0-based)."""
        return self.component_obj.gradient_axis

    @property
    def polarization_axis(self) -> int:
        return self.component_obj.polarization_axis

    @property
    def displacement_axis(self) -> int:
        return self.component_obj.displacement_axis

    @property
    def wavevector(self) -> float:
        """k = 2π/L (1/Å)."""
        return 2.0 * np.pi / self.period

    @property
    def n_cells(self) -> int:
        return len(self.cell_centres)

    @property
    def unit_volume(self) -> float:
        """Ω of the reference unit cell (Å³), the volume that turns a cell dipole into a polarization."""
        return float(abs(self.unit.cell.volume))

    @property
    def layer_index(self) -> np.ndarray:
        """(n_cells,) index of each cell along the gradient axis."""
        return self.cell_index[:, self.axis]

    @property
    def n_layers(self) -> int:
        return int(self.repeat[self.axis])

    @property
    def layer_centres(self) -> np.ndarray:
        """(n_layers,) centres of the layers of cells along the gradient axis (Å)."""
        a = self.unit.cell[self.axis, self.axis]
        return (np.arange(self.n_layers) + self.basis_origin[self.axis] + 0.5) * a

    @property
    def strain_multiplicity(self) -> int:
        return self.component_obj.strain_multiplicity

    @property
    def effective_gradient(self) -> np.ndarray:
        """(n_cells,) G = multiplicity · ∂ε_jk/∂x_l (1/Å), so that P_i = μ_ijkl G."""
        return self.strain_multiplicity * self.strain_gradient

    @property
    def imposed_displacement(self) -> np.ndarray:
        """(n_atoms, 3) displacement of the imposed field (Å)."""
        return np.asarray(self.atoms.positions) - np.asarray(self.reference.positions)

    def _xi(self, z: np.ndarray) -> np.ndarray:
        return self.wavevector * (np.asarray(z, dtype=float) - self.phase_origin)

    def strain_at(self, z: np.ndarray | float) -> np.ndarray:
        """ε_jk of the named component at reference coordinate(s) z along the gradient axis."""
        f, fp = _shape_functions(self.shape)
        xi, e = self._xi(z), self.max_strain
        if self.geometry == 'transverse':
            return e * f(xi)
        return e * fp(xi)  # longitudinal: A k f' = ε_max f'; shear: ½ A k f' = ε_max f'

    def gradient_at(self, z: np.ndarray | float) -> np.ndarray:
        """∂ε_jk/∂x_l (1/Å) of the named component at reference coordinate(s) z."""
        f, fp = _shape_functions(self.shape)
        xi, k, e = self._xi(z), self.wavevector, self.max_strain
        if self.geometry == 'transverse':
            return e * k * fp(xi)
        return -e * k * f(xi)

    def field(self, positions: np.ndarray) -> np.ndarray:
        """(n, 3) imposed displacement (Å) at reference positions (n, 3)."""
        positions = np.asarray(positions, dtype=float)
        f, _ = _shape_functions(self.shape)
        xi = self._xi(positions[:, self.axis])
        u = np.zeros_like(positions)
        if self.geometry == 'transverse':
            t = self.component_obj.transverse_axis
            u[:, t] = self.max_strain * f(xi) * (positions[:, t] - self.transverse_centre)
        elif self.geometry == 'shear':
            u[:, self.displacement_axis] = 2.0 * self.max_strain / self.wavevector * f(xi)
        else:
            u[:, self.axis] = self.max_strain / self.wavevector * f(xi)
        return u

    def gradient_extrema(self) -> tuple[float, float]:
        """Reference coordinates (Å) of the two extrema of the strain gradient (L/4 and 3L/4 for the sine field).

        The strain vanishes there (piezoelectric terms drop out) and the gradient has opposite signs.
        """
        xi_star = self._xi_star(self.geometry, self.shape)
        start = self.basis_origin[self.axis] * self.unit.cell[self.axis, self.axis]
        z1 = self.phase_origin + xi_star / self.wavevector
        z1 = start + np.mod(z1 - start, self.period)
        z2 = start + np.mod(z1 + self.period / 2 - start, self.period)
        return (float(min(z1, z2)), float(max(z1, z2)))

    @staticmethod
    def _xi_star(geometry: str, shape: str) -> float:
        # gradient ∝ f (longitudinal, shear) or f' (transverse); the first extremum of |·| in ξ ≥ 0
        gradient_is_f = geometry != 'transverse'
        if shape == 'sine':
            return np.pi / 2 if gradient_is_f else 0.0
        return 0.0 if gradient_is_f else np.pi / 2

    # ------------------------------------------------------------------ storage

    def to_dict(self) -> dict:
        """Plain (JSON-able) dict: lists, floats, ints and strings only."""
        return {
            'convention': CONVENTION,
            'atoms': _atoms_to_dict(self.atoms),
            'reference': _atoms_to_dict(self.reference),
            'unit': _atoms_to_dict(self.unit),
            'component': self.component,
            'geometry': self.geometry,
            'shape': self.shape,
            'repeat': [int(r) for r in self.repeat],
            'max_strain': float(self.max_strain),
            'amplitude_A': float(self.amplitude),
            'period_A': float(self.period),
            'phase_origin_A': float(self.phase_origin),
            'basis_origin': np.asarray(self.basis_origin, dtype=float).tolist(),
            'assignment': np.asarray(self.assignment, dtype=int).tolist(),
            'basis_index': np.asarray(self.basis_index, dtype=int).tolist(),
            'bulk_index': np.asarray(self.bulk_index, dtype=int).tolist(),
            'cell_index': np.asarray(self.cell_index, dtype=int).tolist(),
            'cell_centres_A': np.asarray(self.cell_centres, dtype=float).tolist(),
            'strain': np.asarray(self.strain, dtype=float).tolist(),
            'strain_gradient_per_A': np.asarray(self.strain_gradient, dtype=float).tolist(),
            'fixed_indices': [int(i) for i in self.fixed_indices],
            'transverse_centre_A': None if self.transverse_centre is None else float(self.transverse_centre),
        }

    @classmethod
    def from_dict(cls, data: dict) -> FlexoSupercell:
        """Inverse of :meth:`to_dict`."""
        return cls(
            atoms=_atoms_from_dict(data['atoms']),
            reference=_atoms_from_dict(data['reference']),
            unit=_atoms_from_dict(data['unit']),
            component=data['component'],
            geometry=data['geometry'],
            shape=data['shape'],
            repeat=tuple(int(r) for r in data['repeat']),
            max_strain=float(data['max_strain']),
            amplitude=float(data['amplitude_A']),
            period=float(data['period_A']),
            phase_origin=float(data['phase_origin_A']),
            basis_origin=np.array(data['basis_origin'], dtype=float),
            assignment=np.array(data['assignment'], dtype=int),
            basis_index=np.array(data['basis_index'], dtype=int),
            bulk_index=np.array(data['bulk_index'], dtype=int),
            cell_index=np.array(data['cell_index'], dtype=int).reshape(-1, 3),
            cell_centres=np.array(data['cell_centres_A'], dtype=float).reshape(-1, 3),
            strain=np.array(data['strain'], dtype=float),
            strain_gradient=np.array(data['strain_gradient_per_A'], dtype=float),
            fixed_indices=[int(i) for i in data['fixed_indices']],
            transverse_centre=data.get('transverse_centre_A'),
        )


# ------------------------------------------------------------------------------------------------ builder


def _resolve_repeat(
    repeat: int | Sequence[int], component: Component, transverse_repeat: int | None
) -> tuple[int, int, int]:
    if isinstance(repeat, (int, np.integer)):
        reps = [1, 1, 1]
        reps[component.gradient_axis] = int(repeat)
        if component.geometry == 'transverse':
            reps[component.transverse_axis] = 4 if transverse_repeat is None else int(transverse_repeat)
        elif transverse_repeat is not None:
            for axis in range(3):
                if axis != component.gradient_axis:
                    reps[axis] = int(transverse_repeat)
    else:
        reps = [int(r) for r in repeat]
        if len(reps) != 3:
            raise ValueError(f'repeat must be an integer N or three integers, got {repeat!r}')
        if transverse_repeat is not None:
            raise ValueError('give either repeat as three integers or transverse_repeat, not both')
    if min(reps) < 1:
        raise ValueError(f'repetitions must be positive, got {reps}')
    if reps[component.gradient_axis] < 4:
        raise ValueError(
            f'the supercell needs at least 4 unit cells along the gradient axis {AXES[component.gradient_axis]} '
            f'(got {reps[component.gradient_axis]}): the two-point formula reads cells at L/4 and 3L/4'
        )
    if component.geometry == 'transverse' and reps[component.transverse_axis] < 2:
        raise ValueError(
            f'the transverse geometry needs at least 2 cells along {AXES[component.transverse_axis]} (the seed used 7)'
        )
    return tuple(reps)


def build_supercell(
    bulk: Atoms,
    component: str | Component,
    repeat: int | Sequence[int],
    max_strain: float,
    fix: str | Sequence[int] | None = None,
    *,
    shape: str = 'sine',
    phase_origin: float | str = 'auto',
    transverse_repeat: int | None = None,
    basis_origin: Sequence[float] | float = 0.0,
    face_tolerance: float = 0.1,
) -> FlexoSupercell:
    """Build the strain-gradient supercell of ``component`` from a bulk cell.

    Args:
        bulk: periodic bulk crystal (perovskite 5-atom cell, diamond 2- or 8-atom cell, ...), Å.
        component: μ component label in the convention of :mod:`aiida_flexo.flexo.convention` (e.g. '3333').
        repeat: N unit cells along the gradient axis (int; transverse axes get 1, or ``transverse_repeat``; the
            transverse geometry defaults to 4 cells along T), or three repetitions.
        max_strain: maximum |ε_jk| of the named strain component (e.g. 0.005 for 0.5 %).
        fix: fixed sublattice: species ('Ba', 'Ba,O'), ``'sublattice:K'`` (every atom of sublattice K of the
            crystal, numbered as the atoms of its primitive cell: the way to hold one sublattice of an elemental
            crystal such as diamond Si, whether given as the 2-atom or the 8-atom cell; ``'sublattice:0,1'`` for
            several) or atom indices of the supercell; these atoms follow the field exactly and must be kept fixed
            in the relaxation.
        shape: 'sine' or 'cosine' dependence of the displacement on x_l.
        phase_origin: X₀ (Å) of the field, or 'auto' (a cell centre on the first gradient extremum).
        transverse_repeat: repetitions along the axes other than the gradient axis (see ``repeat``).
        basis_origin: fractional origin o of the unit-cell box [o, o+1) that defines the basis of a cell.
        face_tolerance: atoms up to this fraction of the cell *below* a box face still belong to the cell: the
            basis is the set of atoms in [o − t, o + 1 − t), while the cell centre stays at (n + o + ½)·a. With the
            default 0.1 a polar phase keeps the basis of the cubic cell (in tetragonal BaTiO3 the O below Ba's
            plane, at z ≈ −0.05 c, stays with its Ba instead of moving to the top face), and atoms on the faces of
            a relaxed bulk are assigned robustly.

    Returns:
        The :class:`FlexoSupercell` (atoms displaced by the field, reference, assignment, analytic fields).
    """
    comp = Component.parse(component)
    geometry = comp.geometry
    if not (0 < max_strain <= MAX_STRAIN_LIMIT):
        raise ValueError(
            f'max_strain must be in (0, {MAX_STRAIN_LIMIT}] (linear response; the seed used 0.005), got {max_strain}'
        )
    f, _ = _shape_functions(shape)
    reps = _resolve_repeat(repeat, comp, transverse_repeat)
    if not 0.0 <= face_tolerance < 0.5:
        raise ValueError(f'face_tolerance must be in [0, 0.5), got {face_tolerance}')
    unit_raw, unit_bulk_index = orthogonal_unit_cell(bulk)
    origin = np.broadcast_to(np.asarray(basis_origin, dtype=float), (3,)).copy()
    lengths = np.diag(np.array(unit_raw.cell))
    frac = np.array(unit_raw.positions) / lengths
    frac = origin + np.mod(frac - origin + face_tolerance, 1.0) - face_tolerance
    unit = Atoms(
        symbols=unit_raw.get_chemical_symbols(), positions=frac * lengths, cell=unit_raw.cell, pbc=True
    )
    n_basis = len(unit)

    cell_index = np.array(list(itertools.product(*(range(r) for r in reps))), dtype=int)  # C order == ravel
    n_cells = len(cell_index)
    translations = cell_index * lengths
    positions = (translations[:, None, :] + unit.positions[None, :, :]).reshape(-1, 3)
    assignment = np.repeat(np.arange(n_cells), n_basis)
    basis_index = np.tile(np.arange(n_basis), n_cells)
    symbols = [unit.get_chemical_symbols()[b] for b in basis_index]
    super_cell = np.diag(lengths * np.array(reps))
    reference = Atoms(symbols=symbols, positions=positions, cell=super_cell, pbc=True)
    centres = (cell_index + origin + 0.5) * lengths

    axis = comp.gradient_axis
    period = float(lengths[axis] * reps[axis])
    k = 2.0 * np.pi / period
    if phase_origin == 'auto':
        z_nat = FlexoSupercell._xi_star(geometry, shape) / k
        layer_z = (np.arange(reps[axis]) + origin[axis] + 0.5) * lengths[axis]
        distance = np.mod(layer_z - z_nat + period / 2, period) - period / 2
        x0 = float(distance[np.argmin(np.abs(distance))])
    else:
        x0 = float(phase_origin)
    transverse_centre = None
    if geometry == 'transverse':
        t = comp.transverse_axis
        transverse_centre = float((origin[t] + reps[t] / 2.0) * lengths[t])
    supercell = FlexoSupercell(
        atoms=reference.copy(),
        reference=reference,
        unit=unit,
        component=comp.label,
        geometry=geometry,
        shape=shape,
        repeat=reps,
        max_strain=float(max_strain),
        amplitude=0.0,
        period=period,
        phase_origin=x0,
        basis_origin=origin,
        assignment=assignment,
        basis_index=basis_index,
        bulk_index=unit_bulk_index[basis_index],
        cell_index=cell_index,
        cell_centres=centres,
        strain=np.zeros(n_cells),
        strain_gradient=np.zeros(n_cells),
        fixed_indices=[],
        transverse_centre=transverse_centre,
    )
    u = supercell.field(positions)
    supercell.atoms = Atoms(symbols=symbols, positions=positions + u, cell=super_cell, pbc=True)
    if geometry == 'longitudinal':
        supercell.amplitude = float(max_strain / k)
    elif geometry == 'shear':
        supercell.amplitude = float(2.0 * max_strain / k)
    else:  # the largest |u_T| = ε_max |X_T − c_T| over the atoms
        supercell.amplitude = float(np.abs(u).max())
    supercell.strain = supercell.strain_at(centres[:, axis])
    supercell.strain_gradient = supercell.gradient_at(centres[:, axis])
    supercell.fixed_indices = fixed_sublattice(fix, reference, supercell.bulk_index, bulk)
    return supercell


#: prefix of a fix spec naming bulk atoms (sublattices) instead of species or supercell indices
SUBLATTICE_PREFIX = 'sublattice:'


def fixed_sublattice(
    fix: str | Sequence[int] | None, reference: Atoms, bulk_index: np.ndarray, bulk: Atoms
) -> list[int]:
    """Supercell indices of the fixed atoms: ``'sublattice:K[,L]'`` (every atom of sublattice K, L of the crystal,
    numbered as the atoms of its primitive cell:
    :func:`aiida_flexo.flexo.crystal_symmetry.primitive_sublattices`), else
    :func:`~aiida_flexo.selection.parse_fix` (species or supercell indices)."""
    if isinstance(fix, str) and fix.strip().startswith(SUBLATTICE_PREFIX):
        from aiida_flexo.flexo.crystal_symmetry import primitive_sublattices

        sublattice_of = primitive_sublattices(bulk)
        n_sublattices = int(sublattice_of.max()) + 1
        tokens = [t.strip() for t in fix.strip()[len(SUBLATTICE_PREFIX) :].split(',') if t.strip()]
        try:
            wanted = sorted({int(t) for t in tokens})
        except ValueError:
            wanted = []
        if not wanted or any(not 0 <= k < n_sublattices for k in wanted):
            raise ValueError(
                f'fix spec {fix!r}: give sublattices 0..{n_sublattices - 1} after "{SUBLATTICE_PREFIX}" (the atoms of '
                f'the primitive cell of {bulk.get_chemical_formula()}; e.g. "{SUBLATTICE_PREFIX}0" holds the first)'
            )
        chosen = np.isin(sublattice_of[np.asarray(bulk_index, dtype=int)], wanted)
        return sorted(int(i) for i in np.flatnonzero(chosen))
    return parse_fix(fix, reference)
