"""VASP Berry-phase and DFPT readers on real VASP output (see tests/fixtures/SOURCES.md)."""

from __future__ import annotations

import gzip
import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from aiida_flexo.cli import main
from aiida_flexo.polarization import (
    VaspOutputError,
    minimum_image,
    path_from_outcars,
    read_berry_phase,
    read_born_charges,
)
from aiida_flexo.resources import bto_path_outcars

FIXTURES = Path(__file__).parents[1] / 'fixtures' / 'vasp'
LA2GA2O6 = FIXTURES / 'berry_phase' / 'La2Ga2O6_vasp6.3' / 'OUTCAR'
LASNNO2 = FIXTURES / 'berry_phase' / 'LaSnNO2_polar' / 'OUTCAR'
SIC = FIXTURES / 'dfpt_lepsilon' / 'SiC_lepsilon' / 'OUTCAR.gz'
SIC_OLD = FIXTURES / 'dfpt_lepsilon' / 'SiC_lepsilon_old_born' / 'OUTCAR.gz'
ZNPS = FIXTURES / 'dfpt_lepsilon' / 'Zn3P2S8_aiida_vasp'


def ionic_dipole_from_positions(result) -> np.ndarray:
    """Σ ZVAL·r (e·Å), the physical ionic dipole, from the structure and the POTCAR valences."""
    zval = np.array([result.zval[s] for s in result.atoms.get_chemical_symbols()])
    return zval @ result.atoms.positions


def test_bto_path_same_branch_spontaneous_polarization():
    result = path_from_outcars(bto_path_outcars())
    data = result.to_uc_per_cm2()
    assert data['spontaneous_uC_cm2'][2] == pytest.approx(46.29, abs=0.05)
    assert data['quantum_uC_cm2'][2] == pytest.approx(100.07, abs=0.01)
    assert abs(data['spontaneous_uC_cm2'][0]) < 0.01 and abs(data['spontaneous_uC_cm2'][1]) < 0.01
    pz = np.array(data['polarization_uC_cm2'])[:, 2]
    assert np.all(np.diff(pz) > 0), 'P_z must grow monotonically along the path on one branch'
    assert data['max_jump_fraction_of_quantum'] < 0.1
    assert pz[0] == pytest.approx(0.0, abs=1e-6)  # the centrosymmetric end folds to zero


def test_bto_sign_is_physical():
    """Ti moves +z relative to the O cage along the path, so P_z must become positive."""
    outcars = bto_path_outcars()
    first, last = read_berry_phase(outcars[0]), read_berry_phase(outcars[-1])
    ti = first.atoms.get_chemical_symbols().index('Ti')
    dz_ti = last.atoms.get_scaled_positions()[ti, 2] - first.atoms.get_scaled_positions()[ti, 2]
    assert dz_ti > 0
    assert path_from_outcars(outcars).spontaneous[2] > 0


@pytest.mark.parametrize('outcar', [LA2GA2O6, bto_path_outcars()[-1], bto_path_outcars()[0]])
def test_ionic_dipole_has_physical_sign_for_every_version(outcar):
    """VASP 6.3 prints |e|Å, older versions electrons·Å with the opposite sign: both must read as Σ ZVAL·r."""
    result = read_berry_phase(outcar)
    residual = minimum_image(ionic_dipole_from_positions(result) - result.ionic_dipole, result.cell)
    assert np.allclose(residual, 0.0, atol=1e-3), residual
    # and the opposite sign would not match (the test can fail)
    flipped = minimum_image(ionic_dipole_from_positions(result) + result.ionic_dipole, result.cell)
    assert np.linalg.norm(flipped) > 0.1 or np.linalg.norm(result.ionic_dipole) < 1e-6


def test_vasp63_version_is_read():
    result = read_berry_phase(LA2GA2O6)
    assert result.vasp_version == (6, 3, 0)
    assert read_berry_phase(bto_path_outcars()[0]).vasp_version == (5, 3, 5)


def test_sign_follows_the_version(tmp_path):
    """The same numbers under an older version header read with the opposite sign."""
    text = LA2GA2O6.read_text()
    new = read_berry_phase(LA2GA2O6)
    older = tmp_path / 'OUTCAR'
    older.write_text(text.replace('vasp.6.3.0', 'vasp.6.2.1', 1).replace('|e| Angst', 'electrons Angst'))
    old = read_berry_phase(older)
    assert np.allclose(old.electronic_dipole, -new.electronic_dipole)
    assert np.allclose(old.ionic_dipole, -new.ionic_dipole)


def test_mismatched_version_and_unit_label_warns(tmp_path):
    text = LA2GA2O6.read_text().replace('vasp.6.3.0', 'vasp.5.4.4', 1)
    path = tmp_path / 'OUTCAR'
    path.write_text(text)
    with pytest.warns(UserWarning, match='trusting the unit label'):
        result = read_berry_phase(path)
    assert np.allclose(result.ionic_dipole, read_berry_phase(LA2GA2O6).ionic_dipole)


def test_spin_polarized_channels_add_up():
    result = read_berry_phase(LASNNO2)
    assert result.spin_dipoles is not None
    assert np.allclose(result.spin_dipoles.sum(axis=0), result.electronic_dipole, atol=2e-5)
    assert result.electronic_dipole[2] == pytest.approx(8.58055)  # printed −8.58055 electrons·Å (VASP 5.4.4)


def test_outcar_without_lcalcpol():
    with pytest.raises(VaspOutputError, match='LCALCPOL') as info:
        read_berry_phase(SIC)
    assert str(SIC) in str(info.value)


def test_truncated_outcar(tmp_path):
    text = bto_path_outcars()[-1].read_text()
    path = tmp_path / 'OUTCAR'
    path.write_text(text[: len(text) // 2])
    with pytest.raises(VaspOutputError, match='truncated') as info:
        read_berry_phase(path)
    assert str(path) in str(info.value)


def test_missing_file_and_non_outcar(tmp_path):
    with pytest.raises(VaspOutputError, match='no such file'):
        read_berry_phase(tmp_path / 'nothing' / 'OUTCAR')
    junk = tmp_path / 'OUTCAR'
    junk.write_text('hello\n')
    with pytest.raises(VaspOutputError, match='does not look like a VASP OUTCAR'):
        read_berry_phase(junk)


def test_path_with_different_compositions():
    with pytest.raises(ValueError, match='one composition'):
        path_from_outcars([bto_path_outcars()[0], LA2GA2O6])


def test_sic_born_charges_and_epsilon():
    result = read_born_charges(SIC)
    assert result.symbols == ['Si', 'C']
    assert np.diag(result.born_charges[0]).mean() == pytest.approx(2.5499, abs=1e-4)
    assert np.allclose(np.diag(result.born_charges[0]), 2.5499, atol=2e-4)
    assert np.diag(result.epsilon_inf) == pytest.approx([3.716432] * 3)
    # the older 'cummulative output' header gives the same numbers
    old = read_born_charges(SIC_OLD)
    assert np.allclose(old.born_charges, result.born_charges, atol=2e-3)


def test_acoustic_sum_rule():
    result = read_born_charges(SIC)
    assert np.diag(result.asr_residual) == pytest.approx([0.19536, 0.19537, 0.19536], abs=1e-5)
    enforced = result.with_asr_enforced()
    assert np.allclose(enforced.asr_residual, 0.0, atol=1e-12)
    # only the mean is removed: differences between atoms are kept
    assert np.allclose(
        enforced.born_charges[0] - enforced.born_charges[1], result.born_charges[0] - result.born_charges[1]
    )


def test_outcar_and_vasprun_agree():
    from_outcar = read_born_charges(ZNPS / 'OUTCAR')
    from_xml = read_born_charges(ZNPS / 'vasprun.xml')
    assert from_outcar.symbols == from_xml.symbols
    assert len(from_xml.born_charges) == 26
    assert np.allclose(from_outcar.born_charges, from_xml.born_charges, atol=1e-5)
    assert np.allclose(from_outcar.epsilon_inf, from_xml.epsilon_inf, atol=1e-6)
    # rows are the field (polarization) direction: Zn3P2S8's P atoms have Z*_zx != Z*_xz
    z = from_xml.born_charges[0]
    assert z[0, 2] == pytest.approx(0.07348470) and z[2, 0] == pytest.approx(-0.03222400)


def test_born_charges_missing(tmp_path):
    with pytest.raises(VaspOutputError, match='LEPSILON'):
        read_born_charges(bto_path_outcars()[0])
    bad = tmp_path / 'vasprun.xml'
    bad.write_text('<modeling><generator>')
    with pytest.raises(VaspOutputError, match='not valid XML'):
        read_born_charges(bad)


def test_gzipped_and_folder_inputs(tmp_path):
    folder = tmp_path / 'run'
    folder.mkdir()
    with gzip.open(folder / 'OUTCAR.gz', 'wt') as handle:
        handle.write(LA2GA2O6.read_text())
    assert np.allclose(read_berry_phase(folder).dipole, read_berry_phase(LA2GA2O6).dipole)


def test_cli_polarization_json():
    runner = CliRunner()
    result = runner.invoke(main, ['polarization', *map(str, bto_path_outcars()), '--json'])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert len(data['polarization_uC_cm2']) == 10
    assert all(len(p) == 3 for p in data['polarization_uC_cm2'])
    assert data['quantum_uC_cm2'][2] == pytest.approx(100.07, abs=0.01)
    assert data['spontaneous_uC_cm2'][2] == pytest.approx(46.29, abs=0.05)


def test_cli_polarization_errors_are_clear():
    runner = CliRunner()
    result = runner.invoke(main, ['polarization', str(SIC)])
    assert result.exit_code != 0
    assert 'LCALCPOL' in result.output and 'Traceback' not in result.output


def test_cli_born_charges_json():
    runner = CliRunner()
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        result = runner.invoke(main, ['born-charges', str(SIC), '--json', '--enforce-asr'])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert np.array(data['born_charges']).shape == (2, 3, 3)
    assert np.array(data['epsilon_inf']).shape == (3, 3)
    assert np.allclose(data['asr_residual'], 0.0, atol=1e-12)
    assert np.diag(data['asr_residual_before_enforcing'])[0] == pytest.approx(0.19536, abs=1e-5)


def test_status_file_records_how_the_executable_ended(tmp_path):
    """`aiida-flexo --status-file F ...` (what CalcJobs run) records exit status and message, success or not."""
    from aiida_flexo.cli import run

    status = tmp_path / 'status.json'
    with pytest.raises(SystemExit) as info:
        run(['--status-file', str(status), 'polarization', str(SIC)])
    assert info.value.code == 1
    data = json.loads(status.read_text())
    assert data['exit_status'] == 1 and 'LCALCPOL' in data['message']
    with pytest.raises(SystemExit) as info:
        run(['--status-file', str(status), 'born-charges', str(SIC), '--json'])
    assert info.value.code == 0
    assert json.loads(status.read_text()) == {'exit_status': 0, 'message': ''}
