"""Per-element reference energies: exact recovery where the compositions fix them, a common shift where not."""

from __future__ import annotations

import numpy as np
import pytest

from aiida_flexo.mlip.reference import fit_reference_energies

SPECIES = ('Ba', 'O', 'Sr', 'Ti')


def test_independent_compositions_recover_the_constants_exactly():
    rng = np.random.default_rng(0)
    counts = np.array([[1, 3, 0, 1], [0, 3, 1, 1], [2, 6, 1, 3], [1, 1, 0, 0], [0, 2, 0, 1]], dtype=float)
    delta = np.array([-1234.5, -432.1, -987.6, -1600.2])  # eV/atom, e.g. QE vs VASP pseudo-atoms
    model = rng.normal(-5.0, 1.0, len(counts)) * counts.sum(axis=1)
    fit = fit_reference_energies(counts, model + counts @ delta, model, SPECIES)
    assert fit.rank == 4
    np.testing.assert_allclose(fit.deltas, delta, atol=1e-8)
    assert fit.rmse_after_eV_atom < 1e-9 < fit.rmse_before_eV_atom
    assert 'fewer compositions' not in fit.as_dict()['note']


def test_one_composition_gives_one_common_shift_and_says_so():
    counts = np.tile([[27, 81, 0, 27]], (5, 1)).astype(float)
    noise = np.array([0.01, -0.02, 0.0, 0.015, -0.005])  # eV per frame: what fine-tuning still has to learn
    model = np.full(5, -1000.0)
    labels = model + 135 * (-739.7) + noise
    fit = fit_reference_energies(counts, labels, model, SPECIES)
    assert fit.rank == 1
    used = [d for s, d in zip(SPECIES, fit.deltas) if s != 'Sr']
    np.testing.assert_allclose(used, -739.7 + noise.mean() / 135, atol=1e-9)
    # the energies of that composition are reproduced up to the per-frame noise
    np.testing.assert_allclose(
        counts @ np.array(fit.deltas), labels - model - noise + noise.mean(), atol=1e-8
    )
    assert 'fewer compositions' in fit.as_dict()['note']


def test_bad_shapes_and_nan_are_refused():
    with pytest.raises(ValueError, match='n_frames, n_species'):
        fit_reference_energies(np.ones((2, 3)), [1.0, 2.0], [0.0, 0.0], SPECIES)
    with pytest.raises(ValueError, match='non-finite'):
        fit_reference_energies(np.ones((2, 4)), [1.0, np.nan], [0.0, 0.0], SPECIES)
