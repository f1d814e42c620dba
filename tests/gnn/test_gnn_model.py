"""Exact symmetries of the dipole GNN (float64), Born charges and chunked evaluation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from aiida_flexo.gnn import DipolePredictor, build_graph, dipoles_and_born_charges

SPECIES = ['Ba', 'Ti', 'O']


def per_atom(model, atoms, **kwargs):
    graph = build_graph(atoms, SPECIES, model.config.cutoff, model.config.triplet_cutoff)
    with torch.no_grad():
        return model(graph, **kwargs).numpy()


@pytest.fixture(scope='module')
def frame(bto_frames):
    return bto_frames[0]


def test_dipoles_rotate_with_the_structure(make_model, frame):
    model = make_model(seed=1)
    rotation = Rotation.random(random_state=7).as_matrix()
    rotated = frame.copy()
    rotated.positions = frame.positions @ rotation.T
    rotated.cell = frame.cell[:] @ rotation.T
    p = per_atom(model, frame)
    assert np.abs(p).max() > 1e-2, 'the test needs non-trivial dipoles'
    np.testing.assert_allclose(per_atom(model, rotated), p @ rotation.T, rtol=0, atol=1e-10)


def test_translation_permutation_and_periodic_image_invariance(make_model, frame):
    model = make_model(seed=2)
    p = per_atom(model, frame)
    shifted = frame.copy()
    shifted.positions += np.array([0.37, -1.21, 2.5])
    np.testing.assert_allclose(per_atom(model, shifted), p, atol=1e-10)
    rng = np.random.default_rng(0)
    order = rng.permutation(len(frame))
    np.testing.assert_allclose(per_atom(model, frame[order]), p[order], atol=1e-10)
    wrapped = frame.copy()
    wrapped.positions += rng.integers(-2, 3, size=(len(frame), 3)) @ frame.cell[:]
    np.testing.assert_allclose(per_atom(model, wrapped), p, atol=1e-10)


def test_dipole_is_extensive(make_model, frame):
    model = make_model(seed=3)
    p = per_atom(model, frame)
    p_big = per_atom(model, frame.repeat((2, 2, 2)))
    np.testing.assert_allclose(
        p_big.reshape(8, len(frame), 3), np.broadcast_to(p, (8, len(frame), 3)), atol=1e-10
    )
    np.testing.assert_allclose(p_big.sum(0), 8 * p.sum(0), atol=1e-9)


def test_dense_angular_path_equals_explicit_triplets(make_model, frame):
    dense = make_model(seed=4, angular='dense')
    explicit = make_model(seed=4, angular='triplets')
    explicit.load_state_dict(dense.state_dict())
    np.testing.assert_allclose(per_atom(explicit, frame), per_atom(dense, frame), atol=1e-12)


def test_chunked_forward_equals_one_pass(make_model, frame):
    model = make_model(seed=5)
    graph = build_graph(frame, SPECIES, model.config.cutoff)  # triplets built on the fly in both cases
    with torch.inference_mode():
        whole = model(graph)
        chunked = model(graph, chunk_size=17)
    np.testing.assert_allclose(chunked.numpy(), whole.numpy(), atol=1e-12)


def test_born_charges_match_finite_differences_and_sum_rule(make_model, bto_cell):
    model = make_model(seed=6)
    atoms = bto_cell(seed=3).repeat((1, 1, 2))
    graph = build_graph(atoms, SPECIES, model.config.cutoff, model.config.triplet_cutoff)
    _, d, z = dipoles_and_born_charges(model, graph)
    z = z.numpy()
    assert np.abs(z).max() > 0.1
    step = 1e-5
    for i, beta in [(0, 0), (1, 2), (4, 1), (7, 2)]:
        dipoles = []
        for sign in (1, -1):
            moved = atoms.copy()
            moved.positions[i, beta] += sign * step
            dipoles.append(per_atom(model, moved).sum(0))
        np.testing.assert_allclose(z[i, :, beta], (dipoles[0] - dipoles[1]) / (2 * step), atol=1e-7)
    # acoustic sum rule: the model sees positions only through edge vectors, so a rigid translation changes
    # nothing and Σ_i Z*_i = ∂d/∂(common shift) vanishes exactly
    np.testing.assert_allclose(z.sum(0), 0.0, atol=1e-10)
    np.testing.assert_allclose(d.numpy()[0], per_atom(model, atoms).sum(0), atol=1e-12)


def test_predictor_chunks_give_identical_results(make_model, frame):
    model = make_model(seed=7)
    reference = DipolePredictor(model, chunk_size=None, bec_chunk_size=10_000)
    chunked = DipolePredictor(model, chunk_size=23, bec_chunk_size=40)
    np.testing.assert_allclose(chunked.per_atom_dipoles(frame), reference.per_atom_dipoles(frame), atol=1e-12)
    np.testing.assert_allclose(chunked.born_charges(frame), reference.born_charges(frame), atol=1e-10)
    assignment = np.arange(len(frame)) % 27
    cells = reference.per_cell_dipoles(frame, assignment)
    assert cells.shape == (27, 3)
    np.testing.assert_allclose(cells.sum(0), reference.dipole(frame), atol=1e-10)
    many = reference.per_atom_dipoles_many([frame, frame.copy()])
    np.testing.assert_allclose(many[0], many[1], atol=1e-12)


def test_float32_model_agrees_with_float64(make_model, frame):
    model64 = make_model(seed=8)
    model32 = make_model(seed=8, dtype='float32')
    model32.load_state_dict({k: v.float() for k, v in model64.state_dict().items()})
    p64 = per_atom(model64, frame)
    p32 = per_atom(model32, frame)
    assert p32.dtype == np.float32
    np.testing.assert_allclose(p32, p64, atol=2e-5 * max(1.0, np.abs(p64).max()))
