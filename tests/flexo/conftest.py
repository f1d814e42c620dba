"""Shared fixtures of the flexo tests: small bulk cells and a linear Born-charge model that obeys the ASR."""

from __future__ import annotations

import numpy as np
import pytest

from aiida_flexo.flexo.structures import cubic_perovskite, diamond
from aiida_flexo.flexo.synthetic import perovskite_born_charges


@pytest.fixture
def bto():
    """Cubic BaTiO3, 5 atoms, a = 4 Å."""
    return cubic_perovskite(('Ba', 'Ti'), 4.0)


@pytest.fixture
def bto_born(bto):
    """Anisotropic perovskite Z* of ``bto`` (n, 3, 3) with the acoustic sum rule exact."""
    z = perovskite_born_charges(bto)
    return z - z.sum(axis=0) / len(z)


@pytest.fixture
def general_born(bto):
    """Z* per atom with off-diagonal parts (no symmetry), ASR exact: exercises every tensor index."""
    rng = np.random.default_rng(7)
    z = perovskite_born_charges(bto) + 0.4 * rng.normal(size=(len(bto), 3, 3))
    return z - z.sum(axis=0) / len(z)


@pytest.fixture
def si_primitive():
    return diamond('Si', 5.431, conventional=False)
