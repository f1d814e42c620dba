"""One definition per GNN training setting: the CLI, the CalcJob and the protocols all read it from the configs."""

from __future__ import annotations

import dataclasses

import click
import pytest

from aiida_flexo.cli.gnn import train_command
from aiida_flexo.gnn.config import GNNConfig, TrainConfig
from aiida_flexo.gnn.settings import OPTION_KEY, gnn_train_settings


def test_every_setting_is_an_option_of_the_cli_and_a_parameter_of_the_calcjob():
    from aiida_flexo.calcjobs.gnn import TRAIN_OPTIONS

    settings = gnn_train_settings()
    options = {param.name: param for param in train_command.params if isinstance(param, click.Option)}
    for name, setting in settings.items():
        assert options[name].opts == [setting.flag] and options[name].default is None
        assert setting.help in options[name].help
        assert TRAIN_OPTIONS[name] == setting.flag
        if setting.choices:
            assert list(options[name].type.choices) == list(setting.choices)
    assert set(TRAIN_OPTIONS) == set(settings)


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


@pytest.mark.parametrize('protocol', ['fast', 'moderate', 'precise'])
def test_the_protocols_gnn_keys_are_settings(protocol):
    from aiida_flexo.workflows.protocols import protocol_inputs

    gnn = protocol_inputs('pipeline', protocol)['gnn']
    settings = gnn_train_settings()
    assert set(gnn) <= set(settings), (
        f'unknown GNN settings in the {protocol} protocol: {set(gnn) - set(settings)}'
    )


def test_a_new_field_with_option_is_a_new_setting():
    from aiida_flexo.gnn import settings as module
    from aiida_flexo.gnn.settings import option

    @dataclasses.dataclass
    class Extended(TrainConfig):
        warmup_epochs: int = dataclasses.field(
            default=5, metadata=option('Epochs of linear learning-rate warm-up.')
        )

    found = {s.name: s for s in module._from_config(Extended, 'train')}
    assert found['warmup_epochs'].flag == '--warmup-epochs' and found['warmup_epochs'].default == 5
    assert found['warmup_epochs'].type is int
