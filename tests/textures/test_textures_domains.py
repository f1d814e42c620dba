"""Domains and domain walls: labels with periodic boundaries, tanh width, Néel/Bloch/Ising type, positions."""

import numpy as np
import pytest

from aiida_flexo.textures.domains import (
    BLOCH,
    ISING,
    NEEL,
    find_walls,
    fit_wall_profile,
    label_domains,
    periodic_label,
)
from aiida_flexo.textures.synthetic import skyrmion_field, stripe_walls_field

A = 3.9  # Å


def test_fit_wall_profile_recovers_an_exact_tanh():
    x = np.linspace(-20, 20, 41)
    s = -0.7 * np.tanh((x - 1.3) / 2.6)
    fit = fit_wall_profile(x, s)
    assert fit.ok
    assert fit.width_A == pytest.approx(2.6, rel=1e-6)
    assert fit.x0_A == pytest.approx(1.3, abs=1e-6)
    assert pytest.approx(0.7, rel=1e-6) == fit.P0


def test_periodic_label_joins_domains_across_the_boundary():
    mask = np.zeros((8, 3, 1), dtype=bool)
    mask[:2] = mask[6:] = True  # one domain that wraps around x
    labels, n = periodic_label(mask, (True, True, True))
    assert n == 1 and set(np.unique(labels)) == {0, 1}
    _, n_open = periodic_label(mask, (False, True, True))
    assert n_open == 2


@pytest.mark.parametrize('kind', [NEEL, BLOCH, ISING])
@pytest.mark.parametrize('axis', [0, 1], ids=['normal-x', 'normal-y'])
def test_synthetic_walls_width_type_and_position(kind, axis):
    width = 2.2  # cells
    shape = (64, 6, 3) if axis == 0 else (6, 64, 3)
    P = stripe_walls_field(shape, (16.3, 48.7), width, kind=kind, axis=axis, P0=0.6, rotation=0.5)
    rng = np.random.default_rng(0)
    P = P + 0.005 * rng.standard_normal(P.shape)  # ~1 % noise
    domains = label_domains(P)
    assert domains.n_domains == 2
    assert sorted(domains.sizes[1:].tolist()) == [31 * 6 * 3, 33 * 6 * 3]  # cells 16..48 are up
    walls = find_walls(P, domains, A)
    assert len(walls) == 2
    positions = sorted(w.position_cells[axis] for w in walls)
    assert positions == pytest.approx([16.3, 48.7], abs=0.05)
    for wall in walls:
        assert wall.type == kind
        assert wall.width_cells == pytest.approx(width, rel=0.05)
        assert wall.width_A == pytest.approx(width * A, rel=0.05)
        assert pytest.approx(0.6, rel=0.03) == wall.P0
        assert wall.position_A[axis] == pytest.approx(wall.position_cells[axis] * A, rel=1e-9)
        other = 1 - axis
        assert wall.position_cells[other] is None  # the wall spans the whole periodic cell along it
        assert abs(wall.normal[axis]) == pytest.approx(1.0) and wall.radius_cells is None
        assert wall.n_fits == wall.n_bonds == 6 * 3
    if kind == ISING:
        assert all(w.min_abs_P_fraction < 0.1 for w in walls)
    else:
        fraction = {NEEL: 'neel_fraction', BLOCH: 'bloch_fraction'}[kind]
        assert all(getattr(w, fraction) == pytest.approx(0.5 * 0.98, abs=0.05) for w in walls)


def test_thin_walls_are_fitted_within_five_percent():
    P = stripe_walls_field((48, 4, 2), (12.5, 36.5), 0.8, kind=NEEL, P0=0.5)
    walls = find_walls(P, label_domains(P), A)
    assert [w.type for w in walls] == [NEEL, NEEL]
    assert all(w.width_cells == pytest.approx(0.8, rel=0.05) for w in walls)


@pytest.mark.parametrize(('helicity', 'kind'), [(0.0, NEEL), (np.pi / 2, BLOCH)])
def test_bubble_wall_is_closed_with_its_radius_and_type(helicity, kind):
    P = 0.5 * skyrmion_field((32, 32, 3), radius=8.0, width=1.5, helicity=helicity)
    domains = label_domains(P)
    assert domains.n_domains == 2
    core = domains.labels[16, 16, 0]
    assert np.allclose(domains.directions[core], [0, 0, -1])
    walls = find_walls(P, domains, A)
    assert len(walls) == 1
    wall = walls[0]
    assert wall.type == kind
    assert wall.normal is None  # closed wall
    assert wall.position_cells[0] == pytest.approx(16.0, abs=0.1)
    assert wall.position_cells[1] == pytest.approx(16.0, abs=0.1)
    assert wall.position_cells[2] is None
    assert wall.radius_cells == pytest.approx(8.0, abs=0.3)
    assert wall.radius_A == pytest.approx(wall.radius_cells * A, rel=1e-9)
    assert wall.width_cells == pytest.approx(1.5, rel=0.1)


def test_orientation_clustering_finds_the_variants():
    P = np.zeros((12, 4, 2, 3))
    P[:6, ..., 2] = 0.5  # c domain
    P[6:, ..., 0] = 0.5  # a domain: a 90° wall pair
    domains = label_domains(P, 'orientation')
    assert domains.n_domains == 2
    assert {tuple(domains.directions[i]) for i in (1, 2)} == {(0.0, 0.0, 1.0), (1.0, 0.0, 0.0)}
    walls = find_walls(P, domains, A)
    assert len(walls) == 2 and all(w.type == '90-degree' for w in walls)
    # by the sign of P_z alone the a domain has no sign: it is unlabelled
    assert label_domains(P, 'sign').sizes[0] == 6 * 4 * 2


def test_charged_wall_between_layers_is_head_to_head():
    P = np.zeros((4, 4, 8, 3))
    P[:, :, :4, 2] = 0.4  # up below
    P[:, :, 4:, 2] = -0.4  # down above: they meet head to head at z = 4 (and tail to tail at z = 0)
    walls = find_walls(P, label_domains(P), A)
    assert sorted(w.type for w in walls) == ['head-to-head', 'tail-to-tail']
    head = next(w for w in walls if w.type == 'head-to-head')
    assert head.position_cells[2] == pytest.approx(4.0, abs=1e-3)


def test_bad_method_and_shape():
    with pytest.raises(ValueError, match='sign'):
        label_domains(np.zeros((2, 2, 2, 3)), 'kmeans')
    with pytest.raises(ValueError, match='shape'):
        label_domains(np.zeros((2, 2, 3)))
