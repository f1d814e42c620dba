"""flexo.mlip.relax.base: a relaxation killed mid-run (and one that runs out of steps) continues from its last frame."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import numpy as np
import psutil
import pytest

pytestmark = [pytest.mark.aiida, pytest.mark.daemon, pytest.mark.slow]


def rattled_batio3(repeat=(1, 1, 6), seed=3):
    from aiida_flexo.flexo.structures import builtin

    atoms = builtin('BaTiO3').repeat(repeat)
    atoms.positions += np.random.default_rng(seed).normal(scale=0.06, size=atoms.positions.shape)
    return atoms


@pytest.fixture
def relax_inputs(flexo_code, tiny_model):
    from aiida import orm

    model = orm.SinglefileData(tiny_model)

    def inputs(parameters, fix='Ba', max_iterations=4):
        return {
            'relax': {
                'code': flexo_code,
                'structure': orm.StructureData(ase=rattled_batio3()),
                'model': model,
                'fix': orm.Str(fix),
                'parameters': orm.Dict(parameters),
                'metadata': {'options': {'max_wallclock_seconds': 900}},
            },
            'max_iterations': orm.Int(max_iterations),
        }

    return inputs


def test_killed_relaxation_continues_from_its_last_frame(relax_inputs, started_daemon_client):
    from aiida.engine import submit

    from aiida_flexo.workflows.mlip_relax import MlipRelaxWorkChain

    # a tolerance the tiny model never reaches: the first run is killed, the second continues for 300 steps (the
    # stall watchdog is off: it would otherwise stop a run that cannot reach 1e-5 eV/Å before max_steps)
    parameters = {'fmax': 1e-5, 'max_steps': 300, 'optimizer': 'FIRE', 'stall_steps': 0}
    node = submit(MlipRelaxWorkChain, **relax_inputs(parameters, max_iterations=2))
    deadline = time.monotonic() + 300
    first = None
    while time.monotonic() < deadline:  # wait for the first calculation to have written a few frames
        calcs = [n for n in node.called if n.process_label == 'MlipRelaxCalculation']
        if calcs and 'remote_folder' in calcs[0].outputs and calcs[0].get_job_id():
            trajectory = Path(calcs[0].outputs.remote_folder.get_remote_path()) / 'relax.traj'
            if trajectory.exists() and trajectory.stat().st_size > 8000:
                first = calcs[0]
                break
        assert not node.is_terminated, f'the relaxation ended before it could be killed: {node.exit_status}'
        time.sleep(0.5)
    assert first is not None, 'the first relaxation never wrote its trajectory'
    # core.direct: the job id is the pid of the job script; kill it and the executable it runs, as a node failure
    job = psutil.Process(int(first.get_job_id()))
    for process in [*job.children(recursive=True), job]:
        process.send_signal(signal.SIGKILL)
    while not node.is_terminated and time.monotonic() < deadline + 300:
        time.sleep(1)
    calcs = sorted((n for n in node.called if n.process_label == 'MlipRelaxCalculation'), key=lambda n: n.pk)
    assert (
        len(calcs) == 2 and node.exit_status == 401
    )  # killed, then continued until max_steps; out of iterations
    assert calcs[0].exit_status == 400  # killed: the executable never wrote its status
    assert 'trajectory_file' in calcs[0].outputs
    assert calcs[1].inputs.restart_trajectory.uuid == calcs[0].outputs.trajectory_file.uuid
    # the restart starts where the killed run stopped, not from the input structure
    from aiida_flexo.calcjobs.utils import read_ase_trajectory

    killed_frames = read_ase_trajectory(calcs[0].outputs.trajectory_file.get_content(mode='rb'))
    assert len(killed_frames) > 1
    second_frames = read_ase_trajectory(calcs[1].outputs.trajectory_file.get_content(mode='rb'))
    assert np.allclose(second_frames[0].positions, killed_frames[-1].positions, atol=1e-10)
    assert calcs[1].exit_status == 403 and calcs[1].outputs.summary['n_steps'] == 300
    assert calcs[1].outputs.energy.value < killed_frames[-1].get_potential_energy()
    # the fixed Ba sublattice never moved, across both calculations
    final = calcs[1].outputs.relaxed_structure.get_ase()
    ba = [i for i, symbol in enumerate(final.get_chemical_symbols()) if symbol == 'Ba']
    assert np.array_equal(final.positions[ba], calcs[0].inputs.structure.get_ase().positions[ba])


def test_unconverged_relaxation_continues(relax_inputs, submit_and_await):
    from aiida_flexo.workflows.mlip_relax import MlipRelaxWorkChain

    node = submit_and_await(
        MlipRelaxWorkChain,
        timeout=600,
        **relax_inputs({'fmax': 0.02, 'max_steps': 15, 'optimizer': 'BFGS'}, max_iterations=2),
    )
    calcs = sorted((n for n in node.called if n.process_label == 'MlipRelaxCalculation'), key=lambda n: n.pk)
    assert len(calcs) >= 2 and calcs[0].exit_status == 403  # not converged within 15 steps
    assert calcs[0].outputs.summary['n_steps'] == 15
    assert calcs[1].inputs.restart_trajectory.uuid == calcs[0].outputs.trajectory_file.uuid
    if node.is_finished_ok:
        assert node.outputs.max_force.value <= 0.02
    else:  # out of iterations: the work chain says so, and every step is kept
        assert node.exit_status == 401 or node.exit_status == 402, node.exit_message
