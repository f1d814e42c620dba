"""Synthetic dipole models, a synthetic internal relaxation and the analytic μ they give (verification, no DFT).

Models (both implement :class:`aiida_flexo.interfaces.DipoleModel`):

* :class:`LinearBornChargeModel`: p_i = Z*_i · u_i, u_i = r_i − r_i,ref (minimum image), Z* per species or per atom;
* :class:`FixedChargeModel`: point charges, p_i = q_i u_i (Z* = q I); the reference must be neutral.

Both need the reference positions; build them with ``reference=`` or let the pipeline bind them to a supercell
through :meth:`for_supercell` (the hook :func:`aiida_flexo.flexo.run.compute_coefficient` calls on any model or
relaxer that has it).

Analytic μ. With the imposed field alone (every atom on the field u(X), see :mod:`aiida_flexo.flexo.supercell`),
the cell polarization of a linear model is P_i(cell) = Ω⁻¹ Σ_b Z*_b,id u_d(X_c + δ_b), δ_b the offset of basis atom b
from the cell centre. Using f(ξ + φ) = f(ξ) cos φ + f'(ξ) sin φ (f = sin or cos) and G = −A k² f(ξ) (longitudinal,
shear), the part in phase with G gives

    μ_field = −Σ_b Z*_b,id cos(k δ_b,l) / (k² Ω)       (= Σ_b Z*_b,id (1 − cos k δ_b,l)/(k² Ω) with the ASR)

and the f' part is in phase with the strain: it vanishes at the gradient extrema (two-point) and is orthogonal to G
over a full period (fit). So even a rigid field gives a nonzero μ when the cell's basis is not symmetric: the
quadrupole-like term Σ_b Z*_b δ_b²/(2Ω) of the small-k limit. For the transverse field u_T = ε f(ξ)(X_T − c_T),
after averaging over the cells of a layer (symmetric about c_T), G = ε k f'(ξ) and

    μ_field = Σ_b Z*_b,LT δ_b,T sin(k δ_b,l) / (k Ω).

:class:`InternalRelaxation` adds the response a relaxation would give: every free atom of species s moves by
λ_s G(cell) along the polarization axis i (λ in Å², G the gradient of its cell), adding

    μ_relax = Σ_b Z*_b,ii λ_b / Ω .

:func:`analytic_mu` returns μ_field + μ_relax (e/Å); with an even N and ``phase_origin='auto'`` both the two-point
and the fit estimators must reproduce it to rounding.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator, all_changes

from aiida_flexo.flexo.cells import displacements
from aiida_flexo.flexo.supercell import FlexoSupercell

#: Born charges (e) of cubic BaTiO3 (Ghosez et al., PRB 58, 6224 (1998), LDA), for synthetic tests and demos:
#: Ba, Ti isotropic; O_par along its Ti–O bond, O_perp across it.
BATIO3_BORN_CHARGES = {'Ba': 2.77, 'Ti': 7.25, 'O_par': -5.71, 'O_perp': -2.15}


def _as_tensor(value) -> np.ndarray:
    value = np.asarray(value, dtype=float)
    if value.ndim == 0:
        return float(value) * np.eye(3)
    if value.shape == (3,):
        return np.diag(value)
    if value.shape == (3, 3):
        return value
    raise ValueError(
        f'a Born charge must be a scalar, a diagonal (3,) or a (3, 3) tensor, got shape {value.shape}'
    )


def perovskite_born_charges(unit: Atoms, values: Mapping[str, float] | None = None) -> np.ndarray:
    """(n, 3, 3) Z* for a cubic ABO3 cell: A and B isotropic, each O anisotropic along its nearest B–O bond.

    ``values`` has keys A-species, B-species, 'O_par', 'O_perp' (defaults: :data:`BATIO3_BORN_CHARGES`).
    The B site is taken as the cation nearest to the O atoms.
    """
    values = dict(BATIO3_BORN_CHARGES if values is None else values)
    symbols = unit.get_chemical_symbols()
    if 'O' not in symbols:
        raise ValueError('perovskite_born_charges needs an oxide ABO3 cell (no O atom found)')
    o_index = [i for i, s in enumerate(symbols) if s == 'O']
    cations = [i for i, s in enumerate(symbols) if s != 'O']
    out = np.zeros((len(unit), 3, 3))
    for i in cations:
        if symbols[i] not in values:
            raise ValueError(
                f'no Born charge for {symbols[i]} (give values for {sorted(set(symbols) - {"O"})})'
            )
        out[i] = _as_tensor(values[symbols[i]])
    for i in o_index:
        vectors = unit.get_distances(i, cations, mic=True, vector=True)
        distance = np.linalg.norm(vectors, axis=1)
        bond = vectors[int(np.argmin(distance))]
        axis = int(np.argmax(np.abs(bond)))
        diag = np.full(3, values['O_perp'])
        diag[axis] = values['O_par']
        out[i] = np.diag(diag)
    return out


class LinearBornChargeModel:
    """Synthetic dipole model p_i = Z*_i · (r_i − r_i,ref): constant Born charges, exact linear response.

    Args:
        born_charges: per species ({'Ba': 2.77, 'O': (3,) or (3, 3), ...}) or an array (m, 3, 3) per atom of the
            reference, or per bulk / unit-cell atom (mapped through the supercell on :meth:`for_supercell`).
        reference: reference structure (positions r_ref); optional until :meth:`for_supercell`.
        index_map: (n,) index into a per-bulk-atom array for each reference atom.
    """

    def __init__(
        self,
        born_charges: Mapping[str, object] | np.ndarray,
        reference: Atoms | None = None,
        index_map: Sequence[int] | np.ndarray | None = None,
    ):
        self._spec = born_charges
        self.reference = None
        self._charges = None
        if reference is not None:
            self._bind(reference, index_map)

    def _bind(self, reference: Atoms, index_map=None) -> None:
        symbols = reference.get_chemical_symbols()
        if isinstance(self._spec, Mapping):
            missing = sorted(set(symbols) - set(self._spec))
            if missing:
                raise ValueError(
                    f'synthetic Born charges: no value for species {missing}; give one per species in the structure '
                    f'({sorted(set(symbols))})'
                )
            charges = np.stack([_as_tensor(self._spec[s]) for s in symbols])
        else:
            array = np.asarray(self._spec, dtype=float)
            if array.ndim != 3 or array.shape[1:] != (3, 3):
                raise ValueError(f'Born charges must have shape (m, 3, 3), got {array.shape}')
            if len(array) == len(reference):
                charges = array
            elif index_map is not None:
                charges = array[np.asarray(index_map, dtype=int)]
            else:
                raise ValueError(
                    f'{len(array)} Born-charge tensors for a reference of {len(reference)} atoms: give one per atom '
                    'or bind the model with for_supercell()'
                )
        self.reference = reference.copy()
        self._charges = charges

    def with_reference(self, reference: Atoms, index_map: Sequence[int] | np.ndarray | None = None):
        """A copy bound to ``reference``; ``index_map`` maps its atoms into a per-bulk-atom Z* array."""
        model = self.__class__.__new__(self.__class__)
        model.__dict__.update(self.__dict__)
        model._bind(reference, index_map)
        return model

    def for_supercell(self, supercell: FlexoSupercell) -> LinearBornChargeModel:
        """A copy bound to the reference of ``supercell`` (per-bulk or per-unit-cell arrays are tiled)."""
        index_map = None
        if not isinstance(self._spec, Mapping):
            n = len(np.asarray(self._spec))
            if n == len(supercell.unit):
                index_map = supercell.basis_index
            elif n == int(supercell.bulk_index.max()) + 1:
                index_map = supercell.bulk_index
        return self.with_reference(supercell.reference, index_map)

    def _require_reference(self, atoms: Atoms) -> None:
        if self.reference is None:
            raise ValueError(
                'this synthetic model has no reference structure: pass reference= or bind it with for_supercell()'
            )
        if len(atoms) != len(self.reference):
            raise ValueError(
                f'the model was bound to {len(self.reference)} atoms, got a structure of {len(atoms)}'
            )

    def per_atom_dipoles(self, atoms: Atoms) -> np.ndarray:
        """(n, 3) p_i = Z*_i · u_i in e·Å."""
        self._require_reference(atoms)
        return np.einsum('iab,ib->ia', self._charges, displacements(atoms, self.reference))

    def born_charges(self, atoms: Atoms) -> np.ndarray:
        """(n, 3, 3) the constant Z* (e)."""
        self._require_reference(atoms)
        return self._charges.copy()

    def __repr__(self) -> str:
        bound = 'unbound' if self.reference is None else f'{len(self.reference)} atoms'
        return f'{self.__class__.__name__}({bound})'


class FixedChargeModel(LinearBornChargeModel):
    """Synthetic point-charge model p_i = q_i (r_i − r_i,ref): Z* = q I; the reference must be neutral."""

    def __init__(self, charges: Mapping[str, float], reference: Atoms | None = None):
        self.charges = {k: float(v) for k, v in charges.items()}
        super().__init__({k: v * np.eye(3) for k, v in self.charges.items()}, reference)

    def _bind(self, reference: Atoms, index_map=None) -> None:
        super()._bind(reference, index_map)
        total = float(sum(self.charges[s] for s in reference.get_chemical_symbols()))
        if abs(total) > 1e-8:
            raise ValueError(
                f'fixed charges {self.charges} leave the reference with a net charge of {total:+g} e: a charged '
                'cell polarizes under rigid translation; give charges that sum to zero (e.g. Ba=2, Ti=4, O=-2)'
            )


class InternalRelaxation:
    """Synthetic relaxation: each free atom of species s moves by λ_s · G(its cell) along the polarization axis.

    λ in Å², G = multiplicity · ∂ε_jk/∂x_l (1/Å) of the atom's cell. Fixed atoms do not move (a λ for a fixed species
    is refused). Call :meth:`for_supercell`, then use the result as ``relaxer(atoms, fixed_indices) -> Atoms``.
    """

    def __init__(self, shifts: Mapping[str, float], supercell: FlexoSupercell | None = None):
        self.shifts = {k: float(v) for k, v in shifts.items()}
        self.supercell = supercell

    def for_supercell(self, supercell: FlexoSupercell) -> InternalRelaxation:
        return InternalRelaxation(self.shifts, supercell)

    def displacement(self, fixed_indices: Sequence[int] | None = None) -> np.ndarray:
        """(n, 3) extra displacement (Å) of the rule."""
        sc = self.supercell
        if sc is None:
            raise ValueError('InternalRelaxation needs a supercell: call for_supercell() first')
        fixed = set(sc.fixed_indices if fixed_indices is None else fixed_indices)
        symbols = sc.reference.get_chemical_symbols()
        unknown = sorted(set(self.shifts) - set(symbols))
        if unknown:
            raise ValueError(
                f'InternalRelaxation: species {unknown} not in the supercell ({sorted(set(symbols))})'
            )
        fixed_species = {symbols[i] for i in fixed}
        clash = sorted(s for s in fixed_species if self.shifts.get(s, 0.0) != 0.0)
        if clash:
            raise ValueError(f'InternalRelaxation: species {clash} are fixed, their shift must be zero')
        g = sc.effective_gradient[sc.assignment]
        lam = np.array([0.0 if i in fixed else self.shifts.get(s, 0.0) for i, s in enumerate(symbols)])
        out = np.zeros((len(symbols), 3))
        out[:, sc.polarization_axis] = lam * g
        return out

    def __call__(self, atoms: Atoms, fixed_indices: Sequence[int] | None = None) -> Atoms:
        relaxed = atoms.copy()
        relaxed.set_constraint()
        relaxed.positions = np.asarray(atoms.positions) + self.displacement(fixed_indices)
        return relaxed


class SpringCalculator(Calculator):
    """ase calculator E = ½ κ Σ_i |r_i − t_i|² (minimum image): relaxing it moves free atoms onto the targets t.

    A test double for an MLIP: relaxing the imposed field with the targets of :class:`InternalRelaxation` reproduces
    the synthetic relaxation through the real relaxation code path. κ in eV/Å².
    """

    implemented_properties = ('energy', 'forces', 'free_energy', 'stress')

    def __init__(self, targets: np.ndarray, stiffness: float = 10.0, **kwargs):
        super().__init__(**kwargs)
        self.targets = np.asarray(targets, dtype=float)
        self.stiffness = float(stiffness)

    def calculate(self, atoms=None, properties=('energy',), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        cell = np.asarray(self.atoms.cell)
        delta = np.asarray(self.atoms.positions) - self.targets
        delta -= np.rint(np.linalg.solve(cell.T, delta.T).T) @ cell
        energy = 0.5 * self.stiffness * float(np.sum(delta**2))
        # the targets are fixed Cartesian points: no response to the cell, zero stress (relax codes ask for it)
        self.results = {
            'energy': energy,
            'free_energy': energy,
            'forces': -self.stiffness * delta,
            'stress': np.zeros(6),
        }


def linear_response_frames(
    unit: Atoms,
    born_charges: np.ndarray,
    n_frames: int,
    *,
    displacement: float = 0.08,
    stiffness: float = 10.0,
    seed: int = 0,
) -> list[Atoms]:
    """Labelled frames of a linear Born-charge world: known-answer training data for the whole pipeline.

    Each frame is ``unit`` with every atom displaced at random (Gaussian, ``displacement`` Å per component) and the
    labels of an exactly linear, harmonic crystal around ``unit``: dipole ``d = Σ_i Z*_i · u_i`` (e·Å, u the
    minimum-image displacement), ``born_charges`` the constant Z* (e), energy ``½ κ Σ |u_i|²`` (eV), forces
    ``−κ u_i`` (eV/Å) and zero stress (:class:`SpringCalculator` with the targets at ``unit``). A dipole model
    trained on them must reproduce Z*, so μ of the Born-charge route has the closed form of :func:`analytic_mu`
    on the imposed field and ``extract(Z*·u)`` on any relaxed structure, whatever the potential did.

    Args:
        unit: the reference cell (its positions are u = 0).
        born_charges: (len(unit), 3, 3) Z* in e; their sum must vanish (acoustic sum rule), or the dipole of a
            rigid translation would not be zero.
        n_frames: number of frames.
        displacement: standard deviation of each displacement component (Å).
        stiffness: κ of the harmonic energy (eV/Å²).
        seed: random seed.
    """
    z = np.asarray(born_charges, dtype=float)
    if z.shape != (len(unit), 3, 3):
        raise ValueError(f'need one Z* per atom of the unit cell ({len(unit)}, 3, 3), got {z.shape}')
    residual = float(np.abs(z.sum(axis=0)).max())
    if residual > 1e-8:
        raise ValueError(
            f'the Born charges break the acoustic sum rule (largest |Σ Z*| component {residual:.3g} e): subtract '
            'their mean, z -= z.sum(axis=0) / len(z)'
        )
    if n_frames < 1 or displacement <= 0 or stiffness <= 0:
        raise ValueError('n_frames, displacement and stiffness must be positive')
    model = LinearBornChargeModel(z, reference=unit)
    calculator = SpringCalculator(np.asarray(unit.positions), stiffness=stiffness)
    rng = np.random.default_rng(seed)
    frames = []
    for index in range(n_frames):
        atoms = unit.copy()
        atoms.calc = None
        atoms.info.clear()
        atoms.positions = atoms.positions + rng.normal(scale=displacement, size=atoms.positions.shape)
        calculator.calculate(atoms, ('energy', 'forces', 'stress'))
        atoms.info['energy'] = calculator.results['energy']
        atoms.info['stress'] = np.zeros((3, 3))  # extxyz reads a stress as a 3×3 matrix (eV/Å³)
        atoms.info['dipole'] = model.per_atom_dipoles(atoms).sum(axis=0)
        atoms.info['synthetic'] = f'linear Born-charge model, frame {index}'
        atoms.arrays['forces'] = calculator.results['forces'].copy()
        atoms.arrays['born_charges'] = z.reshape(len(atoms), 9).copy()
        frames.append(atoms)
    return frames


def basis_offsets(supercell: FlexoSupercell) -> np.ndarray:
    """(n_basis, 3) offsets δ_b (Å) of the basis atoms of ``supercell.unit`` from the centre of their cell box."""
    lengths = np.diag(np.asarray(supercell.unit.cell))
    return np.asarray(supercell.unit.positions) - (np.asarray(supercell.basis_origin) + 0.5) * lengths


def analytic_mu(
    supercell: FlexoSupercell,
    unit_born_charges: np.ndarray,
    shifts: Mapping[str, float] | None = None,
) -> float:
    """Exact μ (e/Å) of a linear Z* model (Z* per basis atom of ``supercell.unit``) on ``supercell``'s field.

    ``shifts`` are the λ_s (Å²) of an :class:`InternalRelaxation` applied to the free atoms. Closed forms in the
    module docstring; independent of the atoms, assignment and extraction code it verifies.
    """
    z = np.asarray(unit_born_charges, dtype=float)
    if z.shape != (len(supercell.unit), 3, 3):
        raise ValueError(f'need one Z* per basis atom ({len(supercell.unit)}, 3, 3), got {z.shape}')
    delta = basis_offsets(supercell)
    k = supercell.wavevector
    omega = supercell.unit_volume
    g, i, d = supercell.axis, supercell.polarization_axis, supercell.displacement_axis
    if supercell.geometry == 'transverse':
        mu_field = float(np.sum(z[:, g, d] * delta[:, d] * np.sin(k * delta[:, g])) / (k * omega))
    else:
        mu_field = float(-np.sum(z[:, i, d] * np.cos(k * delta[:, g])) / (k**2 * omega))
    mu_relax = 0.0
    if shifts:
        symbols = supercell.unit.get_chemical_symbols()
        fixed_species = {supercell.reference.get_chemical_symbols()[j] for j in supercell.fixed_indices}
        lam = np.array([0.0 if s in fixed_species else float(shifts.get(s, 0.0)) for s in symbols])
        mu_relax = float(np.sum(z[:, i, i] * lam) / omega)
    return mu_field + mu_relax


def _parse_assignments(text: str, what: str) -> dict[str, float]:
    values = {}
    for token in filter(None, (t.strip() for t in text.split(','))):
        if '=' not in token:
            raise ValueError(f'{what}: expected NAME=VALUE pairs separated by commas, got {token!r}')
        name, value = token.split('=', 1)
        try:
            values[name.strip()] = float(value)
        except ValueError as exc:
            raise ValueError(f'{what}: {value!r} is not a number') from exc
    return values


def model_from_spec(spec: str, bulk: Atoms | None = None, born_charges: np.ndarray | None = None):
    """A synthetic dipole model from a CLI spec (tests and demos, no model file needed).

    * ``synthetic:charges:Ba=2,Ti=4,O=-2``: :class:`FixedChargeModel` (neutral charges);
    * ``synthetic:perovskite[:Ba=2.77,Ti=7.25,O_par=-5.71,O_perp=-2.15]``: :class:`LinearBornChargeModel` with the
      anisotropic perovskite Z* of ``bulk`` (:func:`perovskite_born_charges`, ASR residual removed);
    * ``synthetic:linear-bec``: :class:`LinearBornChargeModel` with ``born_charges`` (per bulk atom, e.g. --bec).
    """
    parts = spec.split(':', 2)
    if parts[0] != 'synthetic' or len(parts) < 2:
        raise ValueError(f'not a synthetic model spec: {spec!r}')
    kind = parts[1]
    rest = parts[2] if len(parts) > 2 else ''
    if kind == 'charges':
        charges = _parse_assignments(rest, spec)
        if not charges:
            raise ValueError('synthetic:charges needs charges, e.g. synthetic:charges:Ba=2,Ti=4,O=-2')
        return FixedChargeModel(charges)
    if kind == 'perovskite':
        if bulk is None:
            raise ValueError('synthetic:perovskite needs the bulk cell')
        values = dict(BATIO3_BORN_CHARGES)
        overrides = _parse_assignments(rest, spec)
        values.update(overrides)
        z = perovskite_born_charges(bulk, values)
        return LinearBornChargeModel(z - z.sum(axis=0) / len(z))
    if kind == 'linear-bec':
        if born_charges is None:
            raise ValueError('synthetic:linear-bec needs Born charges (--bec FILE)')
        return LinearBornChargeModel(np.asarray(born_charges, dtype=float))
    raise ValueError(f'unknown synthetic model {kind!r}: use charges, perovskite or linear-bec')


def relaxer_from_spec(spec: str) -> InternalRelaxation:
    """``synthetic:relax:Ti=0.5,O=-0.2`` -> :class:`InternalRelaxation` with those λ (Å²)."""
    parts = spec.split(':', 2)
    if parts[:2] != ['synthetic', 'relax']:
        raise ValueError(f'not a synthetic relaxation spec (synthetic:relax:Ti=0.5,O=-0.2): {spec!r}')
    return InternalRelaxation(_parse_assignments(parts[2] if len(parts) > 2 else '', spec))


__all__ = [
    'BATIO3_BORN_CHARGES',
    'FixedChargeModel',
    'InternalRelaxation',
    'LinearBornChargeModel',
    'SpringCalculator',
    'analytic_mu',
    'basis_offsets',
    'linear_response_frames',
    'model_from_spec',
    'perovskite_born_charges',
    'relaxer_from_spec',
]
