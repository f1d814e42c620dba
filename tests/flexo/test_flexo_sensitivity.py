"""Single-atom sensitivity and the phase report on models whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms

from aiida_flexo.flexo.sensitivity import phase_report, single_atom_sensitivity
from aiida_flexo.flexo.structures import batio3_phase
from aiida_flexo.flexo.synthetic import LinearBornChargeModel


def test_linear_model_sensitivity_is_its_born_charges(bto, general_born):
    report = single_atom_sensitivity(LinearBornChargeModel(general_born), bto, (3, 3, 3), direction='z')
    assert report['supercell']['n_atoms'] == 135
    rows = {row['species']: row for row in report['species']}
    assert set(rows) == {'Ba', 'Ti', 'O'}
    for row in rows.values():
        b = row['atom_index'] % 5
        np.testing.assert_allclose(row['effective_born_column_e'], general_born[b][:, 2], atol=1e-12)
        assert row['max_deviation_eA'] < 1e-12
        assert row['own_fraction'] == pytest.approx(1.0)
        assert row['nonlinearity_eA'] < 1e-12
        assert 54 <= row['atom_index'] < 81  # the central cell of 27


def test_sensitivity_against_given_born_charges(bto, general_born):
    report = single_atom_sensitivity(
        LinearBornChargeModel(general_born),
        bto,
        (2, 2, 2),
        steps=(0.01, 0.03),
        direction='x',
        born_charges=general_born * 0.5,
    )
    for row in report['species']:
        assert row['relative_deviation'] == pytest.approx(1.0, rel=1e-9)  # Δd is twice the expectation
    with pytest.raises(ValueError, match='non-zero'):
        single_atom_sensitivity(LinearBornChargeModel(general_born), bto, (2, 2, 2), steps=(0.0,))


class IdealSiteModel:
    """p_i = Z_s · (r_i − ideal site), ideal sites = cubic fractional pattern of any 5-atom-cell repetition."""

    charges = {'Ba': 2.0, 'Ti': 4.0, 'O': -2.0}

    def _u(self, atoms: Atoms) -> np.ndarray:
        n = round((len(atoms) / 5) ** (1 / 3))
        ideal = batio3_phase('cubic').repeat((n, n, n))
        frac = atoms.get_scaled_positions(wrap=False) - ideal.get_scaled_positions(wrap=False)
        return (frac - np.rint(frac)) @ np.asarray(atoms.cell)

    def per_atom_dipoles(self, atoms):
        q = np.array([self.charges[s] for s in atoms.get_chemical_symbols()])
        return q[:, None] * self._u(atoms)

    def born_charges(self, atoms):
        q = np.array([self.charges[s] for s in atoms.get_chemical_symbols()])
        return q[:, None, None] * np.eye(3)


def test_phase_report_directions():
    rows = {row['phase']: row for row in phase_report(IdealSiteModel(), repeat=(2, 2, 2))}
    assert rows['cubic']['P_norm_uC_cm2'] == pytest.approx(0.0, abs=1e-10)
    for phase in ('tetragonal', 'orthorhombic', 'rhombohedral'):
        assert rows[phase]['cos_to_ideal_direction'] == pytest.approx(1.0, abs=2e-3)
        # a linear model: the linear estimate is the prediction
        np.testing.assert_allclose(rows[phase]['linear_estimate_eA'], rows[phase]['dipole_eA'], atol=1e-10)
    # tetragonal: Ti +0.08, three O −0.06 along z per cell, 8 cells: d_z = 8 (4·0.08 + 3·2·0.06)
    assert rows['tetragonal']['dipole_eA'][2] == pytest.approx(8 * (4 * 0.08 + 6 * 0.06))
    ref = phase_report(
        IdealSiteModel(),
        phases=('tetragonal',),
        repeat=(1, 1, 1),
        reference_dipoles={'tetragonal': [0, 0, 0.6]},
    )
    assert ref[0]['error_eA'] == pytest.approx(abs(0.68 - 0.6))
