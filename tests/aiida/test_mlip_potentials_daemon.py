"""The potential routes through the daemon: fine-tuning (flexo.mlip.train with from_potential), a relaxation with
the fine-tuned file, a committee whose relaxation records its uncertainty, and flexo.mlip.distill finding the
teacher's held-out DFT frames on its own."""

from __future__ import annotations

import numpy as np
import pytest

from aiida_flexo.resources import pto_sto_frame_paths

# heavy: in the production session when it runs (tools/test.sh --heavy-in-production), to balance the two sessions
pytestmark = [pytest.mark.aiida, pytest.mark.daemon, pytest.mark.slow, pytest.mark.heavy]

FRAME_INDICES = [0, 1, 2, 3, 4, 18, 19, 20, 30, 31, 32, 33]
OPTIONS = {'resources': {'num_machines': 1, 'num_mpiprocs_per_machine': 1}, 'max_wallclock_seconds': 1200}


@pytest.fixture(scope='module')
def pto_sto_node(aiida_profile):
    from aiida_flexo.data import read_frames
    from aiida_flexo.nodes.frames import FramesData

    frames = read_frames(pto_sto_frame_paths()[0])
    return FramesData.from_frames([frames[i] for i in FRAME_INDICES], source='bundled PbTiO3/SrTiO3').store()


@pytest.fixture(scope='module')
def finetuned_node(aiida_profile, pto_sto_node, flexo_code_module, submit_and_await_module):
    from aiida import orm
    from aiida.plugins import CalculationFactory

    node = submit_and_await_module(
        CalculationFactory('flexo.mlip.train'),
        timeout=900,
        code=flexo_code_module,
        frames=pto_sto_node,
        parameters=orm.Dict(
            {
                'from_potential': 'sevennet-0',
                'epochs': 1,
                'stress_weight': 0.0,
                'test_fraction': 0.2,
                'val_fraction': 0.2,
            }
        ),
        metadata={'options': OPTIONS, 'label': 'fine-tune SevenNet-0'},
    )
    assert node.is_finished_ok, (node.exit_status, node.exit_message)
    return node


def test_finetuning_calcjob(finetuned_node):
    model = finetuned_node.outputs.model
    assert model.filename == 'model.sevenn.pth'
    metrics = finetuned_node.outputs.metrics.get_dict()
    assert metrics['route'] == 'finetune' and metrics['energy_reference']['rank'] == 2
    assert set(finetuned_node.outputs.split.get_dict()['test'])


def test_relaxation_with_the_finetuned_file(
    finetuned_node, flexo_code_module, submit_and_await_module, make_bto
):
    from aiida import orm
    from aiida.plugins import WorkflowFactory

    from aiida_flexo.flexo.structures import cubic_perovskite

    atoms = cubic_perovskite(('Pb', 'Ti'), 3.95)
    atoms.positions[1, 2] += 0.1
    node = submit_and_await_module(
        WorkflowFactory('flexo.mlip.relax.base'),
        timeout=600,
        relax={
            'code': flexo_code_module,
            'structure': orm.StructureData(ase=atoms),
            'model': finetuned_node.outputs.model,
            'fix': orm.Str('Pb'),
            'parameters': orm.Dict({'fmax': 0.05, 'max_steps': 200}),
            'metadata': {'options': OPTIONS},
        },
    )
    assert node.is_finished_ok, (node.exit_status, node.exit_message)
    assert node.outputs.max_force.value <= 0.05
    calc = node.called[-1]
    assert calc.inputs.model.filename == 'model.sevenn.pth'


def test_committee_relaxation_stores_its_uncertainty(
    tiny_training, flexo_code_module, submit_and_await_module, make_bto
):
    from aiida import orm
    from aiida.plugins import CalculationFactory

    from aiida_flexo.data import read_frames
    from aiida_flexo.nodes.frames import FramesData

    frames = FramesData.from_frames(read_frames(tiny_training[1]), source='tiny BaTiO3').store()
    train = submit_and_await_module(
        CalculationFactory('flexo.mlip.train'),
        timeout=900,
        code=flexo_code_module,
        frames=frames,
        parameters=orm.Dict({'committee': 2, 'model_size': 'tiny', 'epochs': 1, 'seed': 3}),
        metadata={'options': OPTIONS},
    )
    assert train.is_finished_ok, (train.exit_status, train.exit_message)
    assert train.outputs.model.filename == 'model.committee.zip'
    assert len(train.outputs.metrics['members']) == 2
    atoms = make_bto(4.0, (1, 1, 2))
    atoms.rattle(0.05, seed=2)
    relax = submit_and_await_module(
        CalculationFactory('flexo.mlip.relax'),
        timeout=600,
        code=flexo_code_module,
        structure=orm.StructureData(ase=atoms),
        model=train.outputs.model,
        parameters=orm.Dict({'fmax': 0.5, 'max_steps': 5}),
        metadata={'options': OPTIONS},
    )
    assert relax.exit_status in (0, 403), relax.exit_message
    trajectory = relax.outputs.trajectory
    deviation = trajectory.get_array('force_std_max_meV_A')
    assert len(deviation) == trajectory.numsteps and np.all(deviation > 0)
    assert relax.outputs.summary['uncertainty']['force_std_max_meV_A'] == pytest.approx(deviation[-1])


def test_distillation_workchain_uses_the_teachers_test_frames(
    finetuned_node, pto_sto_node, flexo_code_module, submit_and_await_module
):
    from aiida import orm
    from aiida.plugins import WorkflowFactory

    from aiida_flexo.calcjobs.functions.frames import structures_to_frames
    from aiida_flexo.flexo.structures import cubic_perovskite

    structures = structures_to_frames(
        pto=orm.StructureData(ase=cubic_perovskite(('Pb', 'Ti'), 3.95)),
        sto=orm.StructureData(ase=cubic_perovskite(('Sr', 'Ti'), 3.94)),
    )
    node = submit_and_await_module(
        WorkflowFactory('flexo.mlip.distill'),
        timeout=1200,
        sample={
            'code': flexo_code_module,
            'model': finetuned_node.outputs.model,
            'structures': structures,
            'parameters': orm.Dict({'n_frames': 8, 'temperatures': [300.0], 'stride': 2}),
            'metadata': {'options': OPTIONS},
        },
        student={
            'code': flexo_code_module,
            'parameters': orm.Dict({'model_size': 'tiny', 'epochs': 1, 'stress_weight': 0.0}),
            'metadata': {'options': OPTIONS},
        },
    )
    assert node.is_finished_ok, (node.exit_status, node.exit_message)
    report = node.outputs.report.get_dict()
    assert report['sampling']['n_frames'] == 8
    assert report['student_vs_dft']['n_frames'] == len(finetuned_node.outputs.split['test'])
    assert report['teacher_vs_dft']['force_mae_meV_A'] > 0
    # provenance: student ← teacher frames ← teacher ← its DFT frames
    train = node.outputs.model.creator
    assert train.inputs.frames.uuid == node.outputs.teacher_frames.uuid
    sample = node.outputs.teacher_frames.creator
    assert sample.inputs.model.uuid == finetuned_node.outputs.model.uuid
    assert finetuned_node.outputs.model.creator.inputs.frames.uuid == pto_sto_node.uuid
    evals = [n for n in node.called if n.process_label == 'MlipEvalCalculation']
    assert {n.inputs.frames.uuid for n in evals} == {pto_sto_node.uuid}
