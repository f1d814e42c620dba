"""Berg–Lüscher skyrmion number: analytic skyrmions, uniform and stripe fields, zero vectors."""

import numpy as np
import pytest

from aiida_flexo.textures.synthetic import skyrmion_field, skyrmion_layer
from aiida_flexo.textures.topology import skyrmion_density, skyrmion_number, skyrmion_numbers, solid_angle

NEEL, BLOCH = 0.0, np.pi / 2


def assert_integer(q: float, expected: int) -> None:
    assert abs(q - round(q)) < 1e-6
    assert round(q) == expected


def test_solid_angle_of_an_octant_is_pi_over_2():
    x, y, z = np.eye(3)
    assert solid_angle(x, y, z) == pytest.approx(np.pi / 2, abs=1e-14)
    assert solid_angle(x, z, y) == pytest.approx(-np.pi / 2, abs=1e-14)  # orientation flips the sign
    assert solid_angle(x, x, z) == pytest.approx(0.0, abs=1e-14)


@pytest.mark.parametrize('helicity', [NEEL, BLOCH], ids=['Neel', 'Bloch'])
def test_skyrmion_with_core_down_has_charge_minus_one(helicity):
    layer = skyrmion_layer((32, 32), radius=7.0, width=1.5, helicity=helicity, core=-1, P0=0.6)
    result = skyrmion_number(layer)
    assert_integer(result.Q, -1)
    assert result.is_integer and result.n_skipped_triangles == 0
    # the charge density sums to Q and sits on the wall ring, not in the uniform background
    density = skyrmion_density(layer)
    assert density.sum() == pytest.approx(result.Q, abs=1e-12)
    assert abs(density[:4, :4]).max() < 1e-3


@pytest.mark.parametrize('helicity', [NEEL, BLOCH], ids=['Neel', 'Bloch'])
def test_reversed_core_has_charge_plus_one(helicity):
    layer = skyrmion_layer((32, 32), radius=7.0, width=1.5, helicity=helicity, core=+1)
    assert_integer(skyrmion_number(layer).Q, +1)
    # reversing the whole field (P -> -P) also flips the charge of the core-down skyrmion
    assert_integer(skyrmion_number(-skyrmion_layer((32, 32), 7.0, 1.5, helicity=helicity)).Q, +1)


def test_charge_is_invariant_under_scaling_translation_and_lattice_size():
    base = skyrmion_layer((24, 24), radius=5.0, width=1.2)
    assert_integer(skyrmion_number(0.01 * base).Q, -1)
    across_boundary = skyrmion_layer((24, 24), radius=5.0, width=1.2, center=(0.3, 23.1))
    assert_integer(skyrmion_number(across_boundary).Q, -1)
    assert_integer(skyrmion_number(skyrmion_layer((40, 28), radius=6.0, width=2.0)).Q, -1)


def test_uniform_fields_have_zero_charge():
    for direction in ([0, 0, 1], [0, 0, -1], [0.3, -0.2, 0.9]):
        layer = np.broadcast_to(np.array(direction, dtype=float), (16, 16, 3))
        assert skyrmion_number(layer).Q == 0.0


def test_stripe_fields_have_zero_charge():
    u = np.arange(32) + 0.5
    k = 2 * np.pi * 2 / 32
    cycloid = np.zeros((32, 16, 3))  # P rotating in the x-z plane along x (Néel-type stripes)
    cycloid[..., 0] = np.sin(k * u)[:, None]
    cycloid[..., 2] = np.cos(k * u)[:, None]
    assert abs(skyrmion_number(cycloid).Q) < 1e-12
    helix = np.zeros((16, 32, 3))  # P rotating in the x-z plane along y (Bloch-type stripes)
    helix[..., 0] = np.sin(k * u)[None, :]
    helix[..., 2] = np.cos(k * u)[None, :]
    assert abs(skyrmion_number(helix).Q) < 1e-12
    ising = np.zeros((32, 16, 3))
    ising[..., 2] = np.tanh((u - 8) / 1.5)[:, None] * -np.tanh((u - 24) / 1.5)[:, None]
    assert abs(skyrmion_number(ising).Q) < 1e-12


def test_two_skyrmions_have_charge_two():
    field = skyrmion_field((48, 24, 3), radius=5.0, width=1.3, core=+1, centers=[(12, 12), (36, 12)])
    charges = skyrmion_numbers(field)
    assert len(charges) == 3
    for charge in charges:
        assert_integer(charge.Q, 2)
    field_down = skyrmion_field((48, 24, 1), radius=5.0, width=1.3, core=-1, centers=[(12, 12), (36, 12)])
    assert_integer(skyrmion_numbers(field_down)[0].Q, -2)


def test_zero_vectors_are_skipped_or_rejected():
    layer = skyrmion_layer((20, 20), radius=5.0, width=1.5)
    layer[3, 4] = 0.0  # in the uniform background: the charge is unchanged
    result = skyrmion_number(layer)
    assert result.n_undefined_sites == 1
    assert result.n_skipped_triangles == 6  # each site is a corner of six triangles
    assert not result.is_integer
    assert round(result.Q) == -1 and abs(result.Q + 1) < 1e-2
    with pytest.raises(ValueError, match=r'vanishes at cell \(3, 4\)'):
        skyrmion_number(layer, on_zero='raise')
    assert skyrmion_number(np.zeros((4, 4, 3))).Q == 0.0


def test_bad_shapes_are_rejected():
    with pytest.raises(ValueError, match='shape'):
        skyrmion_number(np.zeros((4, 4)))
    with pytest.raises(ValueError, match='shape'):
        skyrmion_numbers(np.zeros((4, 4, 3)))
