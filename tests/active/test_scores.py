"""Committee scores of explored frames: dipole deviation of a GNN committee, force floors/ceiling, selection."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from click.testing import CliRunner
from tiny_models import random_model

from aiida_flexo.active.score import SelectSettings, dipole_deviation, score_frames
from aiida_flexo.gnn.predict import DipolePredictor
from aiida_flexo.polarization.quanta import quantum_lattice


def _frame(seed: int, force_std: float, source: str = 'md', temperature: float = 300.0) -> Atoms:
    from aiida_flexo.flexo.structures import cubic_perovskite

    atoms = cubic_perovskite(('Ba', 'Ti'), 4.0)
    atoms.rattle(0.1, seed=seed)
    atoms.info.update(
        {
            'force_std_max_meV_A': force_std,
            'teacher_source': source,
            'temperature_K': temperature,
            'structure_index': 0,
        }
    )
    return atoms


def test_identical_members_agree_and_a_quantum_is_no_disagreement():
    frames = [_frame(i, 10.0) for i in range(3)]
    same = DipolePredictor(random_model(seed=1))
    assert np.allclose(dipole_deviation([same, same], frames), 0.0)
    other = DipolePredictor(random_model(seed=2))
    deviation = dipole_deviation([same, other], frames)
    expected = np.linalg.norm(np.abs(same.dipoles(frames) - other.dipoles(frames)) / np.sqrt(2), axis=1)
    assert np.allclose(deviation, expected)  # two members: σ = |d1 - d2| / √2 per component

    class Shifted:  # member 1 on another branch: a whole quantum q·R along c
        def __init__(self, predictor):
            self.model, self.inner = predictor.model, predictor

        def dipoles(self, frames):
            quantum = np.stack([quantum_lattice(a.cell[:], 2.0)[2] for a in frames])
            return self.inner.dipoles(frames) + quantum

    assert np.allclose(dipole_deviation([same, Shifted(other)], frames), deviation)
    with pytest.raises(ValueError, match='at least two'):
        dipole_deviation([same], frames)


def test_scores_respect_floor_ceiling_and_neighbours():
    # MD run at 300 K (consecutive kept frames), a perturbation, one exploded frame
    frames = [_frame(i, f) for i, f in enumerate([80.0, 90.0, 20.0, 70.0])]
    frames.append(_frame(4, 60.0, source='perturbation'))
    frames.append(_frame(5, 5000.0))
    settings = SelectSettings(per_generation=4, force_floor=50.0, dipole_floor=0.05, min_separation=2)
    scores = score_frames(frames, settings)
    assert scores['n_candidates'] == 4 and scores['n_above_ceiling'] == 1
    # 1 (90) first; 0 is its neighbour; 3 (70) is two frames away; 4 a perturbation; 5 unphysical
    assert scores['selected'] == [1, 3, 4]
    assert not scores['converged'] and scores['force_std_max'] == 5000.0
    dipole = np.array([0.0, 0.0, 0.2, 0.0, 0.0, 0.0])
    assert score_frames(frames, settings, dipole)['selected'][0] == 2  # 0.2 e·Å = 4 floors beats 90 meV/Å
    calm = [_frame(i, 10.0) for i in range(3)]
    assert score_frames(calm, settings)['converged']


@pytest.mark.parametrize(
    ('settings', 'message'),
    [
        ({'force_floor': 0.0}, 'positive'),
        ({'dipole_floor': -1.0}, 'positive'),
        ({'per_generation': 0}, 'at least one'),
        ({'force_ceiling': 10.0}, 'above force_floor'),
        ({'k': 3}, 'unknown'),
    ],
)
def test_select_settings_refuse_bad_thresholds(settings, message):
    with pytest.raises(ValueError, match=message):
        SelectSettings.from_dict(settings)


def test_select_cli(tmp_path):
    from aiida_flexo.cli import main
    from aiida_flexo.data import read_frames, write_frames

    explored = write_frames(
        tmp_path / 'explored.xyz', [_frame(i, f) for i, f in enumerate([80.0, 10.0, 70.0, 60.0])]
    )
    out = tmp_path / 'selected.xyz'
    args = [
        'active',
        'select',
        str(explored),
        '--out',
        str(out),
        '--per-generation',
        '2',
        '--min-separation',
        '1',
    ]
    result = CliRunner().invoke(main, [*args, '--json'])
    assert result.exit_code == 0, result.output
    selected = read_frames(out)
    assert [a.info['explored_index'] for a in selected] == [0, 2]
    assert 'forces' not in selected[0].arrays and 'energy' not in selected[0].info
    again = CliRunner().invoke(main, args)
    assert again.exit_code != 0 and 'pass --overwrite' in again.output
    bad = CliRunner().invoke(main, [*args, '--overwrite', '--force-floor', '0'])
    assert bad.exit_code != 0 and 'force_floor = 0.0: a threshold must be a positive number' in bad.output
    plain = write_frames(tmp_path / 'plain.xyz', [_frame(0, 1.0)])
    del_info = read_frames(plain)
    del_info[0].info.pop('force_std_max_meV_A')
    write_frames(plain, del_info)
    missing = CliRunner().invoke(main, ['active', 'select', str(plain), '--out', str(tmp_path / 'x.xyz')])
    assert missing.exit_code != 0 and 'explore with a committee potential' in missing.output
