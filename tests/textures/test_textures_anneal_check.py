"""The anneal check of flexo.textures: a thermostat that does not hold its stage, or atoms that leave their sites,
is caught with numbers (analytic temperature series, a displaced atom), and the calcfunction reads an MD trajectory."""

from __future__ import annotations

import numpy as np
import pytest

from aiida_flexo.flexo.structures import builtin
from aiida_flexo.textures.health import STAGE_TOLERANCE, anneal_check, stage_temperatures


def schedule_series(stages, noise=0.0, seed=0):
    """Instantaneous temperatures of a run that reaches each target after the first quarter of its stage."""
    rng = np.random.default_rng(seed)
    temperatures, targets, previous = [], [], stages[0][0]
    for target, frames in stages:
        ramp = np.linspace(previous, target, frames // 4)
        series = np.concatenate([ramp, np.full(frames - len(ramp), float(target))])
        temperatures.append(series * (1 + noise * rng.standard_normal(frames)))
        targets.append(np.full(frames, float(target)))
        previous = target
    return np.concatenate(temperatures), np.concatenate(targets)


def test_a_thermostat_that_holds_passes():
    temperatures, targets = schedule_series([(1000, 40), (300, 40), (1, 40)], noise=0.03)
    stages = stage_temperatures(temperatures, targets)
    assert [s['target_K'] for s in stages] == [1000, 300, 1]
    assert all(s['holds'] for s in stages) and all(s['n_frames'] == 20 for s in stages)
    assert stages[0]['mean_K'] == pytest.approx(1000, rel=0.02)


def test_an_overheating_stage_is_caught_with_its_numbers():
    # the seed's failure: 1,711 K at a 1,000 K target and 910 K at the 1 K target
    temperatures = np.concatenate([np.full(20, 1711.0), np.full(20, 910.0)])
    targets = np.concatenate([np.full(20, 1000.0), np.full(20, 1.0)])
    atoms = builtin('BaTiO3').repeat((2, 2, 2))
    check = anneal_check(temperatures, targets, atoms, atoms)
    assert not check['holds'] and len(check['problems']) == 2
    assert 'stage at 1000 K ran at 1711.0 K' in check['problems'][0]
    assert 'stage at 1 K ran at 910.0 K' in check['problems'][1]
    # just inside and just outside 10 % of 1000 K
    inside = stage_temperatures(np.full(10, 1000 * (1 + 0.99 * STAGE_TOLERANCE)), np.full(10, 1000.0))
    outside = stage_temperatures(np.full(10, 1000 * (1 + 1.01 * STAGE_TOLERANCE)), np.full(10, 1000.0))
    assert inside[0]['holds'] and not outside[0]['holds']


def test_an_atom_off_its_site_is_caught():
    start = builtin('BaTiO3').repeat((2, 2, 2))
    temperatures, targets = schedule_series([(300, 20), (1, 20)])
    final = start.copy()
    final.positions[7] += [1.3, 0.0, 0.0]
    check = anneal_check(temperatures, targets, final, start)
    assert not check['holds'] and check['atoms_off_site'] == 1
    assert 'more than 1 Å from their start site' in check['problems'][0]
    moved = start.copy()
    moved.positions += [0.4, -0.3, 2.0]  # a rigid shift (and a wrap across the cell) is not a displacement
    moved.wrap()
    assert anneal_check(temperatures, targets, moved, start)['holds']


@pytest.mark.aiida
def test_calcfunction_reads_the_md_trajectory(aiida_profile):
    from aiida import orm

    from aiida_flexo.calcjobs.functions.textures import check_anneal

    start = builtin('BaTiO3').repeat((2, 2, 2))
    temperatures, targets = schedule_series([(600, 8), (1, 8)])
    frames = [start.copy() for _ in temperatures]
    trajectory = orm.TrajectoryData([orm.StructureData(ase=a) for a in frames])
    trajectory.set_array('temperatures', temperatures)
    trajectory.set_array('target_temperatures', targets)
    result = check_anneal(trajectory, orm.StructureData(ase=start), orm.StructureData(ase=start))
    assert result['holds'] and [s['target_K'] for s in result['stages']] == [600.0, 1.0]
    hot = temperatures.copy()
    hot[-4:] = 400.0
    trajectory = orm.TrajectoryData([orm.StructureData(ase=a) for a in frames])
    trajectory.set_array('temperatures', hot)
    trajectory.set_array('target_temperatures', targets)
    result = check_anneal(trajectory, orm.StructureData(ase=start), orm.StructureData(ase=start))
    assert not result['holds'] and 'stage at 1 K ran at 400.0 K' in result['problems'][0]
