"""Bulk validation (aiida_flexo.textures.bulk, `aiida-flexo textures validate`) on an analytic perovskite whose
numbers are known in closed form (tests/toy_perovskite.py), and its checks against a reference row."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from toy_perovskite import K_CELL, TOY, Z_TI, ToyPerovskite, toy_dipole_of, use_toy_models

from aiida_flexo.textures.bulk import (
    A_SUBSTRATE,
    C_PBTIO3,
    PARAELECTRIC_WELL_MEV,
    QUANTITIES,
    bulk_table,
    c_scan_quantities,
    check_bulk,
    check_c_values,
    curve_minimum,
    failed_checks,
    load_reference,
    summary_line,
    validate_bulk,
)
from aiida_flexo.units import E_PER_A2_TO_C_PER_M2

_, C0_PB, ALPHA_PB, BETA_PB = TOY['Pb']
A0_PB = TOY['Pb'][0]
U_STAR = np.sqrt(ALPHA_PB / (2 * BETA_PB))  # Å
DEPTH_MEV = 1000 * ALPHA_PB**2 / (4 * BETA_PB)
CUBIC_MINUS_TETRAGONAL_MEV = (
    1000 * K_CELL * ((A_SUBSTRATE - C0_PB) ** 2 - (C_PBTIO3 - C0_PB) ** 2) + DEPTH_MEV
)
P_S = Z_TI * U_STAR / (A_SUBSTRATE**2 * C_PBTIO3) * E_PER_A2_TO_C_PER_M2


@pytest.fixture(scope='module')
def toy_row() -> dict:
    return validate_bulk(ToyPerovskite(), toy_dipole_of, fmax=1e-3, steps=200)


def test_validate_bulk_recovers_the_analytic_model(toy_row):
    assert A0_PB != C0_PB  # a tetragonal toy PbTiO3
    assert toy_row['a_SrTiO3_A'] == pytest.approx(TOY['Sr'][0], abs=2e-4)
    assert not toy_row['a_SrTiO3_at_scan_edge']
    # SrTiO3 has no polar well (α < 0): the shift relaxes away, nothing left
    assert abs(toy_row['SrTiO3_off_centring_A']) < 1e-3
    assert abs(toy_row['SrTiO3_P_z_C_m2']) < 1e-2
    assert -0.1 < toy_row['SrTiO3_well_depth_meV'] <= 1e-6
    # PbTiO3: E(c) minimum at c0, off-centring √(α/2β), well α²/4β, cubic above tetragonal in closed form
    assert toy_row['PbTiO3_c_min_A'] == pytest.approx(C0_PB, abs=2e-3)
    assert toy_row['PbTiO3_c_over_a'] == pytest.approx(C0_PB / A_SUBSTRATE, abs=1e-3)
    # E(c) = K (c − c0)² + const at relaxed positions: from 4.2 to 4.8 Å it costs K [(4.8 − c0)² − (4.2 − c0)²]
    stretch = 1000 * K_CELL * ((4.8 - C0_PB) ** 2 - (4.2 - C0_PB) ** 2)
    assert toy_row['PbTiO3_stretch_energy_meV'] == pytest.approx(stretch, rel=1e-3)
    assert not toy_row['PbTiO3_c_min_at_scan_edge']
    assert toy_row['PbTiO3_off_centring_A'] == pytest.approx(U_STAR, abs=1e-3)
    assert toy_row['PbTiO3_P_s_C_m2'] == pytest.approx(P_S, rel=5e-3)
    assert toy_row['PbTiO3_well_depth_meV'] == pytest.approx(DEPTH_MEV, rel=1e-3)
    assert toy_row['PbTiO3_cubic_minus_tetragonal_meV'] == pytest.approx(CUBIC_MINUS_TETRAGONAL_MEV, rel=1e-3)
    assert [s['c_A'] for s in toy_row['PbTiO3_E_of_c']] == [4.0, 4.2, 4.4, 4.6, 4.8]


def test_curve_minimum_says_when_it_is_a_bound():
    x = np.linspace(4.0, 4.8, 5)
    assert curve_minimum(x, (x - 4.37) ** 2) == (pytest.approx(4.37, abs=1e-3), False)
    best, edge = curve_minimum(x, -x)  # still falling at the end of the scan
    assert best == pytest.approx(4.8) and edge
    with pytest.raises(ValueError, match='at least 3 points'):
        curve_minimum([4.0, 4.2], [0.0, 1.0])
    assert check_c_values((4, 4.4, 4.8)) == [4.0, 4.4, 4.8]
    for bad in ([4.0, 4.2], [4.0, 0.0, 4.8]):
        with pytest.raises(ValueError, match='at least 3 positive lengths'):
            check_c_values(bad)


def test_checks_against_a_reference(toy_row):
    same = check_bulk(toy_row, toy_row)
    assert not failed_checks(same)
    assert {c['quantity'] for c in same} == set(QUANTITIES) | {'SrTiO3_paraelectric'}
    # each checked quantity moved just outside its tolerance fails, and only it
    for key, (_, _, tolerance) in QUANTITIES.items():
        if tolerance is None:
            continue
        scale = abs(toy_row[key]) if tolerance.relative else 1.0
        moved = {**toy_row, key: toy_row[key] + 1.01 * tolerance.value * scale}
        assert [c['quantity'] for c in failed_checks(check_bulk(moved, toy_row))] == [key]
        inside = {**toy_row, key: toy_row[key] + 0.99 * tolerance.value * scale}
        assert not failed_checks(check_bulk(inside, toy_row))
    # a reference minimum at its scan's edge is a lower bound: a model above it passes, far below fails
    bound = {**toy_row, 'PbTiO3_c_over_a': 1.0, 'PbTiO3_c_min_at_scan_edge': True}
    assert not failed_checks(check_bulk({**toy_row, 'PbTiO3_c_over_a': 1.5}, bound))
    assert failed_checks(check_bulk({**toy_row, 'PbTiO3_c_over_a': 0.85}, bound))
    # SrTiO3 with a polar well deeper than k_B·300 K is not paraelectric, whatever the reference says
    deep = {**toy_row, 'SrTiO3_well_depth_meV': PARAELECTRIC_WELL_MEV + 1}
    assert [c['quantity'] for c in failed_checks(check_bulk(deep, deep))] == ['SrTiO3_paraelectric']
    line = summary_line(check_bulk(deep, deep))
    assert line.startswith('9/10 bulk checks') and 'SrTiO3 polar well 26.9 meV/f.u. ≥ k_B·300 K' in line
    # quantities the reference lacks are reported, not judged
    partial = check_bulk(toy_row, {'a_SrTiO3_A': toy_row['a_SrTiO3_A']})
    assert [c['ok'] for c in partial if c['quantity'] == 'PbTiO3_P_s_C_m2'] == [None]


def test_shipped_reference_and_table(toy_row):
    reference = load_reference()
    assert reference['method'] == 'GPAW (fast, PBE)' and 'GPAW' in reference['source']
    values = reference['values']
    assert set(QUANTITIES) - {'SrTiO3_off_centring_A'} <= set(values) | {'SrTiO3_off_centring_A'}
    # the DFT reference's own physics: PBE SrTiO3 1 % long and paraelectric at 300 K, PbTiO3 supertetragonal
    assert values['a_SrTiO3_A'] == pytest.approx(3.905 * 1.011, abs=0.005)
    assert 0 < values['SrTiO3_well_depth_meV'] < PARAELECTRIC_WELL_MEV
    assert values['PbTiO3_c_over_a'] > 1.063 and values['PbTiO3_c_min_at_scan_edge']
    assert values['PbTiO3_cubic_minus_tetragonal_meV'] > values['PbTiO3_well_depth_meV'] > 0
    # the stored c/a and stretch energy are those of the stored GPAW E(c) scan
    from_scan = c_scan_quantities(values['PbTiO3_E_of_c'])
    assert from_scan['PbTiO3_c_min_at_scan_edge'] and from_scan['PbTiO3_c_over_a'] == pytest.approx(
        1.229, abs=1e-3
    )
    assert from_scan['PbTiO3_stretch_energy_meV'] == pytest.approx(
        values['PbTiO3_stretch_energy_meV'], abs=0.1
    )
    assert (
        c_scan_quantities(values['PbTiO3_E_of_c'][:3])['PbTiO3_stretch_energy_meV'] is None
    )  # 4.8 not scanned
    checks = check_bulk(toy_row, values)
    table = bulk_table([toy_row, values], ['toy', reference['method']], checks)
    lines = table.splitlines()
    assert len(lines) == 2 + len(QUANTITIES) + 1
    assert all(line.count('|') == lines[0].count('|') for line in lines)
    assert '≥ 1.229' in table and 'FAILED' in table  # the toy is not PBE PbTiO3


@pytest.fixture
def toy_models(monkeypatch, tmp_path):
    """`textures validate` loading the toy potential and the toy dipole model (files exist, contents unused)."""
    return use_toy_models(monkeypatch, tmp_path)


def _validate(*args):
    from aiida_flexo.cli.textures import textures

    return CliRunner().invoke(textures, ['validate', *[str(a) for a in args]], catch_exceptions=False)


def test_cli_validate(toy_models, tmp_path):
    mlip, dipole = toy_models
    out = tmp_path / 'validation.json'
    result = _validate(mlip, '--dipole', dipole, '--out', out, '--c-values', '4.1,4.3,4.5')
    assert result.exit_code == 0, result.output
    saved = json.loads(out.read_text())
    assert saved['model']['PbTiO3_off_centring_A'] == pytest.approx(U_STAR, abs=0.01)
    assert saved['reference'] == load_reference()
    # the toy against PBE: its c/a 4.30/3.905 = 1.101 lies more than 10 % below the ≥ 1.229 bound (1.106), its
    # SrTiO3 a 3.93 Å within 1 % of 3.949 Å, its P_s 0.53 C/m² far from 0.87
    assert 'PbTiO3_c_over_a' in saved['failed'] and 'PbTiO3_P_s_C_m2' in saved['failed']
    assert 'a_SrTiO3_A' not in saved['failed'] and 'SrTiO3_paraelectric' not in saved['failed']
    assert '| PbTiO3 P_s at c = 4.152 Å (C/m²) |' in result.output and saved['summary'] in result.output
    # never overwritten without --overwrite; --strict turns failed checks into exit status 1
    again = _validate(mlip, '--dipole', dipole, '--out', out, '--c-values', '4.1,4.3,4.5')
    assert again.exit_code != 0 and 'exists' in again.output
    strict = _validate(mlip, '--dipole', dipole, '--c-values', '4.1,4.3,4.5', '--strict', '--json')
    assert strict.exit_code == 1 and 'bulk validation failed' in strict.output


def test_cli_validate_refuses_bad_input_before_any_work(toy_models, monkeypatch):
    mlip, dipole = toy_models
    result = _validate(mlip, '--dipole', dipole, '--c-values', '4.1,4.3')
    assert result.exit_code != 0 and 'at least 3 positive lengths' in result.output
    import aiida_flexo.mlip as module

    monkeypatch.setattr(
        module, 'load_calculator', lambda model, device='cpu': ToyPerovskite(('O', 'Pb', 'Ti'))
    )
    result = _validate(mlip, '--dipole', dipole)
    from aiida_flexo.mlip.exit_codes import MLIP_EXIT

    assert result.exit_code == MLIP_EXIT.MISSING_SPECIES.status and 'Sr' in result.output


def test_cli_validate_with_a_heating_run(toy_models, tmp_path):
    """The heating run's plumbing (the toy supercell is an Einstein crystal around its ideal sites: no transition)."""
    mlip, dipole = toy_models
    args = [
        mlip,
        '--dipole',
        dipole,
        '--c-values',
        '4.1,4.3,4.5',
        '--heating',
        '300,600',
        '--heating-steps',
        '40',
    ]
    result = _validate(*args, '--heating-size', '2', '--heating-timestep', '1', '--json')
    assert result.exit_code == 0, result.output
    heating = json.loads(result.output)['heating']
    assert heating['settings'] == {
        'temperatures_K': [300.0, 600.0], 'steps': 40, 'size': 2, 'timestep_fs': 1.0, 'n_atoms': 40,
        'thermostat': 'anisotropic',
    }  # fmt: skip
    points = heating['points']
    assert [p['target_K'] for p in points] == [300.0, 600.0] and all(p['n_frames'] == 2 for p in points)
    assert all(p['gnn_magnitude_C_m2'] == 0.0 for p in points)  # the toy dipole model is zero on supercells
    assert all(p['c_over_a'] == pytest.approx(4.152 / 3.905, rel=0.01) for p in points)  # zero stress: kept
    assert 'transition_born' in heating and heating['experiment_Tc_K'] == 763.0
    text = _validate(*args, '--heating-size', '2', '--heating-timestep', '1')
    assert '| T target (K) |' in text.output and 'experiment: 763 K' in text.output
    bad = _validate(mlip, '--dipole', dipole, '--heating', '600,300')
    assert bad.exit_code != 0 and 'rising temperatures' in bad.output
