"""How the pipeline chooses and passes on the potential route (builders and inputs, no process run)."""

from __future__ import annotations

import pytest

from aiida_flexo.gates import PHYSICAL_GATES
from aiida_flexo.mlip.route import DEFAULT_UNIVERSAL, FINETUNE_BELOW_FRAMES, choose_route

pytestmark = pytest.mark.aiida


def test_small_frame_sets_fine_tune_large_ones_train_allegro():
    assert choose_route(59) == DEFAULT_UNIVERSAL == 'sevennet-0'
    assert choose_route(FINETUNE_BELOW_FRAMES - 1) == 'sevennet-0'
    assert choose_route(FINETUNE_BELOW_FRAMES) is None


@pytest.mark.parametrize('protocol', ['fast', 'moderate', 'precise'])
def test_protocols_set_the_route_the_distillation_and_the_tolerance_check(
    aiida_profile, flexo_code, protocol
):
    from aiida import orm

    from aiida_flexo.flexo.structures import builtin
    from aiida_flexo.workflows.pipeline import FlexoPipelineWorkChain

    builder = FlexoPipelineWorkChain.get_builder_from_protocol(
        flexo_code, orm.StructureData(ase=builtin('BaTiO3')), protocol=protocol
    )
    assert builder.potential_route.value == 'auto' and builder.distill.value is False
    assert builder.flexo.check_fmax.value is (protocol != 'fast')
    assert 'max_time' in builder.mlip.parameters.get_dict()
    # the DFT check of the final structures is on; its ratio threshold tightens with the protocol
    assert builder.verification.value is True and builder.label.engine.value == 'gpaw'
    expected = {'fast': {}, 'moderate': {'max_ratio': 3.0}, 'precise': {'max_ratio': 2.0}}[protocol]
    assert builder.verify.thresholds.get_dict() == expected
    # accuracy gates on the held-out errors: physical in fast, tighter with the protocol
    gates = builder.thresholds.get_dict()
    assert (
        gates == PHYSICAL_GATES
        if protocol == 'fast'
        else all(gates[k] <= v for k, v in PHYSICAL_GATES.items())
    )
    custom = FlexoPipelineWorkChain.get_builder_from_protocol(
        flexo_code,
        orm.StructureData(ase=builtin('BaTiO3')),
        protocol=protocol,
        overrides={'potential_route': 'chgnet-0.3.0', 'distill': True, 'distill_sample': {'n_frames': 50}},
    )
    assert custom.potential_route.value == 'chgnet-0.3.0' and custom.distill.value is True
    assert custom.distill_sample.parameters.get_dict() == {'n_frames': 50}


def test_unknown_routes_are_refused(aiida_profile, flexo_code):
    from aiida import orm

    from aiida_flexo.workflows.pipeline import FlexoPipelineWorkChain

    spec = FlexoPipelineWorkChain.spec().inputs['potential_route']
    assert spec.validator(orm.Str('mace-mp-0'), None).startswith("potential_route 'mace-mp-0'")
    assert spec.validator(orm.Str('allegro'), None) is None
    assert spec.validator(orm.Str('sevennet-l3i5'), None) is None


def test_verification_without_dft_inputs_stops_before_any_work(aiida_profile, flexo_code):
    from aiida import orm
    from aiida.engine import run_get_node

    from aiida_flexo.data import read_frames
    from aiida_flexo.flexo.structures import builtin
    from aiida_flexo.nodes.frames import FramesData
    from aiida_flexo.resources import bundled_path
    from aiida_flexo.workflows.pipeline import FlexoPipelineWorkChain

    frames = FramesData.from_frames(
        read_frames(bundled_path('BaTiO3_qe_berry_bec.xyz'), index=':4'), source='t'
    )
    builder = FlexoPipelineWorkChain.get_builder_from_protocol(
        flexo_code, orm.StructureData(ase=builtin('BaTiO3')), protocol='fast', frames=frames.store()
    )
    del builder.label
    _, node = run_get_node(builder)
    assert node.exit_status == 408 and 'label.engine_inputs' in node.exit_message
    assert not node.called


def test_vasp_pipelines_sample_with_vasp_aimd(aiida_profile, flexo_code):
    """engine vasp: the sampling's MD is VASP AIMD with the labelling code and POTCAR family."""
    from aiida import orm

    from aiida_flexo.flexo.structures import builtin
    from aiida_flexo.workflows.pipeline import FlexoPipelineWorkChain

    builder = FlexoPipelineWorkChain.get_builder_from_protocol(
        flexo_code,  # stands in for the VASP code: the builder only records it
        orm.StructureData(ase=builtin('BaTiO3')),
        protocol='fast',
        engine='vasp',
        dft_code=flexo_code,
        potential_family='PBE.64',
    )
    assert builder.sampling.sampler.value == 'vasp' and builder.sampling.temperatures.get_list()
    assert builder.sampling.vasp.code.uuid == flexo_code.uuid
    assert builder.sampling.vasp.potential_family.value == 'PBE.64'
    assert builder.label.vasp.potential_family.value == 'PBE.64'


@pytest.mark.parametrize('with_born_charges', [True, False])
def test_gnn_trains_on_dipoles_alone_when_the_frames_have_no_born_charges(
    aiida_profile, flexo_code, with_born_charges
):
    """Si-like frames (dipoles, no Born charges): the protocol's bec_weight 1 would make the training refuse them,
    so the pipeline turns the Born-charge loss off and says so; frames with Born charges keep it."""
    from aiida import orm
    from aiida.engine.utils import instantiate_process
    from aiida.manage import get_manager

    from aiida_flexo.flexo.structures import builtin
    from aiida_flexo.flexo.synthetic import linear_response_frames, perovskite_born_charges
    from aiida_flexo.nodes.frames import FramesData
    from aiida_flexo.workflows.pipeline import FlexoPipelineWorkChain

    bulk = builtin('BaTiO3')
    z = perovskite_born_charges(bulk)
    frames = linear_response_frames(bulk, z - z.mean(axis=0), 4, seed=0)
    if not with_born_charges:
        for atoms in frames:
            atoms.arrays.pop('born_charges', None)
    node = FramesData.from_frames(frames, source='test').store()
    assert ('born_charges' in node.labels) is with_born_charges
    builder = FlexoPipelineWorkChain.get_builder_from_protocol(
        flexo_code,
        orm.StructureData(ase=bulk),
        protocol='fast',
        frames=node,
        overrides={'verify': {'enabled': False}},
    )
    assert builder.gnn.parameters['bec_weight'] == 1.0
    process = instantiate_process(
        get_manager().get_runner(), FlexoPipelineWorkChain, **builder._inputs(prune=True)
    )
    process.ctx.frames = node
    parameters = process.gnn_parameters(builder.gnn.parameters)
    if with_born_charges:
        assert parameters is None  # unchanged
    else:
        assert parameters['bec_weight'] == 0.0
        assert parameters['epochs'] == builder.gnn.parameters['epochs']
