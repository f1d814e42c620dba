"""flexo.active through the daemon on tiny settings: one generation that labels two frames with GPAW, the final
training on everything, the provenance of the added frames, the CLI report; bad input refused at submission."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from tests_helpers import GPAW_REASON, describe_process, gpaw_available, record_timings

from aiida_flexo.cli import main
from aiida_flexo.resources import bundled_path

pytestmark = [
    pytest.mark.aiida,
    pytest.mark.daemon,
    pytest.mark.slow,
    pytest.mark.heavy,
    pytest.mark.skipif(not gpaw_available(), reason=GPAW_REASON),
]


N_FRAMES = 8
OPTIONS = {'resources': {'num_machines': 1, 'num_mpiprocs_per_machine': 1}, 'max_wallclock_seconds': 1200}
#: tiny everything: committees of two (tiny Allegro, 1 epoch; GNN 3 epochs), 8 explored frames, GPAW minimal
OVERRIDES = {
    'max_generations': 1,
    'mlip': {'model_size': 'tiny', 'epochs': 1, 'committee': 2, 'seed': 1},
    'gnn': {'epochs': 3, 'seed': 1, 'threads': 1},
    'sample': {'temperatures': [600.0], 'n_frames': 8, 'stride': 2},
    # floors far below any deviation: every explored frame is a candidate; the budget allows two DFT frames
    'select': {'per_generation': 4, 'force_floor': 1e-3, 'dipole_floor': 1e-6, 'force_ceiling': 1e9},
    'dft_budget': {'frames': 2},
    'label': {'engine_inputs': {'cutoff': 250.0, 'kpoints': [2, 2, 2]}},
}


def _builder(code, frames, overrides=None):
    from aiida import orm

    from aiida_flexo.flexo.structures import builtin
    from aiida_flexo.workflows.active import FlexoActiveWorkChain

    return FlexoActiveWorkChain.get_builder_from_protocol(
        code,
        frames,
        {'bto': orm.StructureData(ase=builtin('BaTiO3-qe'))},
        protocol='fast',
        overrides=overrides or OVERRIDES,
        options={'label': OPTIONS, 'models': OPTIONS},
    )


@pytest.fixture(scope='module')
def start_frames(aiida_profile):
    from aiida_flexo.data import read_frames
    from aiida_flexo.nodes.frames import FramesData

    frames = read_frames(bundled_path('BaTiO3_qe_berry_bec.xyz'), index=f':{N_FRAMES}')
    return FramesData.from_frames(frames, source='bundled BaTiO3').store()


@pytest.fixture(scope='module')
def loop(start_frames, flexo_code_module, daemon_client):
    """flexo.active on tiny settings; the daemon is stopped once the first DFT frame is done, then started again."""
    import time

    from aiida.engine import submit

    if not daemon_client.is_daemon_running:
        daemon_client.start_daemon()
    node = submit(_builder(flexo_code_module, start_frames))

    def wait(condition, what, timeout=1500):
        start = time.monotonic()
        while not condition():
            if time.monotonic() - start > timeout:
                raise TimeoutError(f'{what} not reached after {timeout} s: {describe_process(node)}')
            time.sleep(1)

    def dft():
        return [n for n in node.called_descendants if n.process_label == 'GpawCalculation']

    wait(lambda: any(n.is_finished for n in dft()) or node.is_terminated, 'a finished DFT frame')
    daemon_client.stop_daemon(wait=True)
    time.sleep(2)
    daemon_client.start_daemon()
    wait(lambda: node.is_terminated, 'the end of flexo.active')
    record_timings(node, 'test_active')
    return node


def test_one_generation_labels_the_most_uncertain_frames(loop, start_frames):
    assert loop.is_finished_ok, describe_process(loop)
    report = loop.outputs.report.get_dict()
    (generation,) = report['generations']
    assert generation['n_explored'] == 8 and generation['n_candidates'] == 8
    assert generation['n_added'] == 2 == report['dft_frames']  # per_generation 4, cut to the budget of 2
    assert generation['force_std_max_meV_A'] > 0 and generation['dipole_std_max_eA'] > 0
    assert 'new_frames_force_mae_meV_A' in generation, describe_process(generation_node(loop))
    assert np.isfinite(generation['new_frames_force_mae_meV_A']) and np.isfinite(
        generation['new_frames_dipole_mae_eA']
    )
    assert generation['dft_core_seconds'] > 0
    assert report['stop_reason'].startswith('max_generations = 1') or 'budget' in report['stop_reason']
    # the two new frames are at the end, tagged with their generation and why they were chosen
    frames = loop.outputs.frames.get_frames()
    assert len(frames) == N_FRAMES + 2
    new = frames[N_FRAMES:]
    scores = generation_node(loop).outputs.scores.get_dict()
    for atoms in new:
        assert atoms.info['active_generation'] == 1
        index = atoms.info['explored_index']
        assert index in scores['selected']
        assert atoms.info['force_std_max_meV_A'] == pytest.approx(scores['force_std_max_meV_A'][index])
        assert np.isfinite(atoms.info['energy']) and np.isfinite(atoms.info['dipole']).all()
    # they are the two highest-ranked explored frames
    assert [a.info['explored_index'] for a in new] == scores['selected'][:2]
    # the daemon restart in the middle of the labelling redid no DFT: one calculation per selected frame
    dft = [n for n in loop.called_descendants if n.process_label == 'GpawCalculation']
    assert len(dft) == 2 and all(n.is_finished_ok for n in dft)
    # the frames were added, so the final models were trained on all of them
    final = sorted(  # `called` has no order (PostgreSQL returns another than SQLite): by creation
        (n for n in loop.called if n.process_label == 'ActiveGenerationWorkChain'), key=lambda n: n.ctime
    )
    assert len(final) == 2 and report['final_models_from'] == final[-1].pk
    training = [n for n in final[-1].called_descendants if n.process_label == 'MlipTrainCalculation']
    assert training[0].inputs.frames.uuid == loop.outputs.frames.uuid
    assert loop.outputs.mlip_model.filename == 'model.committee.zip'
    assert set(loop.outputs.dipole_models) == {'member_0', 'member_1'}


def generation_node(loop):
    return next(
        n for n in loop.called if n.process_label == 'ActiveGenerationWorkChain' and 'scores' in n.outputs
    )


def test_query_which_frames_generation_g_added(loop):
    """QueryBuilder: the DFT frames labelled in generation 1 and the scores that chose them."""
    from aiida import orm

    from aiida_flexo.nodes.frames import FramesData
    from aiida_flexo.workflows.active import ActiveGenerationWorkChain

    qb = orm.QueryBuilder()
    qb.append(orm.Int, filters={'attributes.value': 1}, tag='g')
    qb.append(ActiveGenerationWorkChain, with_incoming='g', edge_filters={'label': 'generation'}, tag='gen')
    qb.append(FramesData, with_incoming='gen', edge_filters={'label': 'labelled'}, project='*')
    (labelled,) = qb.all(flat=True)
    assert labelled.n_frames == 2
    assert labelled.uuid == generation_node(loop).outputs.labelled.uuid


def test_report_cli(loop):
    runner = CliRunner()
    result = runner.invoke(main, ['active', 'report', str(loop.pk), '--json'])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert [g['generation'] for g in data['generations']] == [1]
    assert data['dft_frames'] == 2
    text = runner.invoke(main, ['active', 'report', str(loop.pk)])
    assert text.exit_code == 0 and 'F MAE new' in text.output and 'DFT frames' in text.output
    wrong = runner.invoke(main, ['active', 'report', str(loop.outputs.frames.pk)])
    assert wrong.exit_code != 0 and 'not a flexo.active workflow' in wrong.output


@pytest.mark.parametrize(
    ('overrides', 'message'),
    [
        ({'select': {'force_floor': 0.0}}, 'force_floor = 0.0: a threshold must be a positive number'),
        ({'dft_budget': {'frames': 0}}, 'dft_budget.frames = 0: a budget must be positive'),
        ({'mlip': {'committee': 1}}, 'set committee to 2 or more'),
        ({'gnn_committee': 1}, 'at least two GNNs'),
    ],
)
def test_bad_input_is_refused_at_submission(start_frames, flexo_code_module, overrides, message):
    from aiida.engine import submit

    with pytest.raises(ValueError, match=message):
        submit(_builder(flexo_code_module, start_frames, overrides))


def test_an_engine_that_cannot_label_the_species(start_frames, flexo_code_module):
    from aiida import orm
    from aiida.engine import run_get_node
    from ase.build import bulk

    builder = _builder(flexo_code_module, start_frames)
    builder.structures = {'po': orm.StructureData(ase=bulk('Po', 'sc', a=3.35))}
    _, node = run_get_node(builder)
    assert node.exit_status == 400 and 'no PBE PAW setup' in node.exit_message and 'Po' in node.exit_message
    assert not node.called  # nothing ran


def test_cli_submit_refuses_species_the_frames_lack(tmp_path, aiida_profile):
    from ase.build import bulk
    from ase.io import write

    structures = tmp_path / 'po.xyz'
    write(structures, bulk('Po', 'sc', a=3.35))
    frames = str(bundled_path('BaTiO3_qe_berry_bec.xyz'))
    result = CliRunner().invoke(
        main, ['active', 'submit', '--frames', frames, '--structures', str(structures), '--protocol', 'fast']
    )
    assert result.exit_code != 0 and "the structures hold ['Po']" in result.output
    zero = CliRunner().invoke(
        main,
        ['active', 'submit', '--frames', frames, '--structures', str(structures), '--dft-budget-frames', '0'],
    )
    assert zero.exit_code != 0 and 'the DFT budget must be positive' in zero.output
