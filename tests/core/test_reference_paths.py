"""The centrosymmetric reference of Berry-phase labels: paths from it, its half-quantum offset, labels put on the
branch continuous from it, and frames moved by cubic point operations."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms

from aiida_flexo import units
from aiida_flexo.data.symmetry import CUBIC_OPERATIONS, apply_point_operation
from aiida_flexo.polarization.reference import (
    align_to_references,
    centrosymmetric_offset,
    has_reference_frame,
    interpolate_path,
)


def perovskite(a: float = 4.0, c: float = 4.0, shift: float = 0.0) -> Atoms:
    atoms = Atoms(
        'BaTiO3',
        scaled_positions=[[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]],
        cell=[a, a, c],
        pbc=True,
    )
    atoms.positions[1, 2] += shift
    atoms.positions[2:, 2] -= shift
    return atoms


def test_interpolate_path_joins_reference_and_phase():
    reference, target = perovskite(), perovskite(3.99, 4.06, 0.1)
    target.positions[0] += target.cell[2]  # another image of Ba: the path takes the minimum-image step
    path = interpolate_path(reference, target, 5)
    assert [a.info['path_fraction'] for a in path] == [0.0, 0.25, 0.5, 0.75, 1.0]
    np.testing.assert_allclose(path[0].positions, reference.positions, atol=1e-12)
    np.testing.assert_allclose(path[-1].cell[:], target.cell[:], atol=1e-12)
    # fractional coordinates are interpolated: Ti at z = ½ (reference) and ½ + 0.1/4.06 (phase), c = 4.03 Å half-way
    expected = 0.5 * (0.5 + 0.5 + 0.1 / 4.06) * 4.03
    np.testing.assert_allclose(path[2].positions[1, 2] - path[2].positions[0, 2], expected, atol=1e-9)
    with pytest.raises(ValueError, match='same atoms in the same order'):
        interpolate_path(reference, Atoms('TiBaO3', positions=reference.positions, cell=reference.cell), 3)
    with pytest.raises(ValueError, match='at least 2 points'):
        interpolate_path(reference, target, 1)


def test_centrosymmetric_offset_is_a_half_quantum_vector():
    cell = np.diag([4.0, 4.0, 4.2])
    dipole = np.array([0.5, 3.0, -1.5]) * 2.0 * np.diag(cell)  # q = 2 e: ½, 0 and ½ of a quantum
    np.testing.assert_array_equal(centrosymmetric_offset(dipole, cell, 2.0), [0.5, 0.0, 0.5])
    with pytest.raises(ValueError, match='not centrosymmetric'):
        centrosymmetric_offset(dipole + np.array([0, 0, 0.3 * 2.0 * 4.2]), cell, 2.0)


def _path_frames(offset: np.ndarray, end_fraction: float, rng) -> list[Atoms]:
    """Synthetic labelled path: d(λ) = λ·D_end along z with D_end = end_fraction of a quantum (beyond ½ of it,
    where folding gives the wrong branch), plus the reference offset and random quanta."""
    reference, target = perovskite(), perovskite(3.99, 4.06, 0.1)
    frames = []
    for atoms in interpolate_path(reference, target, 6):
        fraction = atoms.info['path_fraction']
        cell = np.asarray(atoms.cell[:])
        true = np.array([0.0, 0.0, fraction * end_fraction * cell[2, 2]])
        atoms.info.update(path='cubic->tet', path_reference='cubic', charge_quantum=1.0)
        atoms.info['dipole'] = true + offset @ cell + rng.integers(-2, 3, size=3) @ cell
        atoms.info['true'] = true
        frames.append(atoms)
    perturbed = frames[3].copy()
    perturbed.info.update(frames[3].info, path_perturbation=True)
    perturbed.info['dipole'] = frames[3].info['dipole'] + np.array([0.1, 0.0, -0.2]) - 2 * perturbed.cell[1]
    perturbed.info['true'] = frames[3].info['true'] + np.array([0.1, 0.0, -0.2])
    return [*frames, perturbed]


def test_labels_are_aligned_on_the_branch_continuous_from_the_reference():
    offset = np.array([0.5, 0.0, 0.5])
    frames = _path_frames(offset, end_fraction=0.8, rng=np.random.default_rng(3))
    assert has_reference_frame(frames)
    aligned, summary = align_to_references(frames)
    for atoms in aligned:
        relative = atoms.info['dipole'] - offset @ atoms.cell[:]
        np.testing.assert_allclose(relative, atoms.info['true'], atol=1e-9)
        assert atoms.info['dipole_branch'] == 'reference'
        assert atoms.info['reference_offset'] == [0.5, 0.0, 0.5]
    report = summary['cubic']
    assert report['offset_fraction'] == [0.5, 0.0, 0.5]
    end = aligned[5]
    expected = 0.8 * end.cell[2, 2] / end.get_volume() * units.E_PER_A2_TO_C_PER_M2
    np.testing.assert_allclose(
        report['paths']['cubic->tet']['spontaneous_polarization_C_m2'], [0, 0, expected]
    )
    # folding to the minimum image would have put the polar end on the other branch (−0.2 of a quantum)
    assert expected > 0 and 0.8 > 0.5


def test_a_reference_that_is_not_centrosymmetric_is_refused():
    frames = _path_frames(np.array([0.0, 0.0, 0.3]), end_fraction=0.4, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="reference 'cubic'.*not centrosymmetric"):
        align_to_references(frames)


@pytest.mark.parametrize('name', sorted(CUBIC_OPERATIONS))
def test_point_operations_move_labels_with_the_structure(name):
    rotation = CUBIC_OPERATIONS[name]
    atoms = perovskite(3.99, 4.06, 0.1)
    atoms.info['dipole'] = np.array([0.1, 0.2, 1.5])
    atoms.arrays['born_charges'] = np.tile(np.diag([1.0, 2.0, 3.0]), (5, 1, 1))
    atoms.info['reference_offset'] = [0.0, 0.0, 0.5]
    moved = apply_point_operation(atoms, rotation)
    np.testing.assert_allclose(moved.info['dipole'], rotation @ atoms.info['dipole'])
    assert np.allclose(moved.cell[:], np.diag(np.abs(rotation) @ np.diag(atoms.cell[:])))
    assert (moved.get_scaled_positions() >= -1e-12).all()
    diagonal = np.abs(rotation) @ np.array([1.0, 2.0, 3.0])
    np.testing.assert_allclose(moved.arrays['born_charges'][0], np.diag(diagonal), atol=1e-12)
    np.testing.assert_allclose(moved.info['reference_offset'], np.abs(rotation) @ [0.0, 0.0, 0.5])
    # interatomic vectors are turned, not just relabelled: the Ti–Ba vector follows R
    vector = moved.get_distance(0, 1, mic=True, vector=True)
    np.testing.assert_allclose(
        np.abs(vector), np.abs(rotation @ atoms.get_distance(0, 1, mic=True, vector=True)), atol=1e-9
    )


def test_frames_off_the_paths_take_the_branch_of_the_nearest_path_frame():
    offset = np.array([0.5, 0.0, 0.5])
    frames = _path_frames(offset, end_fraction=0.8, rng=np.random.default_rng(4))
    near = frames[5].copy()  # an MD frame of the polar phase: not on a path, its label one quantum off
    for key in ('path', 'path_reference', 'path_fraction'):
        near.info.pop(key)
    near.positions[1] += [0.05, -0.05, 0.1]
    near.info['dipole'] = frames[5].info['dipole'] + 3 * near.cell[2]
    far = near.copy()
    far.positions[1:] += 1.0  # nothing on the paths is near it: its label is left alone
    aligned, summary = align_to_references([*frames, near, far])
    assert summary['cubic']['nearby_frames'] == 1
    np.testing.assert_allclose(
        aligned[-2].info['dipole'] - offset @ near.cell[:], near.info['true'], atol=1e-9
    )
    assert aligned[-2].info['dipole_branch'] == 'reference'
    assert 'dipole_branch' not in aligned[-1].info
    np.testing.assert_allclose(aligned[-1].info['dipole'], far.info['dipole'])
