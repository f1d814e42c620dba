"""One definition per GNN training setting: the CLI, the CalcJob and the protocols all read it from the configs."""

from __future__ import annotations

import dataclasses

import click
import pytest

from aiida_flexo.cli.gnn import train_command
from aiida_flexo.gnn.config import GNNConfig, TrainConfig
from aiida_flexo.gnn.settings import gnn_train_settings
from aiida_flexo.settings import OPTION_KEY, option, settings_of, to_arguments


def test_every_setting_is_an_option_of_the_cli_and_a_parameter_of_the_calcjob():
    from aiida_flexo.calcjobs.gnn import TRAIN_SETTINGS

    settings = gnn_train_settings()
    options = {param.name: param for param in train_command.params if isinstance(param, click.Option)}
    for name, setting in settings.items():
        assert options[name].opts == [setting.flag] and options[name].default is None
        assert setting.help in options[name].help
        if setting.choices:
            assert list(options[name].type.choices) == list(setting.choices)
    assert set(TRAIN_SETTINGS()) == set(settings)


def test_defaults_come_from_the_configs():
    settings = gnn_train_settings()
    assert settings['epochs'].default == TrainConfig().epochs
    assert settings['cutoff'].default == GNNConfig().cutoff
    marked = {
        f.name
        for cls in (TrainConfig, GNNConfig)
        for f in dataclasses.fields(cls)
        if OPTION_KEY in f.metadata
    }
    assert marked <= set(settings)
    assert '[default: 600]' in next(p.help for p in train_command.params if p.name == 'epochs')
    assert '[default: no limit]' in next(p.help for p in train_command.params if p.name == 'max_time')


@pytest.mark.parametrize('protocol', ['fast', 'moderate', 'precise'])
def test_the_protocols_gnn_keys_are_settings(protocol):
    from aiida_flexo.workflows.protocols import protocol_inputs

    gnn = protocol_inputs('pipeline', protocol)['gnn']
    settings = gnn_train_settings()
    assert set(gnn) <= set(settings), (
        f'unknown GNN settings in the {protocol} protocol: {set(gnn) - set(settings)}'
    )


def test_a_new_field_with_option_is_a_new_setting():
    @dataclasses.dataclass
    class Extended(TrainConfig):
        warmup_epochs: int = dataclasses.field(
            default=5, metadata=option('Epochs of linear learning-rate warm-up.')
        )

    found = {s.name: s for s in settings_of(Extended, 'train')}
    assert found['warmup_epochs'].flag == '--warmup-epochs' and found['warmup_epochs'].default == 5
    assert found['warmup_epochs'].type is int


def test_durations_and_choices_are_parsed_once_for_cli_and_calcjob():
    settings = gnn_train_settings()
    assert settings['max_time'].parse('2h') == 7200.0 and settings['max_time'].parse(90) == 90.0
    assert settings['dtype'].parse('FLOAT64') == 'float64'
    with pytest.raises(ValueError, match='max_time'):
        settings['max_time'].parse('two hours')
    with pytest.raises(ValueError, match=r'epochs \(--epochs\): expected a whole number'):
        settings['epochs'].parse(2.5)
    with pytest.raises(ValueError, match="unknown parameters \\['epoch'\\]"):
        to_arguments({'epoch': 3}, settings)
    assert to_arguments({'epochs': 3, 'max_time': '10m'}, settings) == ['--epochs', '3', '--max-time', '10m']
