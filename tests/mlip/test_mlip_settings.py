"""One definition per potential setting (training, relaxation, MD, teacher frames, active selection): the
``mlip``/``active`` options, the CalcJob parameters and the protocols come from the config dataclasses."""

from __future__ import annotations

import click
import pytest

from aiida_flexo.active.score import SelectSettings, select_settings_table
from aiida_flexo.cli.active import select_command
from aiida_flexo.cli.mlip import distill_cmd, md_cmd, relax_cmd, sample_cmd, train_cmd
from aiida_flexo.mlip.config import TrainingSettings
from aiida_flexo.mlip.md import MDSettings, run_md
from aiida_flexo.mlip.relax import RelaxSettings, relax
from aiida_flexo.mlip.settings import (
    md_settings_table,
    relax_settings_table,
    sampling_settings_table,
    training_settings,
    training_settings_table,
)

COMMANDS = [
    (train_cmd, training_settings_table, ''),
    (relax_cmd, relax_settings_table, ''),
    (md_cmd, md_settings_table, ''),
    (sample_cmd, sampling_settings_table, 'sampling_'),
    (select_command, select_settings_table, ''),
]


@pytest.mark.parametrize(('command', 'table', 'prefix'), COMMANDS)
def test_every_setting_is_an_option_with_its_flag_help_and_default(command, table, prefix):
    options = {param.name: param for param in command.params if isinstance(param, click.Option)}
    for name, setting in table().items():
        option = options[prefix + name]
        assert option.opts == [setting.flag], name
        assert setting.help in option.help
        if setting.type is not bool:
            assert '[default:' in option.help


def test_the_distilled_student_takes_the_allegro_training_settings():
    options = {param.name for param in distill_cmd.params}
    assert {'student_epochs', 'student_model_size', 'student_cutoff', 'student_max_time'} <= options
    assert 'student_from_potential' not in options and 'sampling_seed' in options


def test_library_defaults_are_the_settings_defaults():
    import inspect

    relax_defaults = inspect.signature(relax).parameters
    for name in ('fmax', 'max_steps', 'optimizer', 'relax_cell', 'stall_steps'):
        assert relax_defaults[name].default == getattr(RelaxSettings(), name)
    md_defaults = inspect.signature(run_md).parameters
    for name in (
        'timestep_fs',
        'thermostat',
        'friction_per_fs',
        'tdamp_fs',
        'pressure_GPa',
        'pdamp_fs',
        'seed',
    ):
        assert md_defaults[name].default == getattr(MDSettings(), name)


def test_parameter_names_map_to_config_fields():
    table = training_settings_table()
    assert table['epochs'].attribute == 'max_epochs' and table['lr'].attribute == 'learning_rate'
    assert table['from_potential'].flag == '--from' and table['dtype'].choices == ('float32', 'float64')
    values = {name: table[name].parse(v) for name, v in {'epochs': 7, 'lr': 1e-4, 'max_time': '1h'}.items()}
    values['val_fraction'] = 0.2
    settings = training_settings(values)
    assert settings == TrainingSettings(
        max_epochs=7, learning_rate=1e-4, max_time=3600.0, fractions=(0.7, 0.2, 0.1)
    )
    with pytest.raises(ValueError, match='model size'):
        training_settings({'model_size': 'huge'})
    with pytest.raises(ValueError, match='leave frames for training'):
        training_settings({'val_fraction': 0.6, 'test_fraction': 0.5})


def test_sampling_temperatures_are_a_list_setting():
    table = sampling_settings_table()
    assert table['temperatures'].parse('300,600') == (300.0, 600.0)
    assert table['temperatures'].argument([300, 600]) == ['--temperatures', '300.0,600.0']
    assert table['n_frames'].flag == '--frames' and table['seed'].flag == '--sample-seed'


@pytest.mark.parametrize('protocol', ['fast', 'moderate', 'precise'])
def test_the_protocols_mlip_keys_are_settings(protocol):
    from aiida_flexo.workflows.protocols import protocol_inputs

    mlip = protocol_inputs('pipeline', protocol)['mlip']
    assert set(mlip) <= set(training_settings_table()), set(mlip) - set(training_settings_table())
    select = protocol_inputs('active', protocol).get('select', {})
    SelectSettings(**select)


def test_calcjob_port_validators_check_names_types_and_values():
    from aiida import orm

    from aiida_flexo.calcjobs.active import ActiveSelectCalculation
    from aiida_flexo.calcjobs.mlip import MlipMdCalculation, MlipRelaxCalculation, MlipTrainCalculation

    def error(process, parameters):
        return process.spec().inputs['parameters'].validator(orm.Dict(parameters), None)

    assert error(MlipTrainCalculation, {'epochs': 3, 'model_size': 'tiny', 'max_time': '5m'}) is None
    assert 'unknown parameters' in error(MlipTrainCalculation, {'max_epochs': 3})
    assert 'is not one of tiny, small, medium' in error(MlipTrainCalculation, {'model_size': 'huge'})
    assert 'nothing to train on' in error(MlipTrainCalculation, {'energy_weight': 0, 'force_weight': 0.0})
    assert 'whole number' in error(MlipRelaxCalculation, {'max_steps': 2.5})
    assert 'is not one of' in error(MlipMdCalculation, {'thermostat': 'berendsen'})
    assert 'force_ceiling' in error(ActiveSelectCalculation, {'force_ceiling': 10.0, 'force_floor': 50.0})
