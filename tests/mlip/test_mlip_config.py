"""Training config of nequip 0.19 / Allegro 0.8 built from labelled frames (no training here)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import yaml

from aiida_flexo.data import FramesError, Split, read_frames
from aiida_flexo.mlip.config import MODEL_SIZES, TrainingSettings, _max_time, prepare_training
from aiida_flexo.mlip.train import learning_curve


def test_config_from_frames(tmp_path, bto_frames):
    settings = TrainingSettings(
        model_size='tiny',
        cutoff=4.5,
        seed=3,
        energy_weight=4.0,
        force_weight=1.0,
        stress_weight=9.0,
        max_epochs=7,
        max_time=3725,
    )
    prepared = prepare_training(bto_frames, tmp_path, settings)
    config = yaml.safe_load(prepared.config_path.read_text())
    assert config['model_type_names'] == ['Ba', 'O', 'Ti']
    model = config['training_module']['model']
    assert model['_target_'] == 'allegro.model.AllegroModel'
    assert model['type_names'] == ['Ba', 'O', 'Ti']
    assert model['r_max'] == 4.5 and model['seed'] == 3
    assert model['num_scalar_features'] == MODEL_SIZES['tiny']['num_scalar_features']
    assert model['per_type_energy_shifts'] == '${training_data_stats:per_atom_energy_mean}'
    loss = config['training_module']['loss']
    assert loss['_target_'] == 'nequip.train.EnergyForceStressLoss' and loss['per_atom_energy'] is True
    assert loss['coeffs'] == {'total_energy': 4.0, 'forces': 1.0, 'stress': 9.0}
    coeffs = config['training_module']['val_metrics']['coeffs']
    assert coeffs == {'per_atom_energy_mae': 2.0, 'forces_mae': 1.0, 'stress_mae': 3.0}
    assert config['trainer']['max_epochs'] == 7
    assert config['trainer']['max_time'] == '00:01:02:05'
    transforms = config['data']['transforms']
    assert transforms[0]['chemical_species_to_atom_type_map'] == {'Ba': 'Ba', 'O': 'O', 'Ti': 'Ti'}
    assert transforms[1]['r_max'] == 4.5
    assert '&id' not in prepared.config_path.read_text()  # no YAML anchors

    split = Split.from_json(tmp_path / 'split.json')
    assert (len(split.train), len(split.val), len(split.test)) == (6, 1, 1)
    assert sorted(split.train + split.val + split.test) == list(range(8))
    train = read_frames(tmp_path / 'train.xyz')
    assert len(train) == 6
    assert np.array_equal(train[0].positions, bto_frames[split.train[0]].positions)
    assert set(train[0].info) == {'energy', 'stress'} and 'born_charges' not in train[0].arrays


def test_nequip_reads_our_labels(tmp_path, bto_frames):
    """energy -> total_energy, forces, 9-number stress -> 3×3 stress, bit for bit, and no other label."""
    from ase.io import read
    from nequip.data import from_ase

    from aiida_flexo.mlip.calculator import float64_default

    prepare_training(bto_frames, tmp_path, TrainingSettings(model_size='tiny'))
    split = Split.from_json(tmp_path / 'split.json')
    atoms = read(tmp_path / 'val.xyz', index=0)
    with float64_default():  # as in nequip-train (nequip's global state)
        data = from_ase(atoms)
    ref = bto_frames[split.val[0]]
    assert float(data['total_energy'].reshape(())) == pytest.approx(ref.info['energy'], rel=1e-12)
    assert np.array_equal(data['forces'].numpy(), ref.arrays['forces'])
    assert np.array_equal(data['stress'].numpy().reshape(3, 3), ref.info['stress'])
    assert 'dipole' not in data and 'born_charges' not in data


def test_without_stress(tmp_path, bto_frames):
    frames = [a.copy() for a in bto_frames]
    del frames[2].info['stress']
    with pytest.raises(FramesError, match='stress.*stress weight 0'):
        prepare_training(frames, tmp_path / 'a', TrainingSettings(model_size='tiny'))
    prepared = prepare_training(frames, tmp_path / 'b', TrainingSettings(model_size='tiny', stress_weight=0))
    assert prepared.config['training_module']['loss']['_target_'] == 'nequip.train.EnergyForceLoss'
    assert 'stress' not in prepared.config['training_module']['loss']['coeffs']


def test_bad_inputs(tmp_path, bto_frames):
    with pytest.raises(ValueError, match='unknown model size'):
        TrainingSettings(model_size='huge')
    with pytest.raises(ValueError, match='cutoff'):
        TrainingSettings(cutoff=0)
    with pytest.raises(ValueError, match='nothing to train'):
        TrainingSettings(energy_weight=0, force_weight=0)
    with pytest.raises(ValueError, match='split fractions'):
        TrainingSettings(fractions=(0.9, 0.0, 0.1))
    with pytest.raises(ValueError, match=r"unknown training setting\(s\) \['epochs'\]"):
        TrainingSettings.from_dict({'epochs': 3})
    settings = TrainingSettings.from_dict({'max_epochs': 3, 'fractions': [0.7, 0.2, 0.1]})
    assert (
        settings.fractions == (0.7, 0.2, 0.1) and TrainingSettings.from_dict(settings.as_dict()) == settings
    )
    with pytest.raises(FramesError, match='at least 3'):
        prepare_training(bto_frames[:2], tmp_path, TrainingSettings())
    frames = [a.copy() for a in bto_frames]
    del frames[1].arrays['forces']
    with pytest.raises(FramesError, match='frame 1: missing label "forces"'):
        prepare_training(frames, tmp_path, TrainingSettings())


def test_max_time_and_duration():
    from aiida_flexo.units import parse_duration

    assert _max_time(90061) == '01:01:01:01'
    assert _max_time(0.2) == '00:00:00:01'
    assert parse_duration('45m') == 2700 and parse_duration('2h') == 7200 and parse_duration('90') == 90
    assert parse_duration('01:00:30') == 3630 and parse_duration(None) is None
    with pytest.raises(ValueError):
        parse_duration('soon')


def test_learning_curve_from_lightning_csv(tmp_path):
    columns = [
        'epoch',
        'lr-Adam',
        'step',
        'train_loss_epoch/weighted_sum',
        'val0_epoch/forces_mae',
        'val0_epoch/per_atom_energy_mae',
        'val0_epoch/stress_mae',
        'val0_epoch/weighted_sum',
    ]
    rows = [
        ['', '0.001', '0', '', '', '', '', ''],
        ['0', '', '1', '', '0.5', '0.002', '0.01', '0.4'],
        ['0', '', '1', '0.6', '', '', '', ''],
        ['', '0.0005', '2', '', '', '', '', ''],
        ['1', '', '3', '', '0.25', '0.001', '0.005', '0.2'],
        ['1', '', '3', '0.3', '', '', '', ''],
    ]
    path = tmp_path / 'metrics.csv'
    path.write_text('\n'.join(','.join(r) for r in [columns, *rows]) + '\n')
    curve = learning_curve(path)
    assert [row['epoch'] for row in curve] == [0, 1]
    assert curve[0]['learning_rate'] == 0.001 and curve[1]['learning_rate'] == 0.0005
    assert curve[1]['val_force_mae_meV_A'] == pytest.approx(250.0)
    assert curve[1]['val_energy_mae_meV_atom'] == pytest.approx(1.0)
    assert curve[1]['val_stress_mae_GPa'] == pytest.approx(0.005 * 160.21766339999996)
    assert curve[0]['train_loss'] == 0.6 and math.isclose(curve[1]['val_loss'], 0.2)
