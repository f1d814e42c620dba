"""Relaxation and MD drivers (any ase calculator; EMT here, the Allegro model in test_mlip_allegro.py)."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.calculator import Calculator, all_changes
from ase.calculators.emt import EMT
from ase.io import read

from aiida_flexo.mlip import (
    MDExplosionError,
    RelaxationError,
    continue_md,
    parse_fix,
    parse_schedule,
    read_structure,
    relax,
    run_md,
)


class NaNCalculator(Calculator):
    """EMT until ``after`` calls, then NaN energies and forces."""

    implemented_properties = ['energy', 'forces', 'stress']

    def __init__(self, after: int = 2):
        super().__init__()
        self.after, self.calls, self.emt = after, 0, EMT()

    def calculate(self, atoms=None, properties=('energy',), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        self.calls += 1
        self.emt.calculate(atoms, ['energy', 'forces'], system_changes)
        bad = self.calls > self.after
        self.results = {
            'energy': np.nan if bad else self.emt.results['energy'],
            'forces': np.full((len(atoms), 3), np.nan) if bad else self.emt.results['forces'],
            'stress': np.zeros(6),
        }


def rattled_alloy(seed: int = 1):
    atoms = bulk('Cu', cubic=True, a=3.62).repeat((2, 2, 2))
    atoms.symbols[::4] = 'Au'
    atoms.rattle(0.05, seed=seed)
    return atoms


def test_parse_fix(make_bto):
    atoms = make_bto(repeat=(1, 1, 2))  # Ba Ti O O O Ba Ti O O O
    assert parse_fix(None, atoms) == [] and parse_fix('', atoms) == []
    assert parse_fix('Ba', atoms) == [0, 5]
    assert parse_fix('Ba,O', atoms) == [0, 2, 3, 4, 5, 7, 8, 9]
    assert parse_fix('Ti O', atoms) == [1, 2, 3, 4, 6, 7, 8, 9]
    assert parse_fix('0,3,5', atoms) == [0, 3, 5]
    assert parse_fix([5, 0, 3, 3], atoms) == [0, 3, 5]
    assert parse_fix(np.array([1, 2]), atoms) == [1, 2]
    assert parse_fix(-1, atoms) == [9]
    with pytest.raises(ValueError, match=r"\['Sr'\] not in the structure"):
        parse_fix('Ba,Sr', atoms)
    with pytest.raises(ValueError, match=r'\[10\] out of range .* 10 atoms'):
        parse_fix('0,10', atoms)
    with pytest.raises(ValueError, match='out of range'):
        parse_fix([-11], atoms)
    with pytest.raises(ValueError, match='mixes species and indices'):
        parse_fix('Ba,3', atoms)
    with pytest.raises(ValueError, match='integers'):
        parse_fix([0.5], atoms)


def test_relax_fixed_sublattice_stays_bitwise(tmp_path):
    atoms = rattled_alloy()
    start = atoms.positions.copy()
    result = relax(atoms, EMT(), fix='Au', fmax=0.01, optimizer='BFGS', trajectory=tmp_path / 'r.traj')
    fixed = parse_fix('Au', atoms)
    assert result.fixed_indices == fixed and len(fixed) == 8
    assert result.converged and result.max_force <= 0.01
    assert np.array_equal(result.atoms.positions[fixed], start[fixed])  # bit for bit
    free = [i for i in range(len(atoms)) if i not in fixed]
    assert np.abs(result.atoms.positions[free] - start[free]).max() > 1e-3  # the others did move
    assert np.array_equal(atoms.positions, start)  # input untouched
    frames = read(tmp_path / 'r.traj', ':')
    assert len(frames) == result.n_steps + 1
    assert np.array_equal(frames[-1].positions, result.atoms.positions)
    assert frames[-1].get_potential_energy() == pytest.approx(result.energy)
    # the reported max force is over free atoms only; fixed atoms may carry large forces
    forces = result.atoms.get_forces(apply_constraint=False)
    assert result.max_force == pytest.approx(np.linalg.norm(forces[free], axis=1).max())


def test_relax_restart_from_last_frame(tmp_path):
    atoms = rattled_alloy(seed=3)
    start = atoms.positions.copy()
    first = relax(atoms, EMT(), fix=[0, 1], fmax=0.005, max_steps=3, trajectory=tmp_path / 'a.traj')
    assert not first.converged and first.n_steps == 3
    last = read_structure(tmp_path / 'a.traj')  # the last frame
    assert np.array_equal(last.positions, first.atoms.positions)
    second = relax(last, EMT(), fix=[0, 1], fmax=0.005, max_steps=500, trajectory=tmp_path / 'b.traj')
    assert second.converged and second.max_force <= 0.005
    assert np.array_equal(second.atoms.positions[:2], start[:2])
    direct = relax(atoms, EMT(), fix=[0, 1], fmax=0.005)
    assert second.energy == pytest.approx(direct.energy, abs=1e-4)


def test_relax_cell_keeps_fixed_fractional_coordinates():
    atoms = bulk('Cu', cubic=True, a=3.7).repeat((2, 1, 1))
    atoms.rattle(0.03, seed=2)
    result = relax(atoms, EMT(), fix=[0, 5], fmax=0.05, relax_cell=True)
    assert result.converged and result.max_stress is not None
    assert abs(result.atoms.cell[1, 1] - 3.7) > 0.01  # the cell did change
    assert np.allclose(
        result.atoms.get_scaled_positions()[[0, 5]], atoms.get_scaled_positions()[[0, 5]], atol=1e-12
    )


def test_relax_errors():
    atoms = rattled_alloy()
    with pytest.raises(RelaxationError, match='NaN'):
        relax(atoms, NaNCalculator(after=2), fmax=1e-4)
    with pytest.raises(ValueError, match='unknown optimizer'):
        relax(atoms, EMT(), optimizer='CG')
    with pytest.raises(ValueError, match='fmax'):
        relax(atoms, EMT(), fmax=0)


def test_schedule_parsing():
    stages = parse_schedule('1000:200, 300:50')
    assert [(s.temperature_K, s.n_steps) for s in stages] == [(1000.0, 200), (300.0, 50)]
    assert parse_schedule([(10, 5)])[0].n_steps == 5
    for bad in ('', '1000', '1000:0', '-5:10', '300:2.5', 'hot:10'):
        with pytest.raises(ValueError):
            parse_schedule(bad)


def test_md_frames_and_temperature(tmp_path):
    atoms = bulk('Cu', cubic=True).repeat((3, 3, 3))  # 108 atoms
    result = run_md(
        atoms,
        EMT(),
        '600:150,300:250',
        timestep_fs=2.0,
        friction_per_fs=0.05,
        trajectory=tmp_path / 'md.traj',
        stride=20,
        seed=4,
    )
    frames = read(tmp_path / 'md.traj', ':')
    assert result.n_steps == 400 and result.n_frames == len(frames) == 400 // 20 + 1
    assert [f.info['md_step'] for f in frames] == list(range(0, 401, 20))
    assert (
        frames[5].info['target_temperature_K'] == 600.0 and frames[-1].info['target_temperature_K'] == 300.0
    )
    # strong Langevin coupling (20 fs): the last 200 fs sit near 300 K (108 atoms: ±~10 % per frame)
    late = [f.get_temperature() for f in frames if f.info['md_step'] >= 300]
    assert 230 < np.mean(late) < 370
    assert np.allclose(atoms.get_momenta(), 0)  # input untouched


def test_md_restart_continues_schedule(tmp_path):
    atoms = bulk('Cu', cubic=True).repeat((2, 2, 2))
    schedule = '300:30,100:30'
    # a run "killed" after 25 steps: its trajectory ends at the last written frame (step 20)
    run_md(atoms, EMT(), '300:25', timestep_fs=2.0, trajectory=tmp_path / 'md.traj', stride=10)
    assert read(tmp_path / 'md.traj', -1).info['md_step'] == 20
    result = continue_md(tmp_path / 'md.traj', EMT(), schedule, timestep_fs=2.0, stride=10)
    frames = read(tmp_path / 'md.traj', ':')
    assert [f.info['md_step'] for f in frames] == [0, 10, 20, 30, 40, 50, 60]
    assert result.n_frames == 4 and result.stage_mean_temperatures_K[0] is not None
    assert frames[-1].info['target_temperature_K'] == 100.0
    assert np.any(frames[3].get_momenta())  # momenta carried over


def test_md_nose_hoover_and_fixed_atoms(tmp_path):
    atoms = bulk('Cu', cubic=True).repeat((2, 2, 2))
    start = atoms.positions.copy()
    result = run_md(
        atoms,
        EMT(),
        '200:20',
        thermostat='nose-hoover',
        tdamp_fs=50,
        fix=[0, 1],
        trajectory=tmp_path / 'nh.traj',
        stride=5,
    )
    assert result.n_frames == 5
    assert np.array_equal(result.atoms.positions[:2], start[:2])
    assert not np.allclose(result.atoms.positions[2:], start[2:])


def test_md_explosion_detected(tmp_path):
    atoms = bulk('Cu', cubic=True).repeat((2, 2, 2))
    with pytest.raises(MDExplosionError, match='NaN'):
        run_md(atoms, NaNCalculator(after=3), '300:20', trajectory=tmp_path / 'x.traj')
    assert len(read(tmp_path / 'x.traj', ':')) >= 1  # the good frames are kept
    squeezed = bulk('Cu', cubic=True, a=2.6).repeat((2, 2, 2))  # EMT at 72 % of the lattice constant
    squeezed.rattle(0.2, seed=0)
    with pytest.raises(MDExplosionError, match='temperature'):
        run_md(squeezed, EMT(), '10:200', timestep_fs=5.0, explosion_factor=3.0)
    with pytest.raises(ValueError, match='thermostat'):
        run_md(atoms, EMT(), '300:5', thermostat='andersen')


def test_restart_frame_of_a_damaged_trajectory(tmp_path):
    """A writer killed mid-frame leaves a damaged last frame: the last intact one is the restart point."""
    import os

    atoms = rattled_alloy(seed=5)
    result = relax(atoms, EMT(), fmax=1e-4, max_steps=4, trajectory=tmp_path / 'r.traj')
    frames = read(tmp_path / 'r.traj', ':')
    assert len(frames) == result.n_steps + 1 == 5
    os.truncate(tmp_path / 'r.traj', os.path.getsize(tmp_path / 'r.traj') - 50)
    last = read_structure(tmp_path / 'r.traj')
    assert np.array_equal(last.positions, frames[-2].positions)
    with pytest.raises(FileNotFoundError, match='no such structure file'):
        read_structure(tmp_path / 'missing.traj')


class NoisyCalculator(Calculator):
    """EMT plus random forces of ``noise`` eV/Å per component: a potential too rough to converge below its noise."""

    implemented_properties = ['energy', 'forces', 'stress']

    def __init__(self, noise: float = 0.3, seed: int = 0):
        super().__init__()
        self.noise, self.rng, self.emt = noise, np.random.default_rng(seed), EMT()

    def calculate(self, atoms=None, properties=('energy',), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        self.emt.calculate(atoms, ['energy', 'forces'], system_changes)
        forces = self.emt.results['forces'] + self.rng.normal(0.0, self.noise, (len(atoms), 3))
        self.results = {'energy': self.emt.results['energy'], 'forces': forces, 'stress': np.zeros(6)}


def test_watchdog_stops_a_relaxation_without_progress():
    """A tolerance below the potential's noise never converges: the watchdog ends it long before max_steps."""
    result = relax(rattled_alloy(), NoisyCalculator(), fmax=0.01, max_steps=2000, stall_steps=30)
    assert not result.converged and result.stalled and 'no progress in 30 steps' in result.stalled
    assert result.n_steps < 300
    assert result.summary()['stalled'] == result.stalled
    # without the watchdog it runs to max_steps; a converging relaxation never trips it
    assert (
        relax(rattled_alloy(), NoisyCalculator(), fmax=0.01, max_steps=100, stall_steps=None).n_steps == 100
    )
    assert relax(rattled_alloy(), EMT(), fmax=0.005, stall_steps=30).stalled is None
