"""flexo.gnn.train.base / flexo.mlip.train.base handlers and the parser's scheduler verdict, without a daemon.

In aiida-quantumespresso's style: a WorkChain is instantiated with real inputs, and each handler is called on a
stored CalcJobNode built with the exit status and outputs of the case (no calculation runs).
"""

from __future__ import annotations

import io

import pytest
from tests_helpers import calc_node

pytestmark = [pytest.mark.aiida]


@pytest.fixture
def frames_node(bto_frames):
    from aiida_flexo.nodes.frames import FramesData

    return FramesData.from_frames(bto_frames[:3], source='test').store()


@pytest.fixture
def make_workchain(flexo_code, frames_node):
    from aiida import orm
    from aiida.engine.utils import instantiate_process
    from aiida.manage import get_manager

    def make(cls, parameters: dict, options: dict | None = None):
        inputs = {
            'train': {
                'code': flexo_code,
                'frames': frames_node,
                'parameters': orm.Dict(parameters),
                'metadata': {'options': {'max_wallclock_seconds': 1000, **(options or {})}},
            }
        }
        process = instantiate_process(get_manager().get_runner(), cls, **inputs)
        process.setup()
        process.prepare_job()
        return process

    return make


GNN = 'aiida.calculations:flexo.gnn.train'
MLIP = 'aiida.calculations:flexo.mlip.train'


def test_each_job_gets_most_of_its_walltime_and_the_rest_of_the_training_time(make_workchain):
    from aiida_flexo.workflows.train_restart import GnnTrainWorkChain, MlipTrainWorkChain

    process = make_workchain(GnnTrainWorkChain, {'epochs': 10, 'max_time': 2000.0})
    assert process.ctx.inputs.parameters['max_time'] == pytest.approx(900.0)  # 0.9 × 1000 s walltime
    process.ctx.spent_s = 1800.0  # the GNN counts its time across resumed runs: the limit is the total
    process.prepare_job()
    assert process.ctx.inputs.parameters['max_time'] == pytest.approx(2000.0)  # 1800 trained + the 200 s left
    process.ctx.spent_s = 500.0
    process.prepare_job()
    assert process.ctx.inputs.parameters['max_time'] == pytest.approx(1400.0)  # 500 + 0.9 × walltime
    finetune = make_workchain(MlipTrainWorkChain, {'from_potential': 'sevennet-0', 'max_time': '2h'})
    finetune.ctx.spent_s = 5000.0  # fine-tuning counts per run: the job gets its own limit only
    finetune.prepare_job()
    assert finetune.ctx.inputs.parameters['max_time'] == pytest.approx(900.0)
    mlip = make_workchain(MlipTrainWorkChain, {'epochs': 10, 'max_time': '2h'})
    assert mlip.ctx.inputs.parameters['max_time'] == pytest.approx(
        900.0
    )  # seconds: max_time is a duration setting


def test_a_job_stopped_on_its_time_limit_continues_until_the_epochs_are_done(make_workchain, flexo_code):
    from aiida_flexo.workflows.train_restart import GnnTrainWorkChain

    process = make_workchain(GnnTrainWorkChain, {'epochs': 10})
    stopped = calc_node(
        flexo_code, 0, GNN, {'stop_reason': 'max time', 'epochs_run': 4, 'train_wall_time_s': 905.0}
    )
    report = process.handle_time_limit(stopped)
    assert report is not None and report.exit_code.status == 0
    assert process.ctx.inputs.parent_folder.uuid == stopped.outputs.remote_folder.uuid
    assert process.ctx.spent_s == pytest.approx(905.0)  # the trainer's own count
    done = calc_node(flexo_code, 0, GNN, {'stop_reason': 'max time', 'epochs_run': 10})
    assert process.handle_time_limit(done) is None  # every epoch ran: finished
    early = calc_node(flexo_code, 0, GNN, {'stop_reason': 'early stopping', 'epochs_run': 6})
    assert process.handle_time_limit(early) is None


def test_the_training_own_time_budget_is_respected(make_workchain, flexo_code):
    from aiida_flexo.workflows.train_restart import MlipTrainWorkChain

    process = make_workchain(MlipTrainWorkChain, {'epochs': 50, 'max_time': '10m'})
    assert process.ctx.inputs.parameters['max_time'] == pytest.approx(
        600.0
    )  # the budget, below 0.9 × walltime
    stopped = calc_node(flexo_code, 0, MLIP, {'stopped_by': 'max_time', 'epochs': 3})
    assert process.handle_time_limit(stopped) is None  # its 10 minutes are used: done, not resumed


def test_a_killed_training_resumes_from_its_folder(make_workchain, flexo_code):
    from aiida_flexo.workflows.train_restart import GnnTrainWorkChain

    process = make_workchain(GnnTrainWorkChain, {'epochs': 10})
    for status in (400, 120, 140):  # no status file; aiida-core's out of walltime, node failure
        killed = calc_node(flexo_code, status, GNN)
        report = process.handle_killed(killed)
        assert report.exit_code.status == 0
        assert process.ctx.inputs.parent_folder.uuid == killed.outputs.remote_folder.uuid
    orphan = calc_node(flexo_code, 400, GNN, remote=False)
    assert process.handle_killed(orphan).exit_code.status == 412


def test_out_of_memory_asks_for_more_or_says_what_to_set(make_workchain, flexo_code):
    from aiida_flexo.workflows.train_restart import MlipTrainWorkChain

    process = make_workchain(MlipTrainWorkChain, {'epochs': 10}, options={'max_memory_kb': 4_000_000})
    report = process.handle_out_of_memory(calc_node(flexo_code, 110, MLIP))
    assert report.exit_code.status == 0
    assert process.ctx.inputs.metadata.options.max_memory_kb == 8_000_000
    assert 'parent_folder' in process.ctx.inputs
    bare = make_workchain(MlipTrainWorkChain, {'epochs': 10})
    report = bare.handle_out_of_memory(calc_node(flexo_code, 110, MLIP))
    assert report.exit_code.status == 411 and 'max_memory_kb' in report.exit_code.message


def _with_retrieved(node, files: dict[str, str]):
    from aiida import orm
    from aiida.common.links import LinkType

    retrieved = orm.FolderData()
    for name, text in files.items():
        retrieved.base.repository.put_object_from_filelike(io.BytesIO(text.encode()), name)
    retrieved.base.links.add_incoming(node, link_type=LinkType.CREATE, link_label='retrieved')
    retrieved.store()
    return node


def test_parser_keeps_the_scheduler_verdict(flexo_code):
    from aiida_flexo.calcjobs.gnn import GnnTrainParser

    # out of walltime per the scheduler, no status file: the parser keeps 120 instead of its own 400
    node = _with_retrieved(calc_node(flexo_code, 120, GNN, remote=False), {'aiida.err': 'killed'})
    assert GnnTrainParser(node).parse().status == 120
    # no scheduler verdict, no status file: killed (400), with the stderr
    node = _with_retrieved(calc_node(flexo_code, 0, GNN, remote=False), {'aiida.err': 'Killed'})
    code = GnnTrainParser(node).parse()
    assert code.status == 400 and 'Killed' in code.message
    # a status file always wins: the executable's own verdict (here: failed with its message)
    status = '{"exit_status": 1, "message": "bad frames"}'
    node = _with_retrieved(calc_node(flexo_code, 120, GNN, remote=False), {'_flexo_status.json': status})
    code = GnnTrainParser(node).parse()
    assert code.status == 301 and 'bad frames' in code.message


def test_a_resumed_calculation_copies_its_parent_folder_first(flexo_code, frames_node, tmp_path):
    from aiida import orm
    from aiida.common.datastructures import FileCopyOperation
    from aiida.common.folders import Folder
    from aiida.engine.utils import instantiate_process
    from aiida.manage import get_manager

    from aiida_flexo.calcjobs.gnn import GnnTrainCalculation

    parent = orm.RemoteData(computer=flexo_code.computer, remote_path=str(tmp_path / 'previous')).store()
    process = instantiate_process(
        get_manager().get_runner(),
        GnnTrainCalculation,
        code=flexo_code,
        frames=frames_node,
        parent_folder=parent,
        metadata={'options': {'max_wallclock_seconds': 60}},
    )
    (tmp_path / 'sandbox').mkdir()
    calcinfo = process.prepare_for_submission(Folder(str(tmp_path / 'sandbox')))
    assert calcinfo.remote_copy_list == [(flexo_code.computer.uuid, f'{tmp_path}/previous/*', '.')]
    assert calcinfo.file_copy_operation_order[0] == FileCopyOperation.REMOTE  # this run's files go over it
    assert '--resume' in calcinfo.codes_info[0].cmdline_params
