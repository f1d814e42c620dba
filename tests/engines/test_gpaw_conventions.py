"""GPAW Berry-phase conventions: phases -> dipole, charge quantum, folding of the ionic part (no GPAW needed)."""

import numpy as np
import pytest

from aiida_flexo.polarization import half_quantum_margin, lattice_shift
from aiida_flexo.polarization.gpaw import gpaw_charge_quantum, gpaw_dipole, ionic_dipole, phase_to_dipole

CELL = np.array([[4.0, 0.0, 0.0], [0.3, 4.1, 0.0], [0.2, -0.4, 3.9]])  # triclinic on purpose


def test_phase_to_dipole_is_fractional_coordinates_times_cell():
    # a phase of 2π along lattice direction c is one lattice vector a_c
    np.testing.assert_allclose(phase_to_dipole([2 * np.pi, 0, 0], CELL), CELL[0])
    np.testing.assert_allclose(phase_to_dipole([0, np.pi, -np.pi], CELL), 0.5 * (CELL[1] - CELL[2]))


def test_ionic_dipole():
    positions = np.array([[0.0, 0.0, 0.0], [1.0, 2.0, 3.0]])
    np.testing.assert_allclose(ionic_dipole(positions, [10, 6]), [6.0, 12.0, 18.0])
    with pytest.raises(ValueError, match='valence charges'):
        ionic_dipole(positions, [10])


@pytest.mark.parametrize(
    ('charges', 'nspins', 'collinear', 'quantum'),
    [
        ([10, 12, 6, 6, 6], 1, True, 2.0),  # BaTiO3, spin-paired
        ([4, 4], 1, True, 2.0),  # Si
        ([10, 12, 6, 6, 6], 2, True, 1.0),  # spin-polarised
        ([10, 12, 6, 6, 6], 1, False, 1.0),  # non-collinear
        ([6, 1, 1], 1, True, 1.0),  # H has one valence electron
        ([13, 5], 1, True, 1.0),  # Ga with d electrons
    ],
)
def test_charge_quantum(charges, nspins, collinear, quantum):
    assert gpaw_charge_quantum(charges, nspins, collinear) == quantum


@pytest.mark.parametrize('charges', [[10, 12, 6, 6, 6], [13, 5, 6, 6, 6]])
def test_wrapping_an_atom_leaves_the_folded_dipole_unchanged(charges):
    rng = np.random.default_rng(1)
    positions = rng.uniform(0, 1, (5, 3)) @ CELL
    electronic_phase = rng.uniform(-np.pi, np.pi, 3)
    reference = gpaw_dipole(electronic_phase, CELL, positions, charges)
    wrapped = positions.copy()
    wrapped[1] += CELL[2] - CELL[0]  # an atom leaves through one face and enters through another
    moved = gpaw_dipole(electronic_phase, CELL, wrapped, charges)
    # the raw dipoles differ by Z (R_3 - R_1), a vector of the lattice q e R ...
    shift = moved.dipole_raw - reference.dipole_raw
    np.testing.assert_allclose(shift, charges[1] * (CELL[2] - CELL[0]), atol=1e-12)
    np.testing.assert_allclose(lattice_shift(shift, CELL, reference.charge_quantum), shift, atol=1e-12)
    # ... so the folded dipoles agree, and they are the minimum image (no lattice vector of quanta is closer to 0)
    np.testing.assert_allclose(moved.dipole, reference.dipole, atol=1e-12)
    np.testing.assert_allclose(
        lattice_shift(reference.dipole, CELL, reference.charge_quantum), 0.0, atol=1e-12
    )
    assert half_quantum_margin(reference.dipole, CELL, reference.charge_quantum) > 0


def test_electronic_phase_jump_of_a_spin_paired_band_is_a_quantum():
    # each band's Berry phase is defined modulo 2π; with the spin factor 2 the electronic phase jumps by 4π
    positions = np.array([[0.0, 0.0, 0.0], [2.0, 2.05, 1.95]])
    phase = np.array([0.3, -0.2, 0.1])
    a = gpaw_dipole(phase, CELL, positions, [4, 4])
    b = gpaw_dipole(phase + np.array([4 * np.pi, 0, -4 * np.pi]), CELL, positions, [4, 4])
    np.testing.assert_allclose(b.dipole_raw - a.dipole_raw, 2 * (CELL[0] - CELL[2]), atol=1e-12)
    np.testing.assert_allclose(b.dipole, a.dipole, atol=1e-12)
