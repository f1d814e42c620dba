"""flexo.textures.validate without a daemon: the command's output recorded as the CalcJob runs it (the analytic toy
perovskite in place of the models, tests/toy_perovskite.py), parsed by its parser; the command line the CalcJob
writes; the lines the flexo.textures report gives; the protocols' defaults."""

from __future__ import annotations

import json

import pytest
from test_mlip_parsers import _node_with, _record
from toy_perovskite import use_toy_models

pytestmark = [pytest.mark.aiida]

VALIDATE = 'aiida.calculations:flexo.textures.validate'


@pytest.fixture
def recorded(monkeypatch, tmp_path):
    """``aiida-flexo --status-file ... textures validate MLIP --dipole D --out validation.json --json`` in
    tmp_path with the toy models; the folder."""
    use_toy_models(monkeypatch, tmp_path, dipole_name='dipole_model.pt')
    status = _record(
        tmp_path,
        ['textures', 'validate', str(tmp_path / 'model.nequip.zip'), '--dipole', str(tmp_path / 'dipole_model.pt'),
         '--out', str(tmp_path / 'validation.json'), '--c-values', '4.1,4.3,4.5', '--heating', '300,600',
         '--heating-steps', '40', '--heating-size', '2'],
    )  # fmt: skip
    assert status == 0, (tmp_path / 'aiida.err').read_text()
    return tmp_path


def test_parser_stores_the_validation(flexo_code, recorded):
    from aiida_flexo.calcjobs.textures import TexturesValidateParser
    from aiida_flexo.workflows.textures import bulk_report

    node = _node_with(flexo_code, VALIDATE, recorded, ['validation.json'])
    parser = TexturesValidateParser(node)
    assert parser.parse().status == 0
    validation = parser.outputs.validation.get_dict()
    assert validation == json.loads((recorded / 'validation.json').read_text())
    assert validation['failed'] and validation['summary'].startswith('3/9 bulk checks')
    lines = bulk_report(validation)
    assert lines[0].startswith('bulk (model | GPAW (fast, PBE)): a_SrTiO3_A 3.93 | 3.95;')
    assert 'PbTiO3_cubic_minus_tetragonal_meV' in lines[0] and 'minimum inside the scan' in lines[0]
    assert lines[1] == f'bulk validation: {validation["summary"]}'
    assert lines[2].startswith('PbTiO3 heating (40 atoms, 40 steps each): 300 K: |P| ')
    assert '|⟨P⟩|' in lines[2] and 'experiment 763 K' in lines[2]


def test_parser_without_checks_is_an_error(flexo_code, tmp_path):
    from aiida_flexo.calcjobs.textures import TexturesValidateParser

    (tmp_path / '_flexo_status.json').write_text(json.dumps({'exit_status': 0, 'message': ''}))
    (tmp_path / 'aiida.out').write_text(json.dumps({'model': {}}))
    code = TexturesValidateParser(_node_with(flexo_code, VALIDATE, tmp_path, [])).parse()
    assert code.status == 301 and 'no checks' in code.message


def test_command_line_and_inputs(flexo_code, tmp_path):
    from aiida import orm
    from aiida.common.folders import Folder
    from aiida.engine.utils import instantiate_process
    from aiida.manage import get_manager

    from aiida_flexo.calcjobs.textures import TexturesValidateCalculation

    mlip = orm.SinglefileData.from_string('m', filename='model.nequip.zip').store()
    dipole = orm.SinglefileData.from_string('d', filename='model.pt').store()
    process = instantiate_process(
        get_manager().get_runner(),
        TexturesValidateCalculation,
        code=flexo_code,
        model=mlip,
        dipole_model=dipole,
        c_values=orm.List([4.0, 4.4, 4.8]),
        heating=orm.Dict({'temperatures': [300, 900], 'steps': 500}),
    )
    (tmp_path / 'sandbox').mkdir()
    calcinfo = process.prepare_for_submission(Folder(str(tmp_path / 'sandbox')))
    assert calcinfo.codes_info[0].cmdline_params == [
        '--status-file', '_flexo_status.json', 'textures', 'validate', 'model.nequip.zip', '--dipole',
        'dipole_model.pt', '--c-values', '4,4.4,4.8', '--heating', '300,900', '--heating-steps', '500', '--out',
        'validation.json', '--json',
    ]  # fmt: skip
    assert sorted(target for _, _, target in calcinfo.local_copy_list) == [
        'dipole_model.pt',
        'model.nequip.zip',
    ]
    assert 'validation.json' in calcinfo.retrieve_list
    builder = TexturesValidateCalculation.get_builder()
    with pytest.raises(ValueError, match='at least 3 positive lengths'):
        builder.c_values = orm.List([4.0, 4.4])
    with pytest.raises(ValueError, match='rising'):
        builder.heating = orm.Dict({'temperatures': [900, 300]})
    with pytest.raises(ValueError, match='unknown keys'):
        builder.heating = orm.Dict({'temperatures': [300, 900], 'stpes': 10})


def test_protocols_require_a_valid_bulk_except_fast(flexo_code):
    from aiida import orm

    from aiida_flexo.workflows.textures import TextureWorkChain

    model = orm.SinglefileData.from_string('m', filename='model.pt')
    for protocol, required in (('fast', False), ('moderate', True), ('precise', True)):
        builder = TextureWorkChain.get_builder_from_protocol(flexo_code, model, model, protocol=protocol)
        assert builder.bulk_validation.value is True
        assert builder.require_bulk_valid.value is required
        assert ('bulk_heating' in builder) is required  # the fast protocol runs no heating
    assert builder.bulk_heating['size'] == 4 and builder.bulk_heating['temperatures'][-1] == 1300


def test_workchain_gives_the_validation_only_the_scheduler_options(flexo_code):
    """The exposed predict options carry flexo.gnn.predict's parser: the validation must not inherit it (it did,
    and its output was parsed as a prediction: exit 302, predictions.xyz missing)."""
    from aiida import orm

    from aiida_flexo.calcjobs.textures import TexturesValidateCalculation
    from aiida_flexo.workflows.textures import bulk_validation_inputs

    model = orm.SinglefileData.from_string('m', filename='model.nequip.zip')
    dipole = orm.SinglefileData.from_string('d', filename='model.pt')
    options = {
        'parser_name': 'flexo.gnn.predict',
        'resources': {'num_machines': 1},
        'max_wallclock_seconds': 60,
    }
    heating = orm.Dict({'temperatures': [300, 900]})
    inputs = bulk_validation_inputs(
        {'code': flexo_code, 'metadata': {'options': options}}, model, dipole, heating
    )
    assert inputs['metadata']['options'] == {'resources': {'num_machines': 1}, 'max_wallclock_seconds': 60}
    assert inputs['heating'] is heating and inputs['model'] is model and inputs['code'] is flexo_code
    builder = TexturesValidateCalculation.get_builder()
    builder.metadata.options = inputs['metadata']['options']
    assert builder.metadata.options.parser_name == 'flexo.textures.validate'
    assert 'heating' not in bulk_validation_inputs({'code': flexo_code}, model, dipole)
