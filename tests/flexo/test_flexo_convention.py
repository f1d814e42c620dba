"""The μ index convention: parsing, geometry of each component, other orderings, units."""

from __future__ import annotations

import pytest

from aiida_flexo import units
from aiida_flexo.flexo.convention import (
    CONVENTION,
    Component,
    cubic_voigt,
    from_pgs_order,
    gradient_to_per_m,
    mu_to_nc_per_m,
    nc_per_m_to_mu,
    polarization_to_c_per_m2,
)


def test_parse_labels_and_letters():
    c = Component.parse('3113')
    assert (c.i, c.j, c.k, c.l) == (2, 0, 0, 2)
    assert Component.parse('zxxz') == c
    assert Component.parse('mu_3113') == c
    assert Component.parse('μ3113').label == '3113'
    assert str(c) == '3113' and c.name == 'mu_3113'


@pytest.mark.parametrize(
    ('label', 'geometry', 'gradient', 'polarization', 'displacement', 'multiplicity'),
    [
        ('3333', 'longitudinal', 2, 2, 2, 1),
        ('1111', 'longitudinal', 0, 0, 0, 1),
        ('3113', 'transverse', 2, 2, 0, 1),
        ('1133', 'shear', 2, 0, 0, 2),
        ('1313', 'shear', 2, 0, 0, 2),
        ('3311', 'shear', 0, 2, 2, 2),
    ],
)
def test_geometry_of_components(label, geometry, gradient, polarization, displacement, multiplicity):
    c = Component.parse(label)
    assert c.geometry == geometry
    assert c.gradient_axis == gradient
    assert c.polarization_axis == polarization
    assert c.displacement_axis == displacement
    assert c.strain_multiplicity == multiplicity


def test_transverse_measures_the_sum_with_the_shear_term():
    assert Component.parse('3113').measures.startswith('mu_3113 + mu_3311')


@pytest.mark.parametrize('bad', ['333', '3334x', '3403', 'abcd', '33333'])
def test_bad_labels_are_refused(bad):
    with pytest.raises(ValueError, match='component'):
        Component.parse(bad)


def test_unmeasurable_component_names_the_alternatives():
    with pytest.raises(ValueError, match='longitudinal LLLL'):
        Component.parse('1233').geometry  # noqa: B018


def test_other_orderings():
    # the seed's Si transverse "mu3311" (P_3 from d eps_11 / d x_3) is 3113 here
    assert from_pgs_order('3311') == '3113'
    assert from_pgs_order('3333') == '3333'
    assert cubic_voigt('3333') == cubic_voigt('1111') == '11'
    assert cubic_voigt('3113') == cubic_voigt('1221') == '12'
    assert cubic_voigt('1133') == cubic_voigt('1313') == cubic_voigt('3311') == '44'
    assert cubic_voigt('1223') == '0'


def test_permuted_component():
    assert Component.parse('3333').permuted((2, 1, 0)).label == '1111'
    assert Component.parse('1133').permuted((2, 1, 0)).label == '3311'


def test_unit_conversions_use_aiida_flexo_units():
    assert mu_to_nc_per_m(1.0) == pytest.approx(units.E_PER_A_TO_NC_PER_M)
    assert mu_to_nc_per_m(1.0) == pytest.approx(1.602176634)
    assert nc_per_m_to_mu(mu_to_nc_per_m(0.37)) == pytest.approx(0.37)
    assert float(gradient_to_per_m(1.0)) == pytest.approx(1e10)
    assert float(polarization_to_c_per_m2(1.0)) == pytest.approx(units.E_PER_A2_TO_C_PER_M2)
    assert 'P_i = mu_ijkl' in CONVENTION
