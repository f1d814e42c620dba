"""A tiny Allegro model trained once per session (conftest.py): outputs, calculator physics, CLI contract."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from click.testing import CliRunner

from aiida_flexo.cli.mlip import mlip
from aiida_flexo.mlip import MissingSpeciesError, ModelError, load_calculator, parse_fix, predict
from aiida_flexo.mlip.exit_codes import MLIP_EXIT


def test_training_outputs(tiny_training):
    out, _, metrics = tiny_training
    assert (out / 'model.nequip.zip').is_file() and (out / 'run' / 'best.ckpt').is_file()
    for subset in ('val', 'test'):
        for key in ('force_mae_meV_A', 'energy_mae_meV_atom', 'stress_mae_GPa'):
            assert np.isfinite(metrics[subset][key]) and metrics[subset][key] > 0
        assert metrics[subset]['n_frames'] == 1
    assert metrics['type_names'] == ['Ba', 'O', 'Ti']
    assert (metrics['n_train'], metrics['n_val'], metrics['n_test']) == (6, 1, 1)
    with open(out / 'learning_curve.csv', newline='') as handle:
        rows = list(csv.DictReader(handle))
    assert [int(r['epoch']) for r in rows] == list(range(metrics['epochs']))
    assert all(float(r['val_force_mae_meV_A']) > 0 and float(r['learning_rate']) > 0 for r in rows)
    # nequip's own validation metric of the best epoch equals ours on the same frame (EMA weights, float64)
    best = rows[metrics['best_epoch']]
    assert float(best['val_force_mae_meV_A']) == pytest.approx(metrics['val']['force_mae_meV_A'], rel=1e-6)
    assert float(best['val_stress_mae_GPa']) == pytest.approx(metrics['val']['stress_mae_GPa'], rel=1e-6)


def test_eval_cli_matches_metrics(tiny_training, tmp_path, bto_frames):
    from aiida_flexo.data import Split, write_frames

    out, _, metrics = tiny_training
    split = Split.from_json(out / 'split.json')
    test_file = write_frames(tmp_path / 'test.xyz', [bto_frames[i] for i in split.test])
    result = CliRunner().invoke(mlip, ['eval', str(out / 'model.nequip.zip'), str(test_file), '--json'])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data['n_frames'] == 1
    for key in ('force_mae_meV_A', 'energy_mae_meV_atom', 'stress_mae_GPa'):
        assert data[key] == pytest.approx(metrics['test'][key], rel=1e-9)


def test_forces_are_minus_energy_gradient(tiny_calculator, make_bto):
    atoms = make_bto(a=4.0, repeat=(2, 2, 2))
    atoms.rattle(0.05, seed=7)
    forces = predict(tiny_calculator, atoms)['forces']
    h = 1e-4
    for i, c in [(0, 0), (6, 1), (13, 2), (39, 0)]:
        energies = []
        for sign in (1, -1):
            probe = atoms.copy()
            probe.positions[i, c] += sign * h
            energies.append(predict(tiny_calculator, probe)['energy'])
        assert forces[i, c] == pytest.approx(-(energies[0] - energies[1]) / (2 * h), abs=1e-7)
    assert np.abs(forces.sum(axis=0)).max() < 1e-10  # translation invariance


def test_stress_is_strain_derivative_ase_sign(tiny_calculator, make_bto):
    """σ_ij = (1/V) ∂E/∂ε_ij (ase sign: positive = tensile), from a finite symmetric strain."""
    atoms = make_bto(a=4.0, repeat=(2, 2, 2))
    atoms.rattle(0.05, seed=8)
    stress = predict(tiny_calculator, atoms)['stress']
    volume = atoms.get_volume()
    h = 1e-5
    for i, j in [(0, 0), (2, 2), (0, 1), (1, 2)]:
        energies = []
        for sign in (1, -1):
            strain = np.zeros((3, 3))
            strain[i, j] += sign * h / 2
            strain[j, i] += sign * h / 2
            probe = atoms.copy()
            probe.set_cell(atoms.cell[:] @ (np.eye(3) + strain), scale_atoms=True)
            energies.append(predict(tiny_calculator, probe)['energy'])
        assert stress[i, j] == pytest.approx((energies[0] - energies[1]) / (2 * h) / volume, abs=1e-8)
    assert np.allclose(stress, stress.T, atol=1e-12)


def test_calculator_errors(tiny_model, tiny_calculator, tmp_path, make_bto):
    with pytest.raises(ModelError, match='no such model file'):
        load_calculator(tmp_path / 'missing.nequip.zip')
    bogus = tmp_path / 'model.pt'
    bogus.write_text('x')
    with pytest.raises(ModelError, match='unknown model file kind'):
        load_calculator(bogus)
    atoms = make_bto()
    atoms.symbols[0] = 'Sr'
    with pytest.raises(MissingSpeciesError, match=r"\['Sr'\]"):
        predict(tiny_calculator, atoms)


def test_calculator_keeps_callers_torch_state(tiny_model):
    import torch

    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    assert torch.get_default_dtype() == torch.float32
    load_calculator(tiny_model)
    assert torch.get_default_dtype() == torch.float32
    assert torch.equal(torch.rand(3), expected)


def test_relax_cli_fixed_sublattice_and_restart(tiny_model, tmp_path, make_bto):
    from ase.io import read

    from aiida_flexo.data import write_frames

    start = make_bto(a=4.0, repeat=(2, 2, 2))
    start.rattle(0.04, seed=11)
    write_frames(tmp_path / 'start.xyz', [start])  # full precision
    runner = CliRunner()
    common = [str(tiny_model), str(tmp_path / 'start.xyz'), '--fix', 'Ba', '--fmax', '1e-4', '--json']
    # too few steps: results written, exit status 3 (not converged)
    first = runner.invoke(
        mlip,
        [
            'relax',
            *common,
            '--max-steps',
            '2',
            '--out',
            str(tmp_path / 'a.xyz'),
            '--trajectory',
            str(tmp_path / 'a.traj'),
        ],
    )
    assert first.exit_code == MLIP_EXIT.NOT_CONVERGED.status, first.output
    summary = json.loads((tmp_path / 'a.json').read_text())
    assert summary['converged'] is False and summary['n_steps'] == 2 and summary['exit_status'] == 3
    assert len(read(tmp_path / 'a.traj', ':')) == 3
    # continue from the last trajectory frame
    second = runner.invoke(
        mlip,
        [
            'relax',
            *common,
            '--max-steps',
            '20',
            '--restart-from',
            str(tmp_path / 'a.traj'),
            '--out',
            str(tmp_path / 'b.xyz'),
            '--trajectory',
            str(tmp_path / 'b.traj'),
        ],
    )
    assert second.exit_code in (0, MLIP_EXIT.NOT_CONVERGED.status), second.output
    relaxed = read(tmp_path / 'b.xyz')
    fixed = parse_fix('Ba', start)
    assert np.array_equal(relaxed.positions[fixed], start.positions[fixed])  # bit for bit through two runs
    assert not np.allclose(relaxed.positions, start.positions)
    frames = read(tmp_path / 'b.traj', ':')
    assert np.array_equal(frames[0].positions, read(tmp_path / 'a.traj', -1).positions)
    data = json.loads((tmp_path / 'b.json').read_text())
    assert data['n_fixed'] == 8 and data['n_steps'] > 0
    assert data['energy_eV'] < summary['energy_eV']


def test_cli_keeps_existing_files_and_refuses_broken_structures(tiny_model, tmp_path, make_bto):
    from ase.io import write

    atoms = make_bto()
    write(tmp_path / 'start.xyz', atoms)
    (tmp_path / 'out.xyz').write_text('my file')
    args = ['relax', str(tiny_model), str(tmp_path / 'start.xyz'), '--out', str(tmp_path / 'out.xyz')]
    kept = CliRunner().invoke(mlip, args)
    assert kept.exit_code == 1 and '--overwrite' in kept.output
    assert (tmp_path / 'out.xyz').read_text() == 'my file'
    replaced = CliRunner().invoke(mlip, [*args, '--overwrite'])
    assert replaced.exit_code == 0, replaced.output
    atoms.positions[2, 1] = np.nan
    write(tmp_path / 'nan.xyz', atoms)
    nan = CliRunner().invoke(
        mlip, ['relax', str(tiny_model), str(tmp_path / 'nan.xyz'), '--out', str(tmp_path / 'n.xyz')]
    )
    assert nan.exit_code == 1 and 'non-finite atomic positions (atoms [2])' in nan.output
    flat = make_bto()
    flat.cell[2] = [0.0, 0.0, 1e-6]
    write(tmp_path / 'flat.xyz', flat)
    degenerate = CliRunner().invoke(
        mlip,
        [
            'md',
            str(tiny_model),
            str(tmp_path / 'flat.xyz'),
            '--schedule',
            '300:2',
            '--out',
            str(tmp_path / 'f.traj'),
        ],
    )
    assert degenerate.exit_code == 1 and 'degenerate' in degenerate.output


def test_cli_missing_species_exit_status(tiny_model, tmp_path, make_bto):
    from ase.io import write

    atoms = make_bto()
    atoms.symbols[0] = 'Sr'
    write(tmp_path / 'srtio3.xyz', atoms)
    result = CliRunner().invoke(
        mlip, ['relax', str(tiny_model), str(tmp_path / 'srtio3.xyz'), '--out', str(tmp_path / 'out.xyz')]
    )
    assert result.exit_code == MLIP_EXIT.MISSING_SPECIES.status
    assert "['Sr']" in result.output
    assert not (tmp_path / 'out.xyz').exists()


def test_md_cli_and_restart(tiny_model, tmp_path, make_bto):
    from ase.io import read, write

    write(tmp_path / 'start.xyz', make_bto(a=4.0, repeat=(2, 2, 2)))
    runner = CliRunner()
    args = [
        'md',
        str(tiny_model),
        str(tmp_path / 'start.xyz'),
        '--schedule',
        '300:6,100:4',
        '--timestep',
        '1',
        '--stride',
        '2',
        '--out',
        str(tmp_path / 'md.traj'),
        '--seed',
        '3',
    ]
    short = [*args[:3], '--schedule', '300:4', *args[5:]]
    first = runner.invoke(mlip, short)  # a run stopped early, at step 4
    assert first.exit_code == 0, first.output
    second = runner.invoke(mlip, [*args, '--restart-from', str(tmp_path / 'md.traj'), '--json'])
    assert second.exit_code == 0, second.output
    frames = read(tmp_path / 'md.traj', ':')
    assert [f.info['md_step'] for f in frames] == [0, 2, 4, 6, 8, 10]
    assert json.loads(second.output)['start_step'] == 4
    assert all(np.isfinite(f.get_potential_energy()) for f in frames)


def test_train_refuses_overwrite_and_resumes(tiny_training, tmp_path):
    """A second training into the same directory needs --resume; --resume continues from run/last.ckpt."""
    import shutil

    out, data, metrics = tiny_training
    work = tmp_path / 'model'
    shutil.copytree(out, work)
    base = [
        'train',
        str(data),
        '--out',
        str(work),
        '--model-size',
        'tiny',
        '--dtype',
        'float64',
        '--seed',
        '1',
    ]
    refused = CliRunner().invoke(mlip, [*base, '--epochs', '4'])
    assert refused.exit_code == 1 and '--resume' in refused.output
    resumed = CliRunner().invoke(mlip, [*base, '--epochs', str(metrics['epochs'] + 1), '--resume', '--json'])
    assert resumed.exit_code == 0, resumed.output
    data = json.loads(resumed.output)
    assert data['resumed_from'].endswith('last.ckpt')
    assert data['epochs'] == metrics['epochs'] + 1  # the learning curve joins both runs
    assert (work / 'run' / 'csv' / 'version_1' / 'metrics.csv').is_file()
