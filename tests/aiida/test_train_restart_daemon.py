"""flexo.gnn.train.base through the daemon: a training killed mid-run (as by a walltime or a node failure) resumes
from its checkpoint in a new job and finishes; nothing already trained is lost."""

from __future__ import annotations

import csv
import io
import signal
import time
from pathlib import Path

import psutil
import pytest

pytestmark = [pytest.mark.aiida, pytest.mark.daemon, pytest.mark.slow]


def test_killed_training_resumes_from_its_checkpoint(flexo_code, bto_frames, started_daemon_client):
    from aiida import orm
    from aiida.engine import submit

    from aiida_flexo.nodes.frames import FramesData
    from aiida_flexo.workflows.train_restart import GnnTrainWorkChain

    frames = FramesData.from_frames(bto_frames, source='test').store()
    parameters = {'epochs': 40, 'patience': 1000, 'seed': 0, 'threads': 1}
    node = submit(
        GnnTrainWorkChain,
        train={
            'code': flexo_code,
            'frames': frames,
            'parameters': orm.Dict(parameters),
            'metadata': {'options': {'max_wallclock_seconds': 900}},
        },
    )
    deadline = time.monotonic() + 400
    first = None
    while time.monotonic() < deadline and first is None:  # wait for a checkpoint after a few epochs
        calcs = [n for n in node.called if n.process_label == 'GnnTrainCalculation']
        if calcs and 'remote_folder' in calcs[0].outputs and calcs[0].get_job_id():
            folder = Path(calcs[0].outputs.remote_folder.get_remote_path())
            log = folder / 'log.csv'
            if (folder / 'checkpoint.pt').exists() and log.exists() and len(log.read_text().splitlines()) > 4:
                first = calcs[0]
        assert not node.is_terminated, f'the training ended before it could be killed: {node.exit_status}'
        time.sleep(0.5)
    assert first is not None, 'the first job never wrote a checkpoint'
    job = psutil.Process(int(first.get_job_id()))  # core.direct: the job id is the pid of the job script
    for process in [*job.children(recursive=True), job]:
        process.send_signal(signal.SIGKILL)
    while not node.is_terminated and time.monotonic() < deadline + 400:
        time.sleep(1)
    assert node.is_finished_ok, f'[{node.exit_status}] {node.exit_message}'
    calcs = sorted((n for n in node.called if n.process_label == 'GnnTrainCalculation'), key=lambda n: n.pk)
    assert len(calcs) == 2 and calcs[0].exit_status == 400  # killed: no status file
    second = calcs[1]
    assert second.inputs.parent_folder.uuid == first.outputs.remote_folder.uuid
    # the second job continued the first's epochs instead of starting over, and ran them all
    resumed_at = second.outputs.metrics['resumed_from_epoch']
    assert resumed_at is not None and resumed_at >= 3
    rows = list(csv.DictReader(io.StringIO(second.outputs.log.get_content())))
    assert [int(row['epoch']) for row in rows] == list(range(40))
    assert node.outputs.metrics['epochs_run'] == 40
    assert node.outputs.model.uuid == second.outputs.model.uuid
