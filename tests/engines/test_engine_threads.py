"""One BLAS thread per DFT process: the run-time limit and its restoration."""

import os

import numpy as np
import pytest

from aiida_flexo.engines.threads import blas_threads, loaded_openblas, single_threaded_blas


def test_single_threaded_blas_sets_and_restores():
    np.dot(np.ones((4, 4)), np.ones((4, 4)))  # numpy's OpenBLAS is loaded
    before = blas_threads()
    if not before:
        pytest.skip(f'no OpenBLAS with a thread setter loaded here ({loaded_openblas()})')
    env_before = os.environ.get('OPENBLAS_NUM_THREADS')
    with single_threaded_blas() as inside:
        assert inside and set(inside.values()) == {1}
        assert os.environ['OPENBLAS_NUM_THREADS'] == '1'
    assert blas_threads() == before
    assert os.environ.get('OPENBLAS_NUM_THREADS') == env_before
