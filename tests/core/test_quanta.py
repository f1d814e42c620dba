"""Minimum-image folding over the lattice of polarization quanta (property tests on random triclinic cells)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from aiida_flexo.polarization import (
    closest_lattice_vector,
    half_quantum_margin,
    lattice_shift,
    minimum_image,
    minimum_image_batch,
    polarization_quanta,
    quantum_lattice,
)


def random_triclinic_cell(rng: np.random.Generator) -> np.ndarray:
    """A random, often strongly skewed, right-handed cell (Å)."""
    while True:
        cell = rng.normal(size=(3, 3)) * rng.uniform(2.0, 12.0) + np.eye(3) * rng.uniform(0.0, 6.0)
        # skew it further with a random unimodular shear, so that rounding fractional coordinates fails
        shear = np.eye(3, dtype=int)
        shear[0, 1], shear[1, 2] = rng.integers(-3, 4, size=2)
        cell = shear @ cell
        if abs(np.linalg.det(cell)) > 5.0:
            return cell


def brute_force_minimum(vector: np.ndarray, lattice: np.ndarray, bound: float) -> np.ndarray:
    """Minimum image by exhaustive search over every lattice vector that could beat ``bound`` (slow, obviously right).

    A candidate v = vector - n·lattice with |v| <= bound has |n_i - f_i| <= bound·|column i of lattice⁻¹|, where f
    are the fractional coordinates of ``vector``: every such n is tried.
    """
    inverse = np.linalg.inv(lattice)
    frac = vector @ inverse
    reach = bound * np.linalg.norm(inverse, axis=0)
    ranges = [range(int(np.floor(f - r)), int(np.ceil(f + r)) + 1) for f, r in zip(frac, reach)]
    n = np.array(list(itertools.product(*ranges)), dtype=float)
    candidates = vector - n @ lattice
    return candidates[np.argmin(np.linalg.norm(candidates, axis=1))]


@pytest.mark.parametrize('seed', range(40))
def test_minimum_image_is_minimal_and_shift_invariant(seed):
    rng = np.random.default_rng(seed)
    cell = random_triclinic_cell(rng)
    q = rng.choice([1.0, 2.0])
    lattice = quantum_lattice(cell, q)
    residual = rng.normal(size=3) * 3.0
    folded = minimum_image(residual, cell, q)
    # minimal: no lattice vector of quanta brings it closer to zero (exhaustive search)
    expected = brute_force_minimum(residual, lattice, bound=np.linalg.norm(folded) + 1e-9)
    assert np.linalg.norm(folded) == pytest.approx(np.linalg.norm(expected), abs=1e-9)
    # the difference is a lattice vector of quanta (integer coordinates)
    coords = np.linalg.solve(lattice.T, residual - folded)
    assert np.allclose(coords, np.rint(coords), atol=1e-8)
    # invariant under adding random lattice vectors of quanta, even large ones
    n = rng.integers(-20, 21, size=3)
    assert np.allclose(minimum_image(residual + n @ lattice, cell, q), folded, atol=1e-8)


def test_rounding_fractional_coordinates_is_not_enough():
    """A skewed cell where naive rounding gives a longer vector than the true minimum image."""
    cell = np.array([[1.0, 0.0, 0.0], [0.9, 0.3, 0.0], [0.0, 0.0, 1.0]])
    residual = np.array([0.21, 0.46, 0.0])
    naive = residual - np.rint(np.linalg.solve(cell.T, residual)) @ cell
    folded = minimum_image(residual, cell)
    assert np.allclose(naive, [-0.59, -0.14, 0.0]) and np.allclose(folded, [0.31, 0.16, 0.0])
    assert np.linalg.norm(folded) < np.linalg.norm(naive) - 0.1
    assert np.linalg.norm(folded) == pytest.approx(
        np.linalg.norm(brute_force_minimum(residual, cell, bound=1.0))
    )


def test_batch_and_shapes():
    rng = np.random.default_rng(7)
    cells = np.stack([random_triclinic_cell(rng) for _ in range(5)])
    residuals = rng.normal(size=(5, 3)) * 10
    batch = minimum_image_batch(residuals, cells, [1, 2, 1, 2, 1])
    for i in range(5):
        assert np.allclose(batch[i], minimum_image(residuals[i], cells[i], [1, 2, 1, 2, 1][i]))
    many = rng.normal(size=(4, 3)) * 10
    assert lattice_shift(many, cells[0]).shape == (4, 3)
    assert np.allclose(closest_lattice_vector(many, cells[0]), lattice_shift(many, cells[0]))


def test_polarization_quanta_of_cubic_perovskite():
    a = 4.0
    quanta = polarization_quanta(np.eye(3) * a)
    assert np.allclose(quanta, np.eye(3) / a**2)  # e·a/a³ in e/Å²


def test_half_quantum_is_flagged():
    cell = np.eye(3) * 5.43
    assert half_quantum_margin(np.array([0.5 * 5.43, 0.0, 0.0]), cell) == pytest.approx(0.0, abs=1e-12)
    assert half_quantum_margin(np.array([0.1, 0.0, 0.0]), cell) > 1.0


def test_bad_cells_are_rejected():
    with pytest.raises(ValueError, match='not periodic in 3D'):
        quantum_lattice(np.array([[1.0, 0, 0], [0, 1.0, 0], [0, 0, 0]]))
    with pytest.raises(ValueError, match='3×3'):
        quantum_lattice(np.eye(2))
    with pytest.raises(ValueError, match='charge_quantum'):
        quantum_lattice(np.eye(3), charge_quantum=0)
