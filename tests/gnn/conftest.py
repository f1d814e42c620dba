"""Fixtures of the dipole-GNN tests: tiny float64 models and small BaTiO3 structures built in code."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ase import Atoms
from tiny_models import SPECIES, random_model, tiny_config  # noqa: F401 (used by the tests of this folder)

from aiida_flexo.data import read_frames
from aiida_flexo.resources import bundled_path


def batio3_cell(a: float = 4.0, c: float = 4.1, seed: int | None = None, amplitude: float = 0.08) -> Atoms:
    """A 5-atom BaTiO3 perovskite cell (smaller than the cutoff: several images of each neighbour)."""
    atoms = Atoms(
        'BaTiO3',
        scaled_positions=[[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]],
        cell=[a, a, c],
        pbc=True,
    )
    if seed is not None:
        atoms.positions += np.random.default_rng(seed).normal(scale=amplitude, size=(5, 3))
    return atoms


@pytest.fixture(scope='session')
def bto_frames():
    """The first six frames of the bundled BaTiO3 data (135 atoms each, dipoles and Born charges)."""
    return read_frames(bundled_path('BaTiO3_qe_berry_bec.xyz'), index=':6')


@pytest.fixture(autouse=True)
def _one_thread():
    """Tests run on shared cores: one torch thread is fastest and deterministic."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture
def make_model():
    """Factory of tiny random float64 models: ``make_model(seed=0, **config_overrides)``."""
    return random_model


@pytest.fixture
def make_config():
    """Factory of tiny float64 configs: ``make_config(**overrides)``."""
    return tiny_config


@pytest.fixture
def bto_cell():
    """Factory of 5-atom BaTiO3 cells: ``bto_cell(a=4.0, c=4.1, seed=None, amplitude=0.08)``."""
    return batio3_cell
