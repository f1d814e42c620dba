"""One protocol system: the WorkChains' YAML files and the DFT engines' numbers are read by one loader, overrides are
checked against the file, and parents take their children's builders."""

from __future__ import annotations

import pytest

from aiida_flexo.protocols import inputs_of, known_keys, load_protocol_file


def test_the_engine_numbers_come_from_the_engine_protocol_file():
    from aiida_flexo.engines.inputs import PROTOCOLS
    from aiida_flexo.engines.vasp import VASP_PROTOCOLS

    data = load_protocol_file('aiida_flexo.engines.protocols', 'engine')
    assert set(PROTOCOLS) == set(VASP_PROTOCOLS) == {'fast', 'moderate', 'precise'}
    for name in PROTOCOLS:
        assert PROTOCOLS[name]['cutoff'] == data['protocols'][name]['cutoff']
        assert VASP_PROTOCOLS[name] == data['protocols'][name]['vasp']
    # tighter with the protocol: cutoff, k-point density and SCF tolerance
    fast, moderate, precise = (PROTOCOLS[n] for n in ('fast', 'moderate', 'precise'))
    assert fast['cutoff'] < moderate['cutoff'] < precise['cutoff']
    assert fast['kpoint_density'] < moderate['kpoint_density'] < precise['kpoint_density']
    assert precise['scf_energy_tolerance'] < fast['scf_energy_tolerance']
    assert 'vasp' not in fast and 'description' not in fast


def test_an_unknown_override_is_refused_with_the_known_keys():
    from aiida_flexo.workflows.protocols import protocol_inputs

    with pytest.raises(ValueError, match=r"unknown protocol override\(s\) \['mlp'\].*'mlip'"):
        protocol_inputs('pipeline', 'fast', {'mlp': {'epochs': 3}})
    with pytest.raises(ValueError, match='unknown protocol "quick"'):
        protocol_inputs('pipeline', 'quick')
    merged = protocol_inputs('pipeline', 'fast', {'mlip': {'epochs': 3}})
    assert merged['mlip']['epochs'] == 3 and merged['mlip']['model_size'] == 'tiny'  # merged key by key


@pytest.mark.parametrize('name', ['pipeline', 'label', 'sampling', 'flexo_coefficient', 'active', 'textures'])
def test_every_protocol_of_every_workflow_reads(name):
    from aiida_flexo.workflows.protocols import load_protocol_file as workflow_file

    data = workflow_file(name)
    assert data['default_protocol'] in data['protocols']
    for protocol in data['protocols']:
        inputs = inputs_of(data, protocol)
        assert not {'description', 'cost', 'accuracy'} & set(inputs)
        assert set(inputs) <= known_keys(data)


def test_the_pipeline_takes_the_coefficient_workchains_own_builder(aiida_profile, flexo_code):
    from aiida import orm

    from aiida_flexo.flexo.structures import builtin
    from aiida_flexo.workflows.flexo_coefficient import FlexoCoefficientWorkChain
    from aiida_flexo.workflows.pipeline import FlexoPipelineWorkChain

    pipeline = FlexoPipelineWorkChain.get_builder_from_protocol(
        flexo_code,
        orm.StructureData(ase=builtin('BaTiO3')),
        protocol='fast',
        overrides={'flexo_protocol': 'precise'},
    )
    own = FlexoCoefficientWorkChain.get_builder_from_protocol(
        flexo_code, None, None, protocol='precise', relax=True
    )
    assert pipeline.flexo.supercell.get_dict() == own.supercell.get_dict()
    assert pipeline.flexo.relax.relax.parameters.get_dict() == own.relax.relax.parameters.get_dict()
    assert pipeline.flexo.check_fmax.value == own.check_fmax.value


def test_an_override_may_name_a_childs_namespace(aiida_profile):
    from aiida_flexo.workflows.pipeline import FlexoPipelineWorkChain

    inputs = FlexoPipelineWorkChain.get_protocol_inputs('fast', {'flexo': {'supercell': {'repeat': 6}}})
    assert inputs['flexo'] == {'supercell': {'repeat': 6}}  # passed on to flexo.coefficient's own protocol
    with pytest.raises(ValueError, match=r"\['flexoo'\] for FlexoPipelineWorkChain"):
        FlexoPipelineWorkChain.get_protocol_inputs('fast', {'flexoo': {}})
