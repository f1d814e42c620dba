"""Distillation: teacher-labelled MD and perturbed frames, the student trained on them, the report."""

from __future__ import annotations

import json

import numpy as np
import pytest
from ase.io import write
from click.testing import CliRunner

from aiida_flexo.cli.mlip import mlip
from aiida_flexo.data import read_frames
from aiida_flexo.mlip.calculator import predict
from aiida_flexo.mlip.distill import SamplingSettings, md_speed, teacher_frames

pytestmark = pytest.mark.slow


def test_teacher_frames_are_labelled_by_the_teacher(tiny_calculator, make_bto):
    structures = [make_bto(4.0, (2, 1, 1)), make_bto(4.05)]
    settings = SamplingSettings(
        temperatures=(300, 900), n_frames=10, stride=2, strain=0.03, displacement=0.04
    )
    sample = teacher_frames(structures, tiny_calculator, settings, teacher_name='tiny')
    summary = sample.summary()
    # half of the frames from MD (2 structures x 2 temperatures: one kept frame each), the rest perturbations;
    # each MD run equilibrates for one stride before its kept frames
    assert summary['n_md_frames'] == 4 and summary['n_perturbed_frames'] == 6
    assert summary['md_steps'] == 4 * (1 * 2 + 2)
    for frame in sample.frames:
        values = predict(tiny_calculator, frame)
        assert frame.info['energy'] == pytest.approx(values['energy'], abs=1e-8)
        np.testing.assert_allclose(frame.arrays['forces'], values['forces'], atol=1e-8)
        np.testing.assert_allclose(frame.info['stress'], values['stress'], atol=1e-10)
        assert frame.info['teacher'] == 'tiny'
    temperatures = {f.info['temperature_K'] for f in sample.frames if f.info['teacher_source'] == 'md'}
    assert temperatures == {300.0, 900.0}
    for frame in sample.frames:
        if frame.info['teacher_source'] == 'perturbation':
            assert np.abs(frame.info['strain']).max() <= 0.03 + 1e-12
            base = structures[frame.info['structure_index']]
            assert len(frame) == len(base)


def test_sampling_settings_are_checked():
    with pytest.raises(ValueError, match='temperatures'):
        SamplingSettings(temperatures=(0,))
    with pytest.raises(ValueError, match='strain'):
        SamplingSettings(strain=0.5)
    with pytest.raises(ValueError, match='unknown sampling'):
        SamplingSettings.from_dict({'frames': 10})


def test_distill_command_end_to_end(tiny_model, tiny_training, make_bto, tmp_path):
    structures = tmp_path / 'structures.xyz'
    write(structures, [make_bto(4.0, (2, 1, 1)), make_bto(3.98)], format='extxyz')
    out = tmp_path / 'student'
    args = [
        'distill', str(tiny_model), '--structures', str(structures), '--out', str(out), '--frames', '16',
        '--temperatures', '300,600', '--stride', '2', '--epochs', '2', '--model-size', 'tiny',
        '--dft', str(tiny_training[1]), '--speed-steps', '2', '--json',
    ]  # fmt: skip
    result = CliRunner().invoke(mlip, args)
    assert result.exit_code == 0, result.output
    report = json.loads((out / 'distill.json').read_text())
    assert report['sampling']['n_frames'] == 16
    assert len(read_frames(out / 'teacher_frames.xyz')) == 16
    for key in ('student_vs_teacher', 'student_vs_dft', 'teacher_vs_dft'):
        assert report[key]['force_mae_meV_A'] > 0
    assert report['distillation_loss_force_meV_A'] == pytest.approx(
        report['student_vs_dft']['force_mae_meV_A'] - report['teacher_vs_dft']['force_mae_meV_A']
    )
    assert (out / 'model.nequip.zip').is_file()
    speed = report['speed']
    assert speed['student']['n_atoms'] == 10 and speed['ratio'] == pytest.approx(
        speed['student']['atoms_per_second'] / speed['teacher']['atoms_per_second']
    )
    again = CliRunner().invoke(mlip, args)
    assert again.exit_code == 1 and 'already holds a distillation' in again.output


def test_md_speed(tiny_calculator, make_bto):
    speed = md_speed(tiny_calculator, make_bto(4.0, (2, 2, 2)), steps=2)
    assert speed['n_atoms'] == 40 and speed['atoms_per_second'] > 0
