"""Engine-neutral inputs: protocols, k-point meshes, JSON round trip and the GPAW native mapping (no GPAW needed)."""

import json

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from ase.calculators.calculator import kptdensity2monkhorstpack

from aiida_flexo.engines import PROTOCOLS, EngineInputs, InputsError, kpoint_mesh, register_engine, to_native
from aiida_flexo.engines.inputs import NATIVE_MAPPINGS


def batio3(a: float = 4.0) -> Atoms:
    positions = [(0, 0, 0), (0.5, 0.5, 0.5), (0.5, 0.5, 0), (0.5, 0, 0.5), (0, 0.5, 0.5)]
    return Atoms('BaTiO3', scaled_positions=positions, cell=[a, a, a], pbc=True)


@pytest.mark.parametrize(('protocol', 'mesh'), [('fast', 4), ('moderate', 6), ('precise', 8)])
def test_protocol_meshes_for_cubic_batio3(protocol, mesh):
    inputs = EngineInputs(protocol=protocol)
    assert inputs.kpoint_mesh(batio3()) == [mesh] * 3
    assert inputs.setting('cutoff') == PROTOCOLS[protocol]['cutoff']


def test_kpoint_mesh_matches_ase_definition_and_scales_with_cell():
    si = bulk('Si', 'diamond', a=5.43)
    for density in (1.0, 2.5, 3.5, 5.0):
        expected = kptdensity2monkhorstpack(si, kptdensity=density, even=False)
        assert kpoint_mesh(si.cell[:], density) == list(expected)
    # a 2×1×1 supercell needs half the k-points along the doubled direction
    cell = np.diag([8.0, 4.0, 4.0])
    assert kpoint_mesh(cell, 3.5) == [3, 6, 6]


def test_explicit_values_override_the_protocol():
    inputs = EngineInputs(protocol='fast', cutoff=520.0, kpoints=[3, 2, 1], smearing_width=0.1)
    assert inputs.setting('cutoff') == 520.0
    assert inputs.setting('smearing_width') == 0.1
    assert inputs.setting('max_scf_iterations') == PROTOCOLS['fast']['max_scf_iterations']
    assert inputs.kpoint_mesh(batio3()) == [3, 2, 1]


def test_json_round_trip(tmp_path):
    inputs = EngineInputs(
        protocol='precise',
        berry_phase=True,
        born_charges={'enabled': True, 'atoms': [1, 2], 'directions': 'z', 'scheme': 'forward'},
        md={'steps': 5, 'temperature': 600.0, 'thermostat': 'nve'},
        engine_options={'gpaw': {'nbands': '120%'}},
    )
    path = inputs.to_json(tmp_path / 'input.json')
    again = EngineInputs.from_json(path)
    assert again == inputs
    assert again.born_charges.direction_indices == [2]
    assert json.loads(path.read_text())['md']['thermostat'] == 'nve'


@pytest.mark.parametrize(
    ('data', 'message'),
    [
        ({'protocol': 'ultra'}, 'unknown protocol'),
        ({'cutof': 400}, "unknown key(s) ['cutof']"),
        ({'born_charges': {'directions': 'xq'}}, 'directions'),
        ({'born_charges': {'scheme': 'backward'}}, 'scheme'),
        ({'born_charges': {'displacement': 0.5}}, 'displacement'),
        ({'md': {'thermostat': 'nose'}}, 'thermostat'),
        ({'md': {'steps': -1}}, 'md.steps'),
        ({'kpoints': [4, 4]}, 'kpoints'),
        ({'smearing': 'tetrahedron'}, 'smearing'),
        ({'cutoff': -10}, 'cutoff must be positive'),
    ],
)
def test_bad_inputs_name_the_field(data, message):
    with pytest.raises(
        InputsError, match=message.replace('(', r'\(').replace(')', r'\)').replace('[', r'\[')
    ):
        EngineInputs.from_dict(data)


def test_bad_json_file(tmp_path):
    path = tmp_path / 'input.json'
    path.write_text('{"protocol": ')
    with pytest.raises(InputsError, match='not valid JSON'):
        EngineInputs.from_json(path)
    with pytest.raises(InputsError, match='no such input file'):
        EngineInputs.from_json(tmp_path / 'missing.json')


def test_berry_phase_is_implied_by_born_charges():
    assert not EngineInputs().needs_berry_phase
    assert EngineInputs(berry_phase=True).needs_berry_phase
    assert EngineInputs(born_charges={'enabled': True}).needs_berry_phase


def test_gpaw_mapping_per_task():
    atoms = batio3()
    inputs = EngineInputs(
        protocol='moderate', smearing='gaussian', engine_options={'gpaw': {'nbands': '120%'}}
    )
    scf = to_native('gpaw', inputs, atoms, task='scf')
    assert scf['mode'] == {'name': 'pw', 'ecut': 600.0}
    assert scf['kpts'] == {'size': [6, 6, 6], 'gamma': False}  # Monkhorst-Pack unless gamma_centered
    assert scf['occupations'] == {'name': 'methfessel-paxton', 'order': 0, 'width': 0.02}
    assert scf['xc'] == 'PBE'
    assert scf['symmetry'] == 'on'
    assert scf['nbands'] == '120%'
    assert to_native('gpaw', inputs, atoms, task='berry_phase')['symmetry'] == 'off'
    assert to_native('gpaw', inputs, atoms, task='md')['symmetry'] == {'point_group': False}
    centred = EngineInputs(gamma_centered=True, kpoints=[3, 3, 2])
    assert to_native('gpaw', centred, atoms)['kpts'] == {'size': [3, 3, 2], 'gamma': True}
    json.dumps(scf)  # plain values only: storable as an AiiDA Dict


def test_gpaw_mapping_rejects_what_gpaw_cannot_run():
    atoms = batio3()
    with pytest.raises(InputsError, match='finite differences'):
        to_native('gpaw', EngineInputs(born_charges={'enabled': True, 'method': 'dfpt'}), atoms)
    with pytest.raises(InputsError, match='plane-wave mode only'):
        to_native('gpaw', EngineInputs(engine_options={'gpaw': {'mode': 'lcao'}}), atoms)
    with pytest.raises(InputsError, match='unknown task'):
        to_native('gpaw', EngineInputs(), atoms, task='phonons')


def test_engine_registry():
    with pytest.raises(InputsError, match="no native mapping for engine 'abinit'"):
        to_native('abinit', EngineInputs(), batio3())

    @register_engine('dummy')
    def dummy(inputs, atoms, *, task):
        return {'ENCUT': inputs.setting('cutoff'), 'task': task, 'natoms': len(atoms)}

    try:
        assert to_native('dummy', EngineInputs(protocol='fast'), batio3(), task='md') == {
            'ENCUT': 400.0,
            'task': 'md',
            'natoms': 5,
        }
    finally:
        NATIVE_MAPPINGS.pop('dummy')
