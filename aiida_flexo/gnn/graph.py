"""Periodic graphs for the dipole GNN: edges (vesin neighbour lists with cell shifts) and triplets.

Conventions (used by the whole :mod:`aiida_flexo.gnn` package):

* An *edge* ``k → j`` joins a neighbour ``k`` (possibly a periodic image) to a *centre* ``j`` with
  ``|r_kj| < cutoff``. Its vector points from the neighbour to the centre::

      r_kj = r_j − r_k − S_kj · cell        (Å; S_kj integer cell shift of the image of k)

  and ``e_kj = r_kj / |r_kj|``. Every ordered pair appears (full list), edges are sorted by centre, and an
  atom may be its own neighbour through a periodic image when the cell is smaller than the cutoff.
* A *triplet* ``(a, b)`` is an ordered pair of distinct edges ``a = k → j`` and ``b = i → j`` that share
  their centre ``j`` and are both shorter than the triplet (angular) cutoff; the angle θ_ab at ``j`` has
  ``cos θ_ab = e_a · e_b``. Messages flow from edge ``a`` to edge ``b``.
* Several structures are batched into one graph by torch-geometric (:func:`batch_graphs`: ``Batch.from_data_list``
  of :func:`as_graph_data`, which offsets atom, edge and triplet indices); ``batch`` gives the structure of each
  atom.
* Geometry (positions, cells) is kept in float64; the model casts edge vectors to its own dtype after the
  subtraction, so float32 models lose no precision on large cells.

numpy, torch, vesin (neighbour lists) and torch-geometric's data and batching are used; nothing that needs
torch-scatter, torch-sparse or pyg-lib (they do not install everywhere).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, fields, replace

import numpy as np
import torch
from ase import Atoms

from aiida_flexo.data import FramesError, check_periodic
from aiida_flexo.data.frames import check_structure

_DTYPES = {'float32': torch.float32, 'float64': torch.float64}


def torch_dtype(dtype: str | torch.dtype) -> torch.dtype:
    """``'float32'``/``'float64'`` (or a torch dtype) as a torch dtype."""
    if isinstance(dtype, torch.dtype):
        return dtype
    try:
        return _DTYPES[dtype]
    except KeyError as exc:
        raise ValueError(f"dtype must be 'float32' or 'float64', got {dtype!r}") from exc


def neighbour_list(
    positions: np.ndarray, cell: np.ndarray, cutoff: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Full periodic neighbour list within ``cutoff`` (Å), sorted by centre.

    Works for any cell shape and size (vesin returns every periodic image inside the cutoff, also when the
    cutoff exceeds half the cell), and for positions outside the cell.

    Returns:
        centre (E,) int64, neighbour (E,) int64, cell_shift (E, 3) int32, with
        ``r_centre − r_neighbour − cell_shift @ cell`` the edge vector (shorter than ``cutoff``).
    """
    import vesin

    positions = np.ascontiguousarray(positions, dtype=np.float64)
    cell = np.ascontiguousarray(cell, dtype=np.float64)
    calculator = vesin.NeighborList(cutoff=float(cutoff), full_list=True, sorted=True)
    centre, neighbour, shift = calculator.compute(positions, cell, periodic=True, quantities='ijS')
    return centre.astype(np.int64), neighbour.astype(np.int64), shift


def triplets(
    edge_centre: torch.Tensor, short: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """All triplets among the ``short`` edges: ordered pairs ``(a, b)``, ``a ≠ b``, with the same centre.

    Args:
        edge_centre: (E,) centre atom of each edge, sorted (non-decreasing).
        short: (E,) bool, edges shorter than the triplet cutoff.

    Returns:
        ``(short_edges, a, b)``: ``short_edges`` (S,) int64 indices of the short edges (ascending); ``a``, ``b``
        (T,) int64 indices *into* ``short_edges``, sorted by ``b``. A centre with ``n`` short edges gives
        ``n(n-1)`` triplets.
    """
    index = torch.nonzero(short, as_tuple=False).reshape(-1)
    empty = torch.zeros(0, dtype=torch.long, device=edge_centre.device)
    if index.numel() < 2:
        return index, empty, empty.clone()
    centre = edge_centre[index]
    _, counts = torch.unique_consecutive(centre, return_counts=True)
    group_start = torch.cumsum(counts, 0) - counts
    per_edge = torch.repeat_interleave(counts, counts)  # n_c for each short edge
    start = torch.repeat_interleave(group_start, counts)  # first short edge of its centre
    b_local = torch.repeat_interleave(torch.arange(index.numel(), device=index.device), per_edge)
    first = torch.repeat_interleave(torch.cumsum(per_edge, 0) - per_edge, per_edge)
    a_local = start[b_local] + (torch.arange(b_local.numel(), device=index.device) - first)
    keep = a_local != b_local
    return index, a_local[keep], b_local[keep]


@dataclass
class Graph:
    """One structure or a batch of structures as a periodic graph (torch tensors, one device).

    Attributes:
        positions: (N, 3) float64 Cartesian positions, Å.
        species: (N,) int64 index into the model's species list.
        batch: (N,) int64 structure index of each atom.
        cell: (B, 3, 3) float64 lattice vectors (rows), Å.
        edge_centre: (E,) int64 centre ``j`` of edge ``k → j`` (sorted).
        edge_neighbour: (E,) int64 neighbour ``k``.
        edge_cell_shift: (E, 3) integer (int8 when it fits) image shift ``S_kj``:
            ``r_kj = r_j − r_k − S_kj · cell``.
        short_edges: (S,) int64 edges shorter than the triplet cutoff, or ``None`` (triplets built on the fly).
        triplet_a, triplet_b: (T,) int64 triplets as indices into ``short_edges``, or ``None``.
    """

    positions: torch.Tensor
    species: torch.Tensor
    batch: torch.Tensor
    cell: torch.Tensor
    edge_centre: torch.Tensor
    edge_neighbour: torch.Tensor
    edge_cell_shift: torch.Tensor
    short_edges: torch.Tensor | None = None
    triplet_a: torch.Tensor | None = None
    triplet_b: torch.Tensor | None = None

    @property
    def n_atoms(self) -> int:
        return int(self.positions.shape[0])

    @property
    def n_edges(self) -> int:
        return int(self.edge_centre.shape[0])

    @property
    def n_structures(self) -> int:
        return int(self.cell.shape[0])

    @property
    def n_triplets(self) -> int | None:
        return None if self.triplet_a is None else int(self.triplet_a.shape[0])

    def to(self, device: str | torch.device) -> Graph:
        """A copy on ``device``."""
        changes = {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}
        return replace(self, **{name: value.to(device) for name, value in changes.items()})

    def edge_vectors(self, positions: torch.Tensor | None = None, edges: slice | None = None) -> torch.Tensor:
        """Edge vectors ``r_kj = r_j − r_k − S·cell`` (Å, dtype of ``positions``), differentiable in positions.

        Args:
            positions: (N, 3) positions to use instead of ``self.positions``.
            edges: a slice of the edges (default: all).
        """
        positions = self.positions if positions is None else positions
        edges = slice(None) if edges is None else edges
        centre = self.edge_centre[edges]
        shift = self.edge_cell_shift[edges].to(positions.dtype)
        cell = self.cell.to(positions.dtype)
        if self.n_structures == 1:
            shift = shift @ cell[0]
        else:
            shift = torch.einsum('ei,eij->ej', shift, cell[self.batch[centre]])
        gather = torch.nn.functional.embedding  # much faster than indexing for narrow rows
        return gather(centre, positions) - gather(self.edge_neighbour[edges], positions) - shift


def species_indices(atoms: Atoms, species: Sequence[str], where: str = 'structure') -> np.ndarray:
    """Index of each atom's chemical symbol in ``species``; unknown species raise :class:`FramesError`."""
    lookup = np.full(119, -1, dtype=np.int64)
    from ase.data import atomic_numbers

    for i, symbol in enumerate(species):
        lookup[atomic_numbers[symbol]] = i
    index = lookup[atoms.numbers]
    if (index < 0).any():
        unknown = sorted({str(s) for s in np.asarray(atoms.get_chemical_symbols())[index < 0]})
        raise FramesError(
            f'{where}: species {unknown} unknown to the model (it knows {list(species)}); retrain the model with '
            'frames that contain them'
        )
    return index


def build_graph(
    atoms: Atoms,
    species: Sequence[str],
    cutoff: float,
    triplet_cutoff: float | None = None,
    device: str | torch.device = 'cpu',
    where: str = 'structure',
) -> Graph:
    """The periodic graph of one structure.

    Args:
        atoms: a 3D periodic structure (any cell shape; positions need not be wrapped).
        species: the model's species list (embedding order).
        cutoff: edge cutoff (Å).
        triplet_cutoff: angular cutoff (Å) for precomputed triplets; ``None`` leaves the triplets to be built
            on the fly (large structures processed in chunks).
        device: torch device.
        where: name of the structure in error messages.
    """
    check_periodic(atoms, where)
    check_structure(atoms, where)  # NaN or a flattened cell: the neighbour list would allocate without bound
    species_index = species_indices(atoms, species, where)
    positions = np.asarray(atoms.positions, dtype=np.float64)
    cell = np.asarray(atoms.cell[:], dtype=np.float64)
    centre, neighbour, cell_shift = neighbour_list(positions, cell, cutoff)
    small = cell_shift.size == 0 or np.abs(cell_shift).max() < 127
    graph = Graph(
        positions=torch.as_tensor(positions),
        species=torch.as_tensor(species_index),
        batch=torch.zeros(len(atoms), dtype=torch.long),
        cell=torch.as_tensor(cell).unsqueeze(0),
        edge_centre=torch.as_tensor(centre),
        edge_neighbour=torch.as_tensor(neighbour),
        edge_cell_shift=torch.as_tensor(cell_shift.astype(np.int8 if small else np.int32)),
    )
    if triplet_cutoff is not None:
        length = torch.linalg.vector_norm(graph.edge_vectors(), dim=-1)
        graph.short_edges, graph.triplet_a, graph.triplet_b = triplets(
            graph.edge_centre, length < triplet_cutoff
        )
    return graph.to(device) if str(device) != 'cpu' else graph


#: Graph fields stored per structure in a torch-geometric ``Data`` (``batch`` is torch-geometric's own)
_DATA_FIELDS = tuple(f.name for f in fields(Graph) if f.name != 'batch')


@functools.cache
def _graph_data_class():
    """A torch-geometric ``Data`` of one structure's graph, whose indices torch-geometric offsets when it batches:
    edge atoms by the atoms, the short edges by the edges, the triplets by the short edges (``__inc__``)."""
    from torch_geometric.data import Data

    class GraphData(Data):
        def __inc__(self, key, value, *args, **kwargs):
            if key in ('edge_centre', 'edge_neighbour'):
                return self.num_nodes
            if key == 'short_edges':
                return int(self.edge_centre.shape[0])
            if key in ('triplet_a', 'triplet_b'):
                return int(self.short_edges.shape[0])
            return 0

    return GraphData


def as_graph_data(graph: Graph):
    """One structure's :class:`Graph` as a torch-geometric ``Data`` (positions, species, cell (1, 3, 3), edges,
    triplets); :func:`batch_graphs` collates them."""
    if graph.n_structures != 1:
        raise ValueError(f'as_graph_data takes the graph of one structure, got {graph.n_structures}')
    values = {name: getattr(graph, name) for name in _DATA_FIELDS if getattr(graph, name) is not None}
    return _graph_data_class()(num_nodes=graph.n_atoms, **values)


def batch_graphs(graphs: Sequence[Graph]) -> Graph:
    """One graph of several structures, collated by torch-geometric (``Batch.from_data_list``: atom, edge and
    triplet indices offset, ``batch`` numbering the structures; triplets kept when every graph has them)."""
    if len(graphs) == 0:
        raise ValueError('cannot batch an empty list of graphs')
    if len(graphs) == 1:
        return graphs[0]
    from torch_geometric.data import Batch

    with_triplets = all(g.triplet_a is not None for g in graphs)
    shift_dtype = torch.int8 if all(g.edge_cell_shift.dtype == torch.int8 for g in graphs) else torch.int32
    data = []
    for g in graphs:
        item = as_graph_data(g)
        item.edge_cell_shift = g.edge_cell_shift.to(shift_dtype)
        if not with_triplets:
            for name in ('short_edges', 'triplet_a', 'triplet_b'):
                if name in item:
                    del item[name]
        data.append(item)
    batch = Batch.from_data_list(data)
    values = {name: batch[name] for name in _DATA_FIELDS if name in batch}
    return Graph(batch=batch.batch, **values)
