"""The GPAW engine executable on tiny cells (2-atom Si and SiC), its outputs and its exit statuses.

The cells run at a low, unconverged cutoff (250–300 eV) and small k-meshes to keep the tests at a few seconds per
SCF; the assertions are about consistency (forces against energy differences, folding, sum rules, exit codes),
which holds at any cutoff, and about Z*(Si in 3C-SiC)_xx ≈ 2.7 e, which is insensitive to it.
"""

import json
import sys

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from ase.io import write
from click.testing import CliRunner
from tests_helpers import GPAW_REASON, gpaw_available

from aiida_flexo.data import read_frames
from aiida_flexo.engines import EngineInputs, ExitCode
from aiida_flexo.polarization import lattice_shift

HAS_GPAW = gpaw_available()
needs_gpaw = pytest.mark.skipif(not HAS_GPAW, reason=GPAW_REASON)


def si2(a: float = 5.43) -> Atoms:
    return bulk('Si', 'diamond', a=a)


def sic(shift_si: bool = False) -> Atoms:
    """3C-SiC with C pushed 0.1 Å along x (away from the half-quantum point of the ideal zinc blende)."""
    atoms = bulk('SiC', 'zincblende', a=4.36)
    atoms.positions[1, 0] += 0.1
    if shift_si:
        atoms.positions[0] -= atoms.cell[0]  # the same crystal, Si outside the cell
    return atoms


def prepare(workdir, atoms: Atoms, inputs: EngineInputs) -> None:
    write(workdir / 'structure.xyz', atoms, format='extxyz')
    inputs.to_json(workdir / 'input.json')


def run_cli(workdir, monkeypatch):
    from aiida_flexo.cli.engine import engine

    monkeypatch.chdir(workdir)
    result = CliRunner().invoke(engine, ['gpaw', 'input.json'], catch_exceptions=False)
    results = (
        json.loads((workdir / 'results.json').read_text()) if (workdir / 'results.json').is_file() else None
    )
    return result, results


def cheap(**kwargs) -> EngineInputs:
    return EngineInputs(
        protocol='fast',
        cutoff=kwargs.pop('cutoff', 250.0),
        kpoints=kwargs.pop('kpoints', [3, 3, 3]),
        **kwargs,
    )


# ------------------------------------------------------------------------------------------------ SCF


@needs_gpaw
def test_si_scf_energy_forces_stress(tmp_path, monkeypatch):
    atoms = si2()
    atoms.positions[1] += [0.04, -0.02, 0.01]
    prepare(tmp_path, atoms, cheap())
    result, results = run_cli(tmp_path, monkeypatch)
    assert result.exit_code == 0, result.output
    assert results['status'] == 'finished' and results['exit_status'] == 0
    assert results['gpaw_version'] and results['parameters']['scf']['symmetry'] == 'on'
    forces = np.array(results['forces'])
    stress = np.array(results['stress'])
    np.testing.assert_allclose(forces.sum(axis=0), 0.0, atol=2e-3)  # Newton's third law
    assert np.abs(forces).max() > 0.1  # the displaced atom is pushed back
    assert forces[1] @ np.array([0.04, -0.02, 0.01]) < 0
    np.testing.assert_allclose(stress, stress.T, atol=1e-8)

    (frame,) = read_frames(tmp_path / 'labelled.xyz', require=('energy', 'forces', 'stress'))
    assert frame.info['energy'] == pytest.approx(results['energy'], abs=1e-10)
    np.testing.assert_allclose(frame.arrays['forces'], forces, atol=1e-12)
    np.testing.assert_allclose(frame.info['stress'], stress, atol=1e-12)
    assert frame.info['engine'] == 'gpaw'
    assert 'dipole' not in frame.info  # not asked for

    # forces are minus the energy gradient (central difference, same settings)
    from gpaw import GPAW

    from aiida_flexo.engines import to_native
    from aiida_flexo.engines.threads import single_threaded_blas

    params = to_native('gpaw', cheap(), atoms, task='berry_phase')  # symmetry off for displaced cells
    h = 0.01
    energies = []
    with single_threaded_blas():  # threaded BLAS on shared cores makes GPAW many times slower
        for sign in (1, -1):
            displaced = atoms.copy()
            displaced.positions[1, 0] += sign * h
            displaced.calc = GPAW(**params, txt=None)
            energies.append(displaced.get_potential_energy())
    assert forces[1, 0] == pytest.approx(-(energies[0] - energies[1]) / (2 * h), rel=0.03, abs=5e-3)


@needs_gpaw
def test_si_stress_sign_follows_ase_convention(tmp_path, monkeypatch):
    traces = {}
    for a in (5.25, 5.65):
        workdir = tmp_path / f'a{a}'
        workdir.mkdir()
        prepare(workdir, si2(a), cheap(kpoints=[2, 2, 2]))
        result, results = run_cli(workdir, monkeypatch)
        assert result.exit_code == 0, result.output
        traces[a] = np.trace(np.array(results['stress']))
    # ase sign: a compressed cell pushes outwards, its stress is more negative (compressive) than an expanded one's
    assert traces[5.25] < traces[5.65]
    assert traces[5.25] < 0


# ------------------------------------------------------------------------------------------------ Berry phase


@needs_gpaw
def test_sic_born_charges_central_across_the_cell_boundary_and_resume(tmp_path):
    from aiida_flexo.engines.gpaw_driver import GpawRun

    atoms = sic()
    assert np.allclose(atoms.positions[0], 0.0)  # Si on the cell corner: its -x displacement leaves the cell
    inputs = cheap(cutoff=300.0, born_charges={'enabled': True, 'directions': 'x', 'scheme': 'central'})
    results = GpawRun(inputs, atoms, tmp_path, log=lambda m: None).run()
    assert results['charge_quantum'] == 2.0
    assert results['parameters']['berry_phase']['symmetry'] == 'off'
    born = np.array(results['born_charges'], dtype=float)  # null (not computed) -> nan
    z_si, z_c = born[0, 0, 0], born[1, 0, 0]
    assert 2.2 < z_si < 3.2  # Z*(Si in 3C-SiC) ≈ 2.7 e
    assert results['asr_residual'][0][0] == pytest.approx(z_si + z_c)
    assert abs(z_si + z_c) < 0.1  # acoustic sum rule
    assert np.isnan(born[:, :, 1:]).all()  # y, z not displaced
    assert results['born_charges_complete'] is False
    assert len(results['born_displacements']) == 4
    frames = read_frames(tmp_path / 'displaced.xyz', require=('energy', 'forces', 'dipole'))
    outside = [f for f in frames if f.info['displaced_atom'] == 0 and f.info['displacement'] < 0]
    assert outside[0].get_scaled_positions(wrap=False)[0].min() < 0  # really outside the cell

    # the labelled frame carries the folded dipole and its quantum, but no partial Born charges
    (frame,) = read_frames(tmp_path / 'labelled.xyz', require=('dipole',))
    assert frame.info['charge_quantum'] == 2.0
    assert 'born_charges' not in frame.arrays

    # rerun in the same directory: everything is reused, nothing recomputed
    messages = []
    again = GpawRun(inputs, atoms, tmp_path, log=messages.append).run()
    assert any('scf: reusing' in m for m in messages) and any('berry_phase: reusing' in m for m in messages)
    assert not any(m.startswith('scf: E =') for m in messages)
    np.testing.assert_allclose(np.array(again['born_charges'], dtype=float), born, equal_nan=True)

    # the same crystal written with Si one lattice vector away: identical folded dipole, raw ones differ by q e R
    wrapped = GpawRun(
        cheap(cutoff=300.0, berry_phase=True), sic(shift_si=True), tmp_path / 'w', log=lambda m: None
    )
    moved = wrapped.run()
    np.testing.assert_allclose(moved['dipole'], results['dipole'], atol=1e-5)
    shift = np.array(moved['dipole_raw']) - np.array(results['dipole_raw'])
    assert np.linalg.norm(shift) > 1.0
    np.testing.assert_allclose(lattice_shift(shift, atoms.cell[:], 2.0), shift, atol=1e-5)


# ------------------------------------------------------------------------------------------------ MD


@needs_gpaw
def test_si_nve_md_conserves_energy_and_writes_a_trajectory(tmp_path, monkeypatch):
    inputs = cheap(
        kpoints=[2, 2, 2], md={'steps': 4, 'temperature': 300.0, 'timestep': 1.0, 'thermostat': 'nve'}
    )
    prepare(tmp_path, si2(), inputs)
    result, results = run_cli(tmp_path, monkeypatch)
    assert result.exit_code == 0, result.output
    md = results['md']
    assert md['steps_done'] == 4
    assert len(md['temperatures']) == 5  # steps 0..4
    assert max(md['energies']) - min(md['energies']) < 0.02  # eV: velocity Verlet conserves the total energy
    frames = read_frames(tmp_path / 'md.xyz', require=('energy', 'forces', 'stress'))
    assert [f.info['md_step'] for f in frames] == [0, 1, 2, 3, 4]
    assert frames[0].info['md_temperature_K'] > 0
    assert not np.allclose(frames[-1].positions, frames[0].positions)


@needs_gpaw
@pytest.mark.parametrize('thermostat', ['langevin', 'nose-hoover'])
def test_si_nvt_md_runs(tmp_path, thermostat):
    from aiida_flexo.engines.gpaw_driver import GpawRun

    inputs = cheap(
        kpoints=[2, 2, 2], stress=False, md={'steps': 2, 'thermostat': thermostat, 'stress': False}
    )
    results = GpawRun(inputs, si2(), tmp_path, log=lambda m: None).run()
    assert results['md']['steps_done'] == 2 and len(results['md']['temperatures']) == 3
    assert results['parameters']['md']['symmetry'] == {'point_group': False}
    frames = read_frames(tmp_path / 'md.xyz', require=('energy', 'forces'))
    assert len(frames) == 3 and 'stress' not in frames[0].info


# ------------------------------------------------------------------------------------------------ exit codes


def test_exit_invalid_input(tmp_path, monkeypatch):
    write(tmp_path / 'structure.xyz', si2(), format='extxyz')
    (tmp_path / 'input.json').write_text('{"protocol": "fast", "cutof": 300}')
    result, _ = run_cli(tmp_path, monkeypatch)
    assert result.exit_code == ExitCode.INVALID_INPUT
    assert 'cutof' in result.output


def test_exit_non_periodic(tmp_path, monkeypatch):
    molecule = Atoms('H2', positions=[[0, 0, 0], [0, 0, 0.74]])
    prepare(tmp_path, molecule, cheap())
    result, _ = run_cli(tmp_path, monkeypatch)
    assert result.exit_code == ExitCode.NON_PERIODIC
    assert 'not periodic in 3D' in result.output and 'pbc' in result.output


def test_exit_engine_not_installed(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, 'gpaw', None)  # import gpaw -> ImportError
    prepare(tmp_path, si2(), cheap())
    result, _ = run_cli(tmp_path, monkeypatch)
    assert result.exit_code == ExitCode.ENGINE_NOT_INSTALLED
    assert 'install_gpaw.sh' in result.output


@needs_gpaw
def test_exit_missing_setup_names_the_species(tmp_path, monkeypatch):
    polonium = Atoms('Po', cell=[3.35, 3.35, 3.35], pbc=True)  # gpaw-data has no Po setup
    prepare(tmp_path, polonium, cheap())
    result, results = run_cli(tmp_path, monkeypatch)
    assert result.exit_code == ExitCode.MISSING_SETUP
    assert "['Po']" in result.output and 'GPAW_SETUP_PATH' in result.output
    assert results['status'] == 'failed' and results['exit_status'] == ExitCode.MISSING_SETUP


@needs_gpaw
def test_exit_scf_not_converged(tmp_path, monkeypatch):
    prepare(tmp_path, si2(), cheap(max_scf_iterations=2))
    result, results = run_cli(tmp_path, monkeypatch)
    assert result.exit_code == ExitCode.SCF_NOT_CONVERGED
    assert 'max_scf_iterations' in results['error']
    assert results['stages']['scf'] == 'running'


@needs_gpaw
def test_exit_berry_phase_of_a_metal_keeps_the_scf(tmp_path, monkeypatch):
    aluminium = bulk('Al', 'fcc', a=4.05)
    prepare(tmp_path, aluminium, cheap(kpoints=[4, 4, 4], smearing_width=0.1, berry_phase=True))
    result, results = run_cli(tmp_path, monkeypatch)
    assert result.exit_code == ExitCode.BERRY_PHASE_NO_GAP
    assert 'no band gap' in results['error']
    assert results['stages']['scf'] == 'done' and np.isfinite(results['energy'])  # finished work is kept
    (frame,) = read_frames(tmp_path / 'labelled.xyz', require=('energy', 'forces'))
    assert 'dipole' not in frame.info


@needs_gpaw
def test_exit_md_exploded_keeps_the_trajectory(tmp_path, monkeypatch):
    # min_distance above the Si-Si bond (2.35 Å) makes the first MD frame count as a collision
    inputs = cheap(kpoints=[2, 2, 2], md={'steps': 3, 'min_distance': 2.5})
    prepare(tmp_path, si2(), inputs)
    result, results = run_cli(tmp_path, monkeypatch)
    assert result.exit_code == ExitCode.MD_EXPLODED
    assert 'MD exploded at step 0' in results['error'] and 'md.timestep' in results['error']
    assert results['stages']['scf'] == 'done'
    assert len(read_frames(tmp_path / 'md.xyz', require=('energy',))) == 1
