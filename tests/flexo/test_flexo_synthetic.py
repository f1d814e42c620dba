"""Verification (a): synthetic dipole models on imposed fields give the analytic μ to 1e-6 relative."""

from __future__ import annotations

import numpy as np
import pytest

from aiida_flexo.flexo.extract import extract_from_dipoles
from aiida_flexo.flexo.supercell import build_supercell
from aiida_flexo.flexo.synthetic import (
    FixedChargeModel,
    InternalRelaxation,
    LinearBornChargeModel,
    analytic_mu,
    model_from_spec,
)

RTOL = 1e-6


def _run(sc, model, relaxation=None):
    atoms = sc.atoms if relaxation is None else relaxation.for_supercell(sc)(sc.atoms)
    return extract_from_dipoles(sc, model.for_supercell(sc).per_atom_dipoles(atoms))


def test_rigid_field_matches_hand_formula(bto, bto_born):
    """Imposed field only: μ = (Z_Ba + Z_O∥)(1 − cos(k a/2)) / (k² Ω), worked out by hand for the Ba-corner cell."""
    sc = build_supercell(bto, '3333', 14, 0.005, fix='Ba')
    ext = _run(sc, LinearBornChargeModel(bto_born))
    a, k = 4.0, 2 * np.pi / 56.0
    # basis offsets along z from the cell centre: Ba −a/2, O(½,½,0) −a/2 (its Ti–O bond is along z: O∥); others 0
    expected = (bto_born[0, 2, 2] + bto_born[2, 2, 2]) * (1 - np.cos(k * a / 2)) / (k**2 * a**3)
    assert abs(expected) > 1e-3  # nonzero: a rigid field polarizes cells whose basis is not centred
    assert ext.mu_two_point == pytest.approx(expected, rel=RTOL)
    assert ext.mu_fit == pytest.approx(expected, rel=RTOL)
    assert analytic_mu(sc, bto_born) == pytest.approx(expected, rel=1e-12)
    assert ext.two_point['exact']


def test_small_k_limit_is_the_basis_quadrupole(bto, bto_born):
    """For long periods μ_field → Σ_b Z*_b δ_b² / (2Ω) (independent of the closed form)."""
    sc = build_supercell(bto, '3333', 400, 0.001)
    delta_z = np.array([-2.0, 0.0, -2.0, 0.0, 0.0])
    expected = np.sum(bto_born[:, 2, 2] * delta_z**2) / (2 * 64.0)
    assert analytic_mu(sc, bto_born) == pytest.approx(expected, rel=1e-4)


@pytest.mark.parametrize(
    ('component', 'repeat', 'shape'),
    [
        ('3333', 14, 'sine'),
        ('3333', 12, 'cosine'),
        ('1111', 10, 'sine'),
        ('1133', 14, 'sine'),
        ('2323', 10, 'cosine'),
        ('3113', 12, 'sine'),
        ('3113', 10, 'cosine'),
        ('1221', 8, 'sine'),
    ],
)
def test_linear_born_model_with_internal_relaxation(bto, general_born, component, repeat, shape):
    shifts = {'Ti': 0.6, 'O': -0.25}
    sc = build_supercell(bto, component, repeat, 0.004, fix='Ba', shape=shape, transverse_repeat=None)
    ext = _run(sc, LinearBornChargeModel(general_born), InternalRelaxation(shifts))
    expected = analytic_mu(sc, general_born, shifts)
    assert abs(expected) > 1e-3
    assert ext.mu_two_point == pytest.approx(expected, rel=RTOL)
    assert ext.mu_fit == pytest.approx(expected, rel=RTOL)
    assert ext.fit_stderr < 1e-6 * abs(expected)
    # the relaxation part alone is Σ Z*_ii λ / Ω
    i = sc.polarization_axis
    relax_part = (general_born[1, i, i] * 0.6 - 0.25 * general_born[2:, i, i].sum()) / 64.0
    assert expected - analytic_mu(sc, general_born) == pytest.approx(relax_part, rel=1e-12)


def test_fixed_charges(bto):
    model = FixedChargeModel({'Ba': 2.0, 'Ti': 4.0, 'O': -2.0})
    shifts = {'Ti': 0.5, 'O': -0.2}
    sc = build_supercell(bto, '3333', 14, 0.005, fix='Ba')
    ext = _run(sc, model, InternalRelaxation(shifts))
    z = np.array([q * np.eye(3) for q in (2.0, 4.0, -2.0, -2.0, -2.0)])
    expected = analytic_mu(sc, z, shifts)
    # formal charges: the rigid Ba/O(∥) term cancels, the relaxation gives (4·0.5 + 3·(−2)(−0.2)) / Ω
    assert expected == pytest.approx((4 * 0.5 + 6 * 0.2) / 64.0, rel=1e-9)
    assert ext.mu_two_point == pytest.approx(expected, rel=RTOL)
    assert ext.mu_fit == pytest.approx(expected, rel=RTOL)


def test_fixed_charges_must_be_neutral(bto):
    sc = build_supercell(bto, '3333', 8, 0.005)
    with pytest.raises(ValueError, match='net charge'):
        FixedChargeModel({'Ba': 2.0, 'Ti': 4.0, 'O': -1.0}).for_supercell(sc)


def test_synthetic_errors(bto):
    sc = build_supercell(bto, '3333', 8, 0.005, fix='Ba')
    with pytest.raises(ValueError, match='no value for species'):
        LinearBornChargeModel({'Ba': 2.0}).for_supercell(sc)
    with pytest.raises(ValueError, match='no reference'):
        LinearBornChargeModel({'Ba': 2.0}).per_atom_dipoles(sc.atoms)
    with pytest.raises(ValueError, match='fixed'):
        InternalRelaxation({'Ba': 0.1}).for_supercell(sc)(sc.atoms)
    with pytest.raises(ValueError, match='NAME=VALUE'):
        model_from_spec('synthetic:charges:Ba2')
    with pytest.raises(ValueError, match='unknown synthetic'):
        model_from_spec('synthetic:magic')


def test_spec_perovskite_model_obeys_asr(bto):
    model = model_from_spec('synthetic:perovskite', bulk=bto)
    sc = build_supercell(bto, '3333', 8, 0.005)
    z = model.for_supercell(sc).born_charges(sc.reference)
    np.testing.assert_allclose(z.sum(axis=0), 0.0, atol=1e-12)
    # O∥ of the O at (½, ½, 0) is along z
    assert z[2, 2, 2] < z[2, 0, 0]


def test_linear_response_frames_are_a_consistent_crystal(bto, bto_born):
    """The known-answer training set of the pipeline test: d = Σ Z*·u, F = −∂E/∂r, Z* constant; ASR enforced."""
    from aiida_flexo.flexo.synthetic import linear_response_frames

    frames = linear_response_frames(bto, bto_born, 3, displacement=0.05, stiffness=8.0, seed=2)
    assert len(frames) == 3 and not np.allclose(frames[0].positions, frames[1].positions)
    for atoms in frames:
        u = atoms.positions - bto.positions
        assert np.allclose(atoms.info['dipole'], np.einsum('iab,ib->a', bto_born, u))
        assert np.allclose(atoms.arrays['born_charges'].reshape(-1, 3, 3), bto_born)
        assert atoms.info['energy'] == pytest.approx(4.0 * np.sum(u**2))
        assert np.allclose(atoms.arrays['forces'], -8.0 * u)
    # a rigid translation of a frame leaves its dipole unchanged (that is what the sum rule buys)
    shifted = frames[0].copy()
    shifted.positions += [0.1, -0.2, 0.3]
    model = LinearBornChargeModel(bto_born, reference=bto)
    assert np.allclose(model.per_atom_dipoles(shifted).sum(axis=0), frames[0].info['dipole'])
    broken = bto_born.copy()
    broken[0] += np.eye(3)
    with pytest.raises(ValueError, match='acoustic sum rule'):
        linear_response_frames(bto, broken, 2)
