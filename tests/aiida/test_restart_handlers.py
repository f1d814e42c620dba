"""Handlers of flexo.gpaw.base and flexo.mlip.relax.base on recorded failure cases, without a daemon.

aiida-quantumespresso's style: the WorkChain is instantiated with real inputs and each handler is called on a stored
CalcJobNode carrying the exit status (and outputs) of the case; the scheduler's verdicts (110 out of memory, 120 out
of walltime, 140 node failure) are the ones a Slurm output parser gives.
"""

from __future__ import annotations

import io

import pytest
from tests_helpers import calc_node, model_restart_workchain

pytestmark = [pytest.mark.aiida]

GPAW = 'aiida.calculations:flexo.gpaw'
RELAX = 'aiida.calculations:flexo.mlip.relax'


@pytest.fixture
def gpaw_workchain(flexo_code):
    from aiida import orm
    from aiida.engine.utils import instantiate_process
    from aiida.manage import get_manager

    from aiida_flexo.engines.inputs import EngineInputs
    from aiida_flexo.flexo.structures import builtin
    from aiida_flexo.workflows.gpaw_base import GpawBaseWorkChain

    def make(options: dict | None = None):
        inputs = {
            'gpaw': {
                'code': flexo_code,
                'structure': orm.StructureData(ase=builtin('BaTiO3')),
                'parameters': orm.Dict(EngineInputs(protocol='fast').to_dict()),
                'metadata': {'options': {'max_wallclock_seconds': 600, **(options or {})}},
            }
        }
        process = instantiate_process(get_manager().get_runner(), GpawBaseWorkChain, **inputs)
        process.setup()
        return process

    return make


@pytest.mark.parametrize('status', [400, 120, 140])
def test_gpaw_killed_reruns_from_its_finished_stages(gpaw_workchain, flexo_code, status):
    process = gpaw_workchain()
    node = calc_node(flexo_code, status, GPAW)
    report = process.handle_killed(node)
    assert report.exit_code.status == 0
    assert process.ctx.inputs.parent_folder.uuid == node.outputs.remote_folder.uuid


def test_gpaw_out_of_memory(gpaw_workchain, flexo_code):
    process = gpaw_workchain({'max_memory_kb': 1_000_000})
    report = process.handle_out_of_memory(calc_node(flexo_code, 110, GPAW))
    assert report.exit_code.status == 0 and process.ctx.inputs.metadata.options.max_memory_kb == 2_000_000
    assert 'parent_folder' in process.ctx.inputs
    bare = gpaw_workchain()
    report = bare.handle_out_of_memory(calc_node(flexo_code, 110, GPAW))
    assert report.exit_code.status == 411 and 'max_memory_kb' in report.exit_code.message


def test_gpaw_scf_not_converged_doubles_then_mixes_conservatively(gpaw_workchain, flexo_code):
    from aiida_flexo.calcjobs.gpaw import GpawCalculation
    from aiida_flexo.engines.inputs import EngineInputs

    process = gpaw_workchain()
    status = GpawCalculation.exit_codes.ERROR_SCF_NOT_CONVERGED.status
    before = EngineInputs.from_dict(process.ctx.inputs.parameters.get_dict()).setting('max_scf_iterations')
    process.ctx.iteration = 1
    assert process.handle_scf_not_converged(calc_node(flexo_code, status, GPAW)).exit_code.status == 0
    parameters = process.ctx.inputs.parameters.get_dict()
    assert parameters['max_scf_iterations'] == 2 * before
    assert 'mixer' not in parameters.get('engine_options', {}).get('gpaw', {})
    process.ctx.iteration = 2
    process.handle_scf_not_converged(calc_node(flexo_code, status, GPAW))
    assert process.ctx.inputs.parameters.get_dict()['engine_options']['gpaw']['mixer']['beta'] == 0.02


def test_gpaw_input_error_stops_at_once(gpaw_workchain, flexo_code):
    from aiida_flexo.calcjobs.gpaw import GpawCalculation

    process = gpaw_workchain()
    code = GpawCalculation.exit_codes.ERROR_MISSING_SETUP
    node = calc_node(flexo_code, code.status, GPAW, message='no PAW setup for Po')
    report = process.handle_input_errors(node)
    assert report.do_break and report.exit_code.status == process.exit_codes.ERROR_MISSING_SETUP.status


@pytest.fixture
def relax_workchain(flexo_code):
    from aiida import orm

    from aiida_flexo.workflows.mlip_relax import MlipRelaxWorkChain

    return model_restart_workchain(
        MlipRelaxWorkChain, 'relax', flexo_code, parameters=orm.Dict({'fmax': 0.01, 'max_steps': 10})
    )


def _trajectory():
    from aiida import orm

    return orm.SinglefileData(io.BytesIO(b'not read by the handler'), filename='relax.traj')


@pytest.mark.parametrize('status', [400, 120, 140])
def test_relaxation_killed_continues_from_its_trajectory(relax_workchain, flexo_code, status):
    node = calc_node(flexo_code, status, RELAX, outputs={'trajectory_file': _trajectory()})
    assert relax_workchain.handle_killed(node).exit_code.status == 0
    assert relax_workchain.ctx.inputs.restart_trajectory.uuid == node.outputs.trajectory_file.uuid
    bare = calc_node(flexo_code, status, RELAX)
    assert relax_workchain.handle_killed(bare).exit_code.status == 403  # nothing written: nothing to continue


def test_relaxation_stopped_by_the_watchdog_is_not_restarted(relax_workchain, flexo_code):
    from aiida import orm

    from aiida_flexo.calcjobs.mlip import MlipRelaxCalculation

    status = MlipRelaxCalculation.exit_codes.ERROR_NOT_CONVERGED.status
    stalled = calc_node(flexo_code, status, RELAX, message='no progress in 200 steps: ...')
    assert relax_workchain.handle_not_converged(stalled).exit_code.status == 404
    slow = calc_node(
        flexo_code,
        status,
        RELAX,
        message='not converged in 10 steps',
        outputs={'trajectory_file': _trajectory(), 'max_force': orm.Float(0.3)},
    )
    assert relax_workchain.handle_not_converged(slow).exit_code.status == 0
    assert relax_workchain.ctx.inputs.restart_trajectory.uuid == slow.outputs.trajectory_file.uuid
