"""Unit conversions against their definitions."""

import numpy as np
import pytest

from aiida_flexo import units


def test_polarization_conversion():
    # 1 e per Å² is 1.602176634e-19 C / 1e-20 m²
    assert pytest.approx(16.02176634, rel=1e-12) == units.E_PER_A2_TO_C_PER_M2
    assert pytest.approx(1602.176634, rel=1e-12) == units.E_PER_A2_TO_UC_PER_CM2
    # a dipole of 1 e·Å in 64 Å³ (cubic BaTiO3-like cell) is 0.25034 C/m²
    p = units.dipole_to_polarization(np.array([0.0, 0.0, 1.0]), 64.0)
    assert p[2] == pytest.approx(16.02176634 / 64.0)


def test_flexo_and_stress_units():
    assert pytest.approx(1.602176634, rel=1e-12) == units.E_PER_A_TO_NC_PER_M
    assert units.e_per_a_to_nc_per_m(2.0) == pytest.approx(3.204353268)
    assert units.ev_per_a3_to_gpa(1.0) == pytest.approx(
        160.2176634, rel=1e-12
    )  # 1.602176634e-19 J / 1e-30 m³
    assert units.PER_A_TO_PER_M == 1e10


def test_negative_volume_rejected():
    with pytest.raises(ValueError, match='volume'):
        units.dipole_to_polarization(np.zeros(3), 0.0)
