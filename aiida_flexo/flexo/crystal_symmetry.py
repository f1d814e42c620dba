"""What the symmetry of the bulk crystal says about a flexoelectric component and about its Born charges.

The space group comes from pymatgen (spglib underneath) on the bulk cell as given. Two questions:

* :func:`component_symmetry`: is μ_ijkl (type-II, :mod:`aiida_flexo.flexo.convention`) zero by symmetry, or equal
  (or opposite) to a component with a smaller label? The flexoelectric tensor is a polar rank-4 tensor symmetric in
  (j, k): it is averaged over the point group, ``μ'_ijkl = ⟨R_ia R_jb R_kc R_ld μ_abcd⟩``, for random tensors, and the
  components are compared. A cubic crystal (m-3m, -43m, ...) has three independent ones: μ_1111, μ_1221 (transverse)
  and μ_1122 = μ_1212 (shear).
* :func:`born_charges_vanish`: do the Born charges vanish by symmetry? Random Z* are averaged over the space group
  (``Z*_σ(κ) = R Z*_κ Rᵀ``) and the acoustic sum rule (Σ_κ Z*_κ = 0) is imposed; when nothing is left (diamond Si:
  the two atoms are related by inversion, so Z*_1 = Z*_2 = 0) the Born-charge route gives μ = 0 identically.

Angles and positions are those of the cell as given (Cartesian, Å); ``symprec`` is pymatgen's (Å).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from ase import Atoms

from aiida_flexo.flexo.convention import Component

#: symmetry tolerance (Å) of pymatgen's analyser, looser than spglib's default so that a relaxed bulk keeps its group
SYMPREC = 1e-3
#: what a result of a crystal whose Born charges vanish by symmetry says about the Born-charge route
ZERO_BORN_CHARGES_NOTE = (
    'the Born charges of this crystal vanish by symmetry (Z* = 0: its atoms are related by inversion and the '
    'acoustic sum rule holds, as in diamond Si), so the Born-charge route gives μ = 0 identically and was not '
    'computed; μ here comes from the dipole GNN trained on Berry-phase dipoles only'
)
#: a symmetrised random component below this (relative to the largest) is zero by symmetry
ZERO_TOLERANCE = 1e-8


#: results already computed, by (question, bulk fingerprint): μ of several components, lengths and models asks the
#: same bulk the same questions (flexo.run.analyse for every result, remeasure for every committee member)
_ANSWERS: dict[tuple, object] = {}
_MAX_ANSWERS = 256


def _answer(question: str, bulk: Atoms, symprec: float, compute, *extra):
    """The cached answer to ``question`` about ``bulk`` (its cell, species and fractional positions to 1e-10)."""
    key = (
        question,
        np.asarray(bulk.cell[:], dtype=float).round(10).tobytes(),
        np.asarray(bulk.numbers).tobytes(),
        bulk.get_scaled_positions(wrap=True).round(10).tobytes(),
        float(symprec),
        *extra,
    )
    if key not in _ANSWERS:
        if len(_ANSWERS) >= _MAX_ANSWERS:
            _ANSWERS.clear()
        _ANSWERS[key] = compute()
    return _ANSWERS[key]


def _analyzer(bulk: Atoms, symprec: float):
    from pymatgen.io.ase import AseAtomsAdaptor
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    return SpacegroupAnalyzer(AseAtomsAdaptor.get_structure(bulk), symprec=symprec)


def primitive_sublattices(bulk: Atoms, symprec: float = SYMPREC) -> np.ndarray:
    """For each atom of ``bulk``, the atom of its primitive cell it is a lattice translation of: the sublattices of
    the crystal, the same whether the bulk is given as the primitive or a conventional cell (diamond Si: two
    sublattices, atoms 0, 2, 4, 6 and 1, 3, 5, 7 of the 8-atom cubic cell). Every atom its own when no symmetry is
    found."""

    def compute():
        dataset = _analyzer(bulk, symprec).get_symmetry_dataset()
        if dataset is None:
            return np.arange(len(bulk))
        return np.asarray(dataset.mapping_to_primitive, dtype=int)

    return _answer('sublattices', bulk, symprec, compute).copy()


def point_group_rotations(bulk: Atoms, symprec: float = SYMPREC) -> tuple[str, np.ndarray]:
    """The point group symbol (Hermann–Mauguin) and its Cartesian rotations (n, 3, 3) for the cell as given."""

    def compute():
        analyzer = _analyzer(bulk, symprec)
        rotations = np.array(
            [op.rotation_matrix for op in analyzer.get_point_group_operations(cartesian=True)]
        )
        return analyzer.get_point_group_symbol(), rotations

    group, rotations = _answer('point group', bulk, symprec, compute)
    return group, rotations.copy()


def _symmetrised_flexo(rotations: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    tensor = rng.normal(size=(3, 3, 3, 3))
    tensor = 0.5 * (tensor + tensor.transpose(0, 2, 1, 3))  # μ_ijkl = μ_ikjl (ε symmetric)
    return np.mean([np.einsum('ia,jb,kc,ld,abcd->ijkl', r, r, r, r, tensor) for r in rotations], axis=0)


@dataclass(frozen=True)
class ComponentSymmetry:
    """What the bulk's point group says about one component: ``status`` is 'independent', 'zero', 'equal' or
    'opposite' (the last two name the component ``relative_to``)."""

    component: str
    point_group: str
    status: str
    relative_to: str | None = None
    independent: tuple[str, ...] = ()

    @property
    def note(self) -> str | None:
        """A sentence for the result's notes, or None for an independent component."""
        if self.status == 'zero':
            return (
                f'μ{self.component} is zero by the symmetry of the bulk (point group {self.point_group}): the '
                'computed value measures the noise of the models and of the extraction, not a physical coefficient'
            )
        if self.status in ('equal', 'opposite'):
            relation = '' if self.status == 'equal' else '−'
            return (
                f'μ{self.component} = {relation}μ{self.relative_to} by the symmetry of the bulk (point group '
                f'{self.point_group}; its {len(self.independent)} independent components: '
                f'{", ".join("μ" + c for c in self.independent)})'
            )
        return None

    def to_dict(self) -> dict:
        return {
            'component': self.component,
            'point_group': self.point_group,
            'status': self.status,
            'relative_to': self.relative_to,
            'independent': list(self.independent),
        }


def _relation(draws: list[np.ndarray], index: tuple, scale: float) -> tuple[str, tuple | None]:
    """('zero', None), ('equal' | 'opposite', earlier index) or ('independent', None) for one index."""
    values = np.array([d[index] for d in draws])
    tolerance = ZERO_TOLERANCE * scale
    if np.all(np.abs(values) < tolerance):
        return 'zero', None
    for other in itertools.product(range(3), repeat=4):
        if other >= index:
            break
        others = np.array([d[other] for d in draws])
        if np.allclose(others, values, atol=tolerance, rtol=0):
            return 'equal', other
        if np.allclose(others, -values, atol=tolerance, rtol=0):
            return 'opposite', other
    return 'independent', None


def _label(index: tuple) -> str:
    return ''.join(str(a + 1) for a in index)


def component_symmetry(bulk: Atoms, component: str, symprec: float = SYMPREC) -> ComponentSymmetry:
    """Whether μ of ``component`` is independent, zero, or equal/opposite to a component with a smaller label, with
    the independent components of the tensor (up to sign and equality) for the bulk's point group."""
    comp = Component.parse(component)
    return _answer('component', bulk, symprec, lambda: _component_symmetry(bulk, comp, symprec), comp.label)


def _component_symmetry(bulk: Atoms, comp: Component, symprec: float) -> ComponentSymmetry:
    group, rotations = point_group_rotations(bulk, symprec)
    rng = np.random.default_rng(0)
    draws = [_symmetrised_flexo(rotations, rng) for _ in range(2)]
    scale = max(float(np.abs(d).max()) for d in draws)
    status, other = _relation(draws, (comp.i, comp.j, comp.k, comp.l), scale)
    independent = tuple(
        _label(index)
        for index in itertools.product(range(3), repeat=4)
        if _relation(draws, index, scale)[0] == 'independent'
    )
    return ComponentSymmetry(comp.label, group, status, None if other is None else _label(other), independent)


def born_charges_vanish(bulk: Atoms, symprec: float = SYMPREC) -> bool:
    """True when symmetry and the acoustic sum rule force every Born charge of ``bulk`` to zero (diamond Si, Ge, C)."""
    return _answer('born charges vanish', bulk, symprec, lambda: _born_charges_vanish(bulk, symprec))


def _born_charges_vanish(bulk: Atoms, symprec: float) -> bool:
    analyzer = _analyzer(bulk, symprec)
    structure = analyzer.get_symmetrized_structure()
    frac = np.array(structure.frac_coords)
    lattice = np.array(structure.lattice.matrix)
    operations = analyzer.get_symmetry_operations(cartesian=False)
    n = len(frac)
    rng = np.random.default_rng(0)
    charges = rng.normal(size=(n, 3, 3))
    average = np.zeros_like(charges)
    for op in operations:
        rotation = lattice.T @ op.rotation_matrix @ np.linalg.inv(lattice.T)  # fractional → Cartesian
        image = frac @ op.rotation_matrix.T + op.translation_vector
        delta = image[:, None, :] - frac[None, :, :]
        delta -= np.rint(delta)
        target = np.argmin(np.linalg.norm(delta @ lattice, axis=2), axis=1)
        for atom, mapped in enumerate(target):
            average[mapped] += rotation @ charges[atom] @ rotation.T
    average /= len(operations)
    average -= average.mean(axis=0)  # the acoustic sum rule (commutes with the average over the group)
    return bool(np.abs(average).max() < 1e-8 * max(1.0, float(np.abs(charges).max())))
