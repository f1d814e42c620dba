"""Born-charge baseline of the local polarization: analytic dipoles of a seeded superlattice."""

from __future__ import annotations

import numpy as np
import pytest

from aiida_flexo.textures.born import LITERATURE_BORN_CHARGES, born_charge_model, site_born_charges
from aiida_flexo.textures.field import field_from_model
from aiida_flexo.textures.superlattice import build_superlattice
from aiida_flexo.units import dipole_to_polarization


def test_acoustic_sum_rule_per_material():
    for z in LITERATURE_BORN_CHARGES.values():
        assert z['A'] + z['B'] + z['O_par'] + 2 * z['O_perp'] == pytest.approx(0.0, abs=1e-12)


def test_oxygen_tensor_along_its_bond():
    sl = build_superlattice(1, 1, 1, ('PbTiO3', 'SrTiO3'))
    z = site_born_charges(sl)
    pto = LITERATURE_BORN_CHARGES['PbTiO3']
    o_z = np.flatnonzero((sl.site == 4) & (sl.cell_index[:, 2] == 0))[
        0
    ]  # O_z of the PbTiO3 layer: B–O along z
    assert np.diag(z[o_z]) == pytest.approx([pto['O_perp'], pto['O_perp'], pto['O_par']])
    # a uniform translation of a whole cell carries no dipole (sum rule)
    cell = sl.cell_index[:, 2] == 1
    assert z[cell].sum(0) == pytest.approx(np.zeros((3, 3)), abs=1e-12)


def test_seeded_layers_polarization_is_z_star_times_u():
    d_b, d_o = 0.15, -0.10
    sl = build_superlattice(
        2, 1, 2, ('PbTiO3', 'SrTiO3'), seed='uniform', displacement_B=d_b, displacement_O=d_o
    )
    model = born_charge_model(sl)
    P = field_from_model([sl.atoms], model, sl.cell_index, sl.grid_shape, sl.cell_volumes())
    z = LITERATURE_BORN_CHARGES['PbTiO3']
    dipole = z['B'] * d_b + (z['O_par'] + 2 * z['O_perp']) * d_o  # e·Å along +z per seeded cell
    volume = sl.a_inplane**2 * sl.layer_heights[0]
    expected = float(dipole_to_polarization(np.array([0.0, 0.0, dipole]), volume)[2])
    assert expected > 0.3  # B up, O down: P along +z, about 0.55 C/m²
    assert P[:, :, :2, 2] == pytest.approx(expected, rel=1e-9)
    assert P[:, :, :2, :2] == pytest.approx(0.0, abs=1e-12)
    assert P[:, :, 2] == pytest.approx(0.0, abs=1e-12)  # the SrTiO3 spacer is not seeded


def test_missing_material_is_named():
    sl = build_superlattice(1, 1, 1, ('PbTiO3', 'SrTiO3'))
    with pytest.raises(ValueError, match='SrTiO3'):
        site_born_charges(sl, {'PbTiO3': LITERATURE_BORN_CHARGES['PbTiO3']})
