"""Extraction estimators, per-cell sums and convergence tables on hand-made numbers."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from aiida_flexo.flexo.cells import (
    born_charge_dipoles,
    cell_dipoles,
    cell_polarization,
    displacements,
    layer_average,
)
from aiida_flexo.flexo.convention import nc_per_m_to_mu
from aiida_flexo.flexo.convergence import extrapolate, mu_vs_repeat, mu_vs_strain
from aiida_flexo.flexo.extract import extract, fit_mu, two_point_mu
from aiida_flexo.flexo.supercell import build_supercell


def _sampled(n=12, period=48.0, shift=0.0):
    z = (np.arange(n) + 0.5) * period / n + shift
    k = 2 * np.pi / period
    return z, -np.sin(k * z), np.cos(k * z), k


def test_fit_recovers_mu_with_strain_and_offset():
    z, g, eps, _ = _sampled()
    p = 2.0 * g + 0.5 * eps + 0.3
    mu, stderr, offset, fitted, e = fit_mu(p, g, eps)
    assert mu == pytest.approx(2.0, rel=1e-12) and offset == pytest.approx(0.3) and e == pytest.approx(0.5)
    assert stderr < 1e-12
    np.testing.assert_allclose(fitted, p, atol=1e-12)
    # without the strain term μ is the same (orthogonal over the period) but the error bar is not
    mu2, stderr2, *_ = fit_mu(p, g)
    assert mu2 == pytest.approx(2.0, rel=1e-12) and stderr2 > 0.01


def test_fit_stderr_matches_numpy_covariance():
    z, g, _, _ = _sampled(n=20)
    p = 1.5 * g + 0.1 + np.random.default_rng(1).normal(scale=0.05, size=g.shape)
    mu, stderr, *_ = fit_mu(p, g)
    coefficients, covariance = np.polyfit(g, p, 1, cov='unscaled')
    dof = len(p) - 2
    sigma2 = np.sum((p - np.polyval(coefficients, g)) ** 2) / dof
    assert mu == pytest.approx(coefficients[0])
    assert stderr == pytest.approx(np.sqrt(covariance[0, 0] * sigma2))


def test_two_point_nearest_and_interpolated():
    z, g, eps, k = _sampled(n=14, period=56.0)
    p = -0.7 * g + 0.2 * eps + 1.0
    out = two_point_mu(z, p, g, (14.0, 42.0), 56.0)
    assert out['mu'] == pytest.approx(-0.7, rel=1e-12) and out['exact'] and out['layers'] == [[3], [10]]
    # layers shifted by a quarter cell: the extrema fall between layers; nearest picks up the strain term,
    # interpolation removes most of it
    z, g, eps, k = _sampled(n=14, period=56.0, shift=1.0)
    p = -0.7 * g + 0.2 * eps + 1.0
    near = two_point_mu(z, p, g, (14.0, 42.0), 56.0, 'nearest')
    interp = two_point_mu(z, p, g, (14.0, 42.0), 56.0, 'interpolate')
    assert not near['exact'] and near['offset_A'] == pytest.approx(1.0)
    assert abs(interp['mu'] + 0.7) < 0.5 * abs(near['mu'] + 0.7)
    assert sorted(interp['layers'][0]) == [2, 3]
    with pytest.raises(ValueError, match='method'):
        two_point_mu(z, p, g, (14.0, 42.0), 56.0, 'cubic')


def test_extract_on_a_supercell_profile(bto):
    sc = build_supercell(bto, '3333', 14, 0.005)
    g = sc.effective_gradient
    p_cells = np.zeros((sc.n_cells, 3))
    mu = nc_per_m_to_mu(-0.758)
    p_cells[:, 2] = mu * g + 0.02 * sc.strain + 1e-4
    p_cells[:, 0] = 5.0  # other components are ignored
    ext = extract(sc, p_cells)
    assert ext.mu_two_point == pytest.approx(mu, rel=1e-9)
    assert ext.mu_fit == pytest.approx(mu, rel=1e-9)
    data = ext.to_dict()
    assert data['mu_nC_per_m']['fit'] == pytest.approx(-0.758, rel=1e-9)
    assert data['component'] == '3333' and 'P_i = mu_ijkl' in data['convention']
    assert len(data['profile']['z_A']) == 14
    assert max(abs(v) for v in data['profile']['strain_gradient_per_m']) == pytest.approx(
        0.005 * 2 * np.pi / 56.0 * 1e10,
        rel=1e-9,  # a layer sits on the extremum
    )
    with pytest.raises(ValueError, match='n_cells'):
        extract(sc, p_cells[:5])


def test_odd_repeat_is_flagged(bto):
    sc = build_supercell(bto, '3333', 13, 0.005)
    ext = extract(sc, np.zeros((sc.n_cells, 3)) + np.array([0, 0, 1.0]) * sc.effective_gradient[:, None])
    assert not ext.two_point['exact']
    assert any('even N' in note for note in ext.notes)


def test_cell_sums_and_layers():
    per_atom = np.arange(18, dtype=float).reshape(6, 3)
    assignment = np.array([0, 0, 1, 1, 2, 2])
    dipoles = cell_dipoles(per_atom, assignment)
    np.testing.assert_array_equal(dipoles[1], per_atom[2] + per_atom[3])
    np.testing.assert_allclose(cell_polarization(dipoles, 2.0), dipoles / 2.0)
    layers = layer_average(np.array([1.0, 3.0, 5.0, 7.0]), np.array([0, 0, 1, 1]))
    np.testing.assert_array_equal(layers, [2.0, 6.0])
    masked = layer_average(
        np.array([1.0, 3.0, 5.0, 7.0]), np.array([0, 0, 1, 1]), mask=np.array([1, 0, 1, 1], bool)
    )
    np.testing.assert_array_equal(masked, [1.0, 6.0])
    with pytest.raises(ValueError, match='per-atom dipoles'):
        cell_dipoles(per_atom[:4], assignment)
    with pytest.raises(ValueError, match='positive'):
        cell_polarization(dipoles, 0.0)
    z = np.array([np.eye(3) * q for q in (1.0, -1.0)])
    np.testing.assert_allclose(
        born_charge_dipoles(z, np.array([[0, 0, 0.1], [0, 0, 0.1]])), [[0, 0, 0.1], [0, 0, -0.1]]
    )


def test_displacements_use_the_minimum_image(bto):
    moved = bto.copy()
    moved.positions[0] = [-0.01, 0.0, 3.999]  # Ba at the corner, across the box faces
    u = displacements(moved, bto)
    np.testing.assert_allclose(u[0], [-0.01, 0.0, -0.001], atol=1e-12)


def test_convergence_tables():
    def fake(mu_e_per_a):
        return SimpleNamespace(mu_two_point=mu_e_per_a, mu_fit=mu_e_per_a, fit_stderr=0.0, bec=None)

    table = mu_vs_repeat(lambda n: fake(0.5 - 1.0 / n**2), [6, 10, 20, 40])
    assert table.parameter == 'repeat' and table.values == [6, 10, 20, 40]
    assert table.converged(0.01) and not mu_vs_repeat(lambda n: fake(1.0 / n), [2, 4]).converged(0.01)
    assert table.mu_fit[-1] == pytest.approx((0.5 - 1 / 1600) * 1.602176634)
    strains = mu_vs_strain(lambda e: fake(0.3), [0.001, 0.005])
    assert strains.converged(1e-12) and strains.to_dict()['parameter'] == 'max_strain'
    with pytest.raises(ValueError, match='at least one'):
        mu_vs_strain(lambda e: fake(0.3), [])


@pytest.mark.parametrize(('form', 'power'), [('1/N^2', 2), ('1/N', 1)])
def test_extrapolation_recovers_the_limit_and_the_form(form, power):
    """Data made from μ∞ + a N^-p: the form with the lower χ² is the true one, μ∞ is exact, the other form adds
    (almost) nothing to the error bar because the data exclude it."""
    n = np.array([6, 10, 14, 20, 28])
    mu = -0.75 + 2.5 * n ** (-float(power))
    limit = extrapolate(n, mu, np.full(5, 0.002))
    assert limit.form == form
    assert limit.mu_inf == pytest.approx(-0.75, abs=1e-9)
    assert limit.form_spread < 1e-3
    assert limit.error < 0.01
    assert limit.distance_from_limit == pytest.approx(abs(mu[-1] + 0.75) / 0.75)


def test_extrapolation_error_bar_has_every_part():
    """Noisy μ(N): the error bar is the quadrature sum of the fit error, the extrapolation and the spread, and it
    covers the true limit; two lengths give the full distance between the forms."""
    rng = np.random.default_rng(0)
    n = np.array([6, 8, 10, 14, 20, 28, 36])
    mu = -1.1 + 3.0 / n + rng.normal(scale=0.01, size=n.size)
    limit = extrapolate(n, mu, np.full(n.size, 0.01), spread=0.05)
    assert limit.error == pytest.approx(np.sqrt(limit.fit_stderr**2 + limit.form_spread**2 + 0.05**2))
    assert abs(limit.mu_inf + 1.1) < 2 * limit.error
    two = extrapolate([10, 20], [-0.8, -0.9])
    slope_inv_sq = (-0.9 + 0.8) / (20**-2 - 10**-2)
    assert two.mu_inf == pytest.approx(-0.8 - slope_inv_sq * 10**-2)
    assert two.form_spread == pytest.approx(abs(two.fits[1].mu_inf - two.mu_inf))
    assert two.fits[1].mu_inf == pytest.approx(-1.0)  # μ∞ + a/N through the two points


@pytest.mark.parametrize(
    ('repeats', 'mu', 'message'),
    [
        ([10, 10], [-0.8, -0.81], 'two or more supercell lengths'),
        ([6, 10], [-0.8, float('nan')], 'non-finite'),
    ],
)
def test_extrapolation_refuses_what_it_cannot_fit(repeats, mu, message):
    with pytest.raises(ValueError, match=message):
        extrapolate(repeats, mu)


def test_a_limit_zero_within_its_error_has_no_relative_distance():
    """Si's μ3113 from a model: scatter about zero. No '2000 % from it': the limit is zero within its error."""
    limit = extrapolate([6, 10, 14, 20], [0.0, 0.0003, 0.0, -0.0001], [0.0017, 0.0015, 0.0018, 0.0017])
    assert abs(limit.mu_inf) <= limit.error
    assert np.isnan(limit.distance_from_limit) and limit.to_dict()['distance_from_limit'] is None
    assert limit.summary().endswith('zero within its error')
