"""Heating runs (aiida_flexo.textures.heating): the transition temperature of known P(T) curves, the Born-charge
cell polarization of a known displacement, and a heating run of a harmonic crystal whose mean displacement is known."""

from __future__ import annotations

import numpy as np
import pytest
from ase.calculators.calculator import Calculator, all_changes

from aiida_flexo.textures.born import born_charge_model, site_born_charges, undistorted_superlattice
from aiida_flexo.textures.heating import (
    cell_polarization,
    check_heating,
    describe_transition,
    heating_run,
    heating_summary,
    transition_temperature,
)
from aiida_flexo.textures.superlattice import build_superlattice
from aiida_flexo.units import E_PER_A2_TO_C_PER_M2

TEMPERATURES = [300.0, 400.0, 500.0, 600.0, 700.0, 800.0, 900.0]


def landau(temperatures, tc: float, p0: float = 0.8):
    return [p0 * np.sqrt(max(0.0, 1 - t / tc)) for t in temperatures]


def test_transition_of_a_landau_curve():
    result = transition_temperature(TEMPERATURES, landau(TEMPERATURES, 700.0))
    assert result['landau_K'] == pytest.approx(700.0, rel=1e-9)  # P² linear in T: exact
    # P(600) = 0.378 sqrt... 1/7 of P0²; threshold 0.25 P(300); the crossing interpolated between 600 and 700 K
    p = landau([300.0, 600.0], 700.0)
    expected = 600 + 100 * (p[1] - 0.25 * p[0]) / p[1]
    assert result['T_vanish_K'] == pytest.approx(expected) and result['bound'] is None
    assert describe_transition(result) == (
        f'|⟨P⟩| vanishes near {expected:.0f} K (Landau fit of P² ∝ T_c − T: 700 K)'
    )


def test_transition_bounds_and_refusals():
    never = transition_temperature(TEMPERATURES, landau(TEMPERATURES, 5000.0))
    assert never['bound'] == 'above' and never['T_vanish_K'] == 900.0
    assert never['landau_K'] == pytest.approx(5000.0, rel=1e-9)
    gone = transition_temperature(TEMPERATURES, [0.01] * len(TEMPERATURES))
    assert gone['bound'] == 'above'  # flat: never falls below a quarter of itself
    zero = transition_temperature(TEMPERATURES, [0.0] * len(TEMPERATURES))
    assert zero['bound'] == 'below' and zero['landau_K'] is None
    with pytest.raises(ValueError, match='must rise'):
        transition_temperature([300.0, 300.0], [0.5, 0.1])
    with pytest.raises(ValueError, match='finite'):
        transition_temperature([300.0, 400.0], [0.5, float('nan')])
    with pytest.raises(ValueError, match='at least two'):
        transition_temperature([300.0], [0.5])


def _bulk(n: int = 2):
    return build_superlattice(n, 0, n, ('PbTiO3', 'SrTiO3'))


def test_cell_polarization_of_one_displaced_ti():
    superlattice = _bulk()
    charges = site_born_charges(superlattice)
    reference = undistorted_superlattice(superlattice).atoms
    atoms = reference.copy()
    ti = int(np.nonzero(superlattice.site == 1)[0][3])
    atoms.positions[ti, 2] += 0.1
    P = cell_polarization(atoms, reference.get_scaled_positions(wrap=False), charges)
    expected = charges[ti][2, 2] * 0.1 / atoms.get_volume() * E_PER_A2_TO_C_PER_M2
    assert pytest.approx([0.0, 0.0, expected], abs=1e-12) == P
    # the same displacement across the periodic boundary is the same dipole
    atoms.positions[ti, 2] += atoms.cell[2, 2]
    assert cell_polarization(atoms, reference.get_scaled_positions(wrap=False), charges)[2] == pytest.approx(
        expected
    )
    with pytest.raises(ValueError, match='same atoms'):
        cell_polarization(atoms[:-1], reference.get_scaled_positions(wrap=False), charges)


class ShiftedEinstein(Calculator):
    """Every atom on a spring (k, eV/Å²) to its ideal site, the Ti sites shifted by ``shift`` Å along z: the mean
    displacement is exactly the shift at any temperature (harmonic), so ⟨P_z⟩ = Σ_Ti Z*_zz·shift / V."""

    implemented_properties = ('energy', 'forces')

    def __init__(self, sites, titanium, shift, k=50.0):
        super().__init__()
        self.sites, self.k = sites.copy(), k
        self.sites[titanium, 2] += shift

    def calculate(self, atoms=None, properties=('energy',), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        d = self.atoms.positions - self.sites
        self.results = {'energy': 0.5 * self.k * float((d * d).sum()), 'forces': -self.k * d}


def test_heating_run_of_a_harmonic_crystal():
    superlattice = _bulk()
    titanium = superlattice.site == 1
    shift = 0.15
    calculator = ShiftedEinstein(superlattice.atoms.positions, titanium, shift)
    superlattice.atoms.positions[titanium, 2] += (
        shift  # start in equilibrium (the reference stays undistorted)
    )
    points = heating_run(
        superlattice,
        calculator,
        [200.0, 400.0],
        300,
        timestep_fs=1.0,
        stride=10,
        thermostat='langevin',
        seed=3,
        dipole_model=born_charge_model(superlattice),  # a dipole model with the same charges: the same ⟨P⟩
    )
    charges = site_born_charges(superlattice)
    expected = (
        charges[titanium][:, 2, 2].sum() * shift / superlattice.atoms.get_volume() * E_PER_A2_TO_C_PER_M2
    )
    assert [p.target_K for p in points] == [200.0, 400.0]
    for point in points:
        assert point.n_frames == 15
        assert point.mean_temperature_K == pytest.approx(point.target_K, rel=0.3)
        assert point.polarization_C_m2[2] == pytest.approx(expected, rel=0.05)
        assert abs(point.polarization_C_m2[0]) < 0.1 * expected
        assert point.gnn_polarization_C_m2 == pytest.approx(point.polarization_C_m2, abs=1e-9)
        assert point.c_over_a == pytest.approx(4.152 / 3.905)  # fixed cell (Langevin): PbTiO3's c on SrTiO3
    summary = heating_summary(points)
    assert (
        summary['transition_born']['bound'] == summary['transition_gnn']['bound'] == 'above'
    )  # no transition
    assert describe_transition(summary['transition_born']) == '|⟨P⟩| does not vanish up to 400 K'
    with pytest.raises(ValueError, match='rising'):
        heating_run(superlattice, calculator, [400.0, 200.0], 300)
    with pytest.raises(ValueError, match='two frames'):
        heating_run(superlattice, calculator, [200.0], 10, stride=10)


def test_heating_settings_are_checked_in_one_place():
    """One rule for the command, the CalcJob's port and the run: two rising temperatures, the least steps and size,
    a positive time step; each refusal names the setting."""
    assert check_heating([300, 900], 20, 2, 0.5) == [300.0, 900.0]
    assert check_heating([300, 900]) == [300.0, 900.0]  # settings not given are not checked
    for bad, words in (
        (([300],), 'at least 2 positive, rising temperatures'),
        (([300, 300],), 'rising temperatures'),
        (([300, float('nan')],), 'rising temperatures'),
        (([300, 900], 19), 'steps per temperature must be at least 20'),
        (([300, 900], 20, 1), 'size must be at least 2'),
        (([300, 900], 20, 2, 0.0), 'time step must be positive'),
    ):
        with pytest.raises(ValueError, match=words):
            check_heating(*bad)
    superlattice = _bulk()
    with pytest.raises(ValueError, match='rising'):  # equal temperatures: refused before any MD
        heating_run(
            superlattice,
            ShiftedEinstein(superlattice.atoms.positions, superlattice.site == 1, 0.0),
            [300, 300],
            40,
        )
