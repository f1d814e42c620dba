"""Committees: the force deviation against an analytic case, the archive, training K members, and the uncertainty
that relaxations, MD and ``mlip eval`` record."""

from __future__ import annotations

import json

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.calculator import Calculator, all_changes
from ase.calculators.emt import EMT
from ase.io import read
from click.testing import CliRunner

from aiida_flexo.cli.mlip import mlip
from aiida_flexo.mlip import load_calculator, relax, run_md
from aiida_flexo.mlip.committee import (
    CommitteeCalculator,
    CommitteeError,
    force_deviation,
    frame_uncertainty,
    read_manifest,
    write_committee,
)


class ScaledEMT(Calculator):
    """EMT with energy and forces multiplied by ``factor`` (a member that disagrees in a known way)."""

    implemented_properties = ['energy', 'free_energy', 'forces', 'stress']

    def __init__(self, factor: float):
        super().__init__()
        self.factor, self.emt = factor, EMT()

    def calculate(self, atoms=None, properties=('energy',), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        self.emt.calculate(atoms, ['energy', 'forces', 'stress'], system_changes)
        self.results = {k: self.factor * np.asarray(v) for k, v in self.emt.results.items()}
        self.results['energy'] = float(self.results['energy'])
        self.results['free_energy'] = self.results['energy']


def rattled_copper():
    atoms = bulk('Cu', cubic=True, a=3.62).repeat((2, 2, 2))
    atoms.rattle(0.08, seed=4)
    return atoms


def test_force_deviation_is_the_rms_distance_to_the_mean():
    forces = np.zeros((3, 2, 3))
    forces[0, 0] = [1, 0, 0]
    forces[1, 0] = [-1, 0, 0]
    forces[2, 1] = [0, 3, 0]  # one member pulls atom 1 alone
    deviation = force_deviation(forces)
    np.testing.assert_allclose(deviation[0], np.sqrt(2 / 3))
    np.testing.assert_allclose(deviation[1], np.sqrt((1 + 1 + 4) / 3))
    with pytest.raises(CommitteeError):
        force_deviation(forces[:1])


def test_committee_mean_and_spread_against_an_analytic_pair():
    atoms = rattled_copper()
    reference = atoms.copy()
    reference.calc = EMT()
    forces = reference.get_forces()
    atoms.calc = CommitteeCalculator([ScaledEMT(1.0), ScaledEMT(1.1)])
    np.testing.assert_allclose(atoms.get_forces(), 1.05 * forces, atol=1e-12)
    assert atoms.get_potential_energy() == pytest.approx(1.05 * reference.get_potential_energy())
    np.testing.assert_allclose(
        atoms.calc.results['force_std'], 0.05 * np.linalg.norm(forces, axis=1), atol=1e-12
    )
    info = frame_uncertainty(atoms.calc)
    assert info['force_std_max_meV_A'] == pytest.approx(50 * np.linalg.norm(forces, axis=1).max())
    assert info['force_std_argmax'] == int(np.argmax(np.linalg.norm(forces, axis=1)))


def test_a_committee_of_one_is_refused():
    with pytest.raises(CommitteeError, match='at least|cannot estimate'):
        CommitteeCalculator([EMT()])


def test_relaxation_and_md_record_the_uncertainty_frame_by_frame(tmp_path):
    committee = CommitteeCalculator([ScaledEMT(1.0), ScaledEMT(1.2)])
    result = relax(rattled_copper(), committee, fmax=0.05, max_steps=50, trajectory=tmp_path / 'relax.traj')
    frames = read(tmp_path / 'relax.traj', index=':')
    assert all('force_std_max_meV_A' in f.info for f in frames)
    summary = result.summary()['uncertainty']
    # the members differ by 20 % of the forces: the deviation falls as the forces do
    assert summary['force_std_max_meV_A'] < summary['force_std_max_along_path_meV_A']
    assert frames[0].info['force_std_max_meV_A'] == pytest.approx(summary['force_std_max_along_path_meV_A'])
    md = run_md(rattled_copper(), committee, [(300, 20)], stride=5, trajectory=tmp_path / 'md.traj')
    assert len(md.summary()['uncertainty']['force_std_max_per_frame_meV_A']) == md.n_frames
    assert all(f.info['force_std_max_meV_A'] >= 0 for f in read(tmp_path / 'md.traj', index=':'))
    plain = relax(rattled_copper(), EMT(), fmax=0.05, max_steps=50)
    assert plain.summary()['uncertainty'] is None


def test_committee_archive_round_trip(tiny_model, tiny_training, tmp_path):
    path = write_committee(
        [tiny_model, tiny_model], tmp_path / 'model.committee.zip', metrics={'note': 'twins'}
    )
    assert read_manifest(path)['kinds'] == ['package']
    calc = load_calculator(path)
    assert calc.model_kind == 'committee' and calc.type_names == ['Ba', 'O', 'Ti']
    result = CliRunner().invoke(mlip, ['eval', str(path), str(tiny_training[1]), '--json'])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    # identical members agree exactly; the mean is the member's prediction
    assert data['committee']['size'] == 2 and data['committee']['force_std_max_meV_A']['max'] < 1e-6
    single = CliRunner().invoke(mlip, ['eval', str(tiny_model), str(tiny_training[1]), '--json'])
    assert json.loads(single.output)['force_mae_meV_A'] == pytest.approx(data['force_mae_meV_A'], rel=1e-9)
    assert 'committee' not in json.loads(single.output)
    with pytest.raises(CommitteeError):
        write_committee([tiny_model], tmp_path / 'one.committee.zip')
    with pytest.raises(CommitteeError):
        write_committee([path, tiny_model], tmp_path / 'nested.committee.zip')


@pytest.mark.slow
def test_train_a_committee_of_two(tiny_training, tmp_path):
    data = tiny_training[1]
    out = tmp_path / 'committee'
    args = [
        'train',
        str(data),
        '--out',
        str(out),
        '--committee',
        '2',
        '--model-size',
        'tiny',
        '--epochs',
        '1',
    ]
    result = CliRunner().invoke(mlip, [*args, '--seed', '1', '--json'])
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / 'metrics.json').read_text())
    assert metrics['model_file'] == 'model.committee.zip' and len(metrics['members']) == 2
    splits = [json.loads((out / f'member_{k}' / 'split.json').read_text()) for k in range(2)]
    assert splits[0]['test'] == splits[1]['test']  # one shared held-out set, the rest reshuffled
    assert sorted(splits[0]['train'] + splits[0]['val']) == sorted(splits[1]['train'] + splits[1]['val'])
    assert [m['settings']['seed'] for m in metrics['members']] == [1, 2]
    committee = metrics['committee']
    assert committee['size'] == 2 and len(committee['test_force_std_max_meV_A']) == metrics['n_test']
    assert all(d > 0 for d in committee['test_force_std_max_meV_A'])  # different seeds disagree
    header = (out / 'learning_curve.csv').read_text().splitlines()[0]
    assert header.startswith('member,epoch')
