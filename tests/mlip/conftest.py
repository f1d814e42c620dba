"""Shared fixtures of the MLIP tests: one tiny Allegro model per test session (trained through the CLI)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms

from aiida_flexo.resources import bundled_path

#: frames of the bundled BaTiO3 set used to train the tiny model (6 train, 1 validation, 1 test)
N_TINY_FRAMES = 8
TINY_EPOCHS = 3


def cubic_batio3(a: float = 4.0, repeat: tuple[int, int, int] = (1, 1, 1)) -> Atoms:
    """The 5-atom cubic perovskite cell of BaTiO3 (Ba at the origin), repeated."""
    cell = Atoms(
        'BaTiO3',
        scaled_positions=[(0, 0, 0), (0.5, 0.5, 0.5), (0.5, 0.5, 0), (0.5, 0, 0.5), (0, 0.5, 0.5)],
        cell=np.eye(3) * a,
        pbc=True,
    )
    return cell.repeat(repeat)


@pytest.fixture(scope='session')
def bto_frames():
    from aiida_flexo.data import read_frames

    return read_frames(bundled_path('BaTiO3_qe_berry_bec.xyz'), index=f':{N_TINY_FRAMES}')


@pytest.fixture(scope='session')
def tiny_training(tmp_path_factory, bto_frames):
    """Train a tiny float64 Allegro model with ``aiida-flexo mlip train`` once; return (out_dir, data, metrics)."""
    from click.testing import CliRunner

    from aiida_flexo.cli.mlip import mlip
    from aiida_flexo.data import write_frames

    root = tmp_path_factory.mktemp('mlip')
    data = write_frames(root / 'frames.xyz', bto_frames)
    out = root / 'model'
    args = [
        'train',
        str(data),
        '--out',
        str(out),
        '--model-size',
        'tiny',
        '--dtype',
        'float64',
        '--epochs',
        str(TINY_EPOCHS),
        '--seed',
        '1',
        '--json',
    ]
    result = CliRunner().invoke(mlip, args)
    assert result.exit_code == 0, result.output + (str(result.exception) if result.exception else '')
    metrics = json.loads((out / 'metrics.json').read_text())
    return Path(out), Path(data), metrics


@pytest.fixture(scope='session')
def tiny_model(tiny_training) -> Path:
    return tiny_training[0] / 'model.nequip.zip'


@pytest.fixture(scope='session')
def tiny_calculator(tiny_model):
    from aiida_flexo.mlip import load_calculator

    return load_calculator(tiny_model)


@pytest.fixture(scope='session')
def make_bto():
    """Factory of cubic BaTiO3 cells: ``make_bto(a=4.0, repeat=(1, 1, 1))``."""
    return cubic_batio3
