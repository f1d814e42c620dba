"""Periodic graphs: vesin neighbour lists against ase, triplets, batching, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.neighborlist import neighbor_list

from aiida_flexo.data import FramesError
from aiida_flexo.gnn import batch_graphs, build_graph, triplets

SPECIES = ['Ba', 'Ti', 'O']


def _edge_set(graph):
    return {
        (int(c), int(n), tuple(int(x) for x in s))
        for c, n, s in zip(graph.edge_centre, graph.edge_neighbour, graph.edge_cell_shift)
    }


def test_neighbour_list_matches_ase_for_small_triclinic_cell():
    """Cutoff larger than the cell: every periodic image is an edge, with the vector convention r_j − r_k − S·cell."""
    rng = np.random.default_rng(3)
    cell = np.array([[3.1, 0.0, 0.0], [1.3, 2.9, 0.0], [0.6, -0.8, 3.3]])
    atoms = Atoms('BaTiO2', positions=rng.uniform(-2, 6, (4, 3)), cell=cell, pbc=True)
    graph = build_graph(atoms, SPECIES, cutoff=5.0)
    i, j, shift = neighbor_list('ijS', atoms, 5.0)
    # ase's pair (i, j, S) has r_j − r_i + S·cell from centre i to the image of j; our edge j → i is its negative
    assert _edge_set(graph) == {(int(a), int(b), tuple(int(x) for x in s)) for a, b, s in zip(i, j, shift)}
    vectors = graph.edge_vectors().numpy()
    expected = atoms.positions[graph.edge_centre] - atoms.positions[graph.edge_neighbour]
    expected -= graph.edge_cell_shift.numpy().astype(float) @ cell
    np.testing.assert_allclose(vectors, expected, atol=1e-12)
    assert np.all(np.linalg.norm(vectors, axis=1) < 5.0)
    assert np.all(np.diff(graph.edge_centre.numpy()) >= 0), 'edges must be sorted by centre'
    assert (graph.edge_centre == graph.edge_neighbour).any(), (
        'self-images expected in a cell smaller than the cutoff'
    )


def test_triplets_are_all_ordered_pairs_of_short_edges_per_centre(bto_cell):
    atoms = bto_cell(seed=1)
    graph = build_graph(atoms, SPECIES, cutoff=4.5, triplet_cutoff=3.0)
    length = np.linalg.norm(graph.edge_vectors().numpy(), axis=1)
    short = np.flatnonzero(length < 3.0)
    np.testing.assert_array_equal(graph.short_edges.numpy(), short)
    centre = graph.edge_centre.numpy()
    counts = np.bincount(centre[short], minlength=len(atoms))
    assert graph.n_triplets == int(np.sum(counts * (counts - 1)))
    a = graph.short_edges[graph.triplet_a].numpy()
    b = graph.short_edges[graph.triplet_b].numpy()
    assert np.all(centre[a] == centre[b]) and np.all(a != b)
    assert len({(x, y) for x, y in zip(a, b)}) == len(a), 'no duplicate triplets'


def test_triplets_of_empty_and_single_edge_sets():
    centre = torch.tensor([0, 0, 1])
    short, a, b = triplets(centre, torch.tensor([True, False, False]))
    assert short.tolist() == [0] and a.numel() == 0 and b.numel() == 0


def test_batching_offsets_atoms_edges_and_triplets(bto_cell):
    first, second = bto_cell(seed=1), bto_cell(a=4.2, seed=2).repeat((2, 1, 1))
    graphs = [build_graph(x, SPECIES, 4.5, 3.0) for x in (first, second)]
    merged = batch_graphs(graphs)
    assert merged.n_atoms == 15 and merged.n_structures == 2
    assert merged.n_edges == graphs[0].n_edges + graphs[1].n_edges
    assert merged.batch.tolist() == [0] * 5 + [1] * 10
    np.testing.assert_allclose(
        merged.edge_vectors().numpy(), np.concatenate([g.edge_vectors().numpy() for g in graphs]), atol=1e-12
    )
    a = merged.short_edges[merged.triplet_a]
    b = merged.short_edges[merged.triplet_b]
    assert torch.equal(merged.edge_centre[a], merged.edge_centre[b])
    assert merged.n_triplets == graphs[0].n_triplets + graphs[1].n_triplets


def test_unknown_species_and_non_periodic_cells_are_rejected(bto_cell):
    with pytest.raises(FramesError, match=r"species \['Sr'\] unknown"):
        build_graph(
            Atoms('SrTiO3', cell=[4, 4, 4], pbc=True, scaled_positions=np.random.rand(5, 3)), SPECIES, 4.0
        )
    molecule = bto_cell()
    molecule.pbc = [True, True, False]
    with pytest.raises(FramesError, match='not periodic in 3D'):
        build_graph(molecule, SPECIES, 4.0)
