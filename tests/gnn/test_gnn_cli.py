"""``aiida-flexo gnn train/eval/predict`` on a few bundled BaTiO3 frames (the CLI contract other tools rely on)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from ase import Atoms
from ase.io import write
from click.testing import CliRunner

from aiida_flexo.cli.gnn import gnn
from aiida_flexo.data import read_frames, write_frames


def bare(atoms: Atoms) -> Atoms:
    """The structure only (no labels)."""
    return Atoms(numbers=atoms.numbers, positions=atoms.positions, cell=atoms.cell, pbc=atoms.pbc)


@pytest.fixture(scope='module')
def trained(bto_frames, tmp_path_factory):
    """A model trained for one epoch on 4 frames (2 train, 1 val, 1 test)."""
    root = tmp_path_factory.mktemp('gnn_cli')
    data = write_frames(root / 'data.xyz', bto_frames[:4])
    out = root / 'run'
    result = CliRunner().invoke(
        gnn,
        [
            'train',
            str(data),
            '--out',
            str(out),
            '--epochs',
            '1',
            '--cutoff',
            '4.5',
            '--bec-weight',
            '1',
            '--seed',
            '1',
            '--test-fraction',
            '0.25',
            '--val-fraction',
            '0.25',
            '--bond-rcond',
            '0.01',
            '--quiet',
            '--json',
        ],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    return root, data, out, json.loads(result.output)


def test_train_writes_model_metrics_parity_and_split(trained):
    _, _, out, metrics = trained
    for name in ('model.pt', 'metrics.json', 'parity.png', 'split.json', 'log.csv'):
        assert (out / name).is_file(), name
    on_disk = json.loads((out / 'metrics.json').read_text())
    for key in (
        'train_dipole_mae_eA',
        'val_dipole_rmse_eA',
        'test_dipole_mae_eA',
        'test_bec_mae_e',
        'train_wall_time_s',
    ):
        assert key in metrics and key in on_disk
    assert (metrics['n_train'], metrics['n_val'], metrics['n_test']) == (2, 1, 1)
    assert on_disk['model_config']['cutoff'] == 4.5
    assert metrics['bond_rcond'] == on_disk['bond_rcond'] == 0.01
    assert json.loads((out / 'split.json').read_text())['seed'] == 1


def test_eval_json_contract(trained):
    _, data, out, metrics = trained
    result = CliRunner().invoke(
        gnn, ['eval', str(out / 'model.pt'), str(data), '--json'], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report['n_frames'] == 4
    for key in ('dipole_mae_eA', 'dipole_rmse_eA', 'bec_mae_e', 'bec_rmse_e'):
        assert isinstance(report[key], float) and report[key] >= 0
    assert report['dipole_rmse_eA'] >= report['dipole_mae_eA']


def test_predict_prints_and_writes_dipoles(trained, bto_frames):
    root, _, out, _ = trained
    structure = root / 'one.xyz'
    write(structure, bare(bto_frames[4]), format='extxyz')
    runner = CliRunner()
    result = runner.invoke(
        gnn,
        ['predict', str(out / 'model.pt'), str(structure), '--json', '--per-atom'],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    dipole = np.array(data['dipole_eA'])
    per_atom = np.array(data['frames'][0]['per_atom_dipoles_eA'])
    assert per_atom.shape == (135, 3)
    np.testing.assert_allclose(per_atom.sum(0), dipole, atol=1e-9)
    volume = abs(bto_frames[4].cell.volume)
    np.testing.assert_allclose(data['polarization_C_m2'], dipole / volume * 16.02176634, rtol=1e-9)

    text = runner.invoke(
        gnn, ['predict', str(out / 'model.pt'), str(structure)], catch_exceptions=False
    ).output
    assert 'e·Å' in text and 'C/m²' in text

    xyz = root / 'pred.xyz'
    result = runner.invoke(
        gnn, ['predict', str(out / 'model.pt'), str(structure), '--out', str(xyz)], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    assert 'dipole="' in xyz.read_text().splitlines()[1], "info 'dipole' on the comment line"
    written = read_frames(xyz)[0]  # ase moves info 'dipole' into a calculator; read_frames puts it back
    np.testing.assert_allclose(written.arrays['dipoles'], per_atom, atol=1e-9)
    np.testing.assert_allclose(np.asarray(written.info['dipole']), dipole, atol=1e-9)

    js = root / 'pred.json'
    assert (
        runner.invoke(gnn, ['predict', str(out / 'model.pt'), str(structure), '--out', str(js)]).exit_code
        == 0
    )
    np.testing.assert_allclose(
        json.loads(js.read_text())['frames'][0]['per_atom_dipoles_eA'], per_atom, atol=1e-9
    )


def test_clear_errors_for_bad_input(trained, bto_frames):
    root, data, out, _ = trained
    runner = CliRunner()
    unknown = root / 'unknown.xyz'
    strontium = bare(bto_frames[0])
    strontium.symbols[0] = 'Sr'
    write(unknown, strontium, format='extxyz')
    result = runner.invoke(gnn, ['predict', str(out / 'model.pt'), str(unknown)])
    assert result.exit_code != 0 and "species ['Sr'] unknown to the model" in result.output

    molecule = root / 'molecule.xyz'
    write(molecule, Atoms('BaTiO', positions=[[0, 0, 0], [2, 0, 0], [0, 2, 0]]), format='extxyz')
    result = runner.invoke(gnn, ['predict', str(out / 'model.pt'), str(molecule)])
    assert result.exit_code != 0 and 'not periodic in 3D' in result.output

    unlabelled = root / 'unlabelled.xyz'
    write(unlabelled, bare(bto_frames[0]), format='extxyz')
    for args in (
        ['eval', str(out / 'model.pt'), str(unlabelled)],
        ['train', str(unlabelled), '--out', str(root / 'x')],
    ):
        result = runner.invoke(gnn, args)
        assert result.exit_code != 0 and 'missing label "dipole"' in result.output

    result = runner.invoke(gnn, ['eval', str(data), str(data)])
    assert result.exit_code != 0 and 'not an aiida-flexo GNN model' in result.output

    result = runner.invoke(gnn, ['train', str(data), '--out', str(root / 'y'), '--bond-rcond', '1.5'])
    assert result.exit_code != 0 and '--bond-rcond' in result.output
