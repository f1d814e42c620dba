"""Inference with a trained dipole GNN: per-atom, per-structure and per-unit-cell dipoles, Born charges.

:class:`DipolePredictor` implements :class:`aiida_flexo.interfaces.DipoleModel`. Large structures are processed
in chunks with the same result as one pass:

* dipoles: the model runs block by block over chunks of centre atoms (``chunk_size`` atoms), so memory grows
  only with the neighbour list, not with the network's intermediate tensors;
* Born charges (autograd): the atoms are ordered into compact spatial blocks; for each chunk of centres the
  model runs on the chunk plus the halo of atoms its dipoles depend on (``n_blocks`` neighbour shells), and the
  gradients of the chunk's dipole sum are accumulated (``bec_chunk_size`` atoms per chunk).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from ase import Atoms

from aiida_flexo.gnn.graph import Graph, batch_graphs, build_graph
from aiida_flexo.gnn.model import DipoleGNN, cell_dipoles, dipoles_and_born_charges
from aiida_flexo.units import dipole_to_polarization


class DipolePredictor:
    """A loaded dipole GNN (see :func:`aiida_flexo.gnn.load_model`). Units: Å in; e·Å, e and C/m² out.

    Args:
        model: the network (eval mode).
        device: torch device of the model.
        metadata: the model file's metadata (species, cutoff, units, training data hash, split, metrics).
        chunk_size: centre atoms per chunk for dipoles of large structures (``None``: one pass).
        bec_chunk_size: centre atoms per chunk for Born charges of large structures.
        batch_size: structures per batch when predicting many structures.
    """

    def __init__(
        self,
        model: DipoleGNN,
        device: str | torch.device = 'cpu',
        metadata: dict | None = None,
        chunk_size: int | None = 4000,
        bec_chunk_size: int = 8000,
        batch_size: int = 16,
    ):
        self.model = model.eval()
        self.device = torch.device(device)
        self.metadata = dict(metadata or {})
        self.chunk_size = chunk_size
        self.bec_chunk_size = int(bec_chunk_size)
        self.batch_size = int(batch_size)

    # ------------------------------------------------------------------ metadata
    @property
    def config(self):
        return self.model.config

    @property
    def species(self) -> list[str]:
        return list(self.model.config.species)

    @property
    def cutoff(self) -> float:
        return float(self.model.config.cutoff)

    @property
    def training_data_hash(self) -> str:
        return str(self.metadata.get('training_data_hash', ''))

    def graph(self, atoms: Atoms, where: str = 'structure') -> Graph:
        """The periodic graph of ``atoms`` (triplets are built on the fly by the model)."""
        return build_graph(atoms, self.species, self.cutoff, None, self.device, where)

    # ------------------------------------------------------------------ dipoles
    def per_atom_dipoles(self, atoms: Atoms) -> np.ndarray:
        """Per-atom dipoles ``p_j`` (n, 3), e·Å; their sum is the cell dipole.

        A partition of the cell dipole, not an observable: only sums over whole unit cells (and Born charges)
        are physical; a model is fixed by its training, so per-cell sums of the same model are comparable.
        """
        graph = self.graph(atoms)
        with torch.inference_mode():
            p = self.model(graph, chunk_size=self.chunk_size)
        return p.to(torch.float64).cpu().numpy()

    def dipole(self, atoms: Atoms) -> np.ndarray:
        """Cell dipole ``d = Σ_j p_j`` (3,), e·Å (one branch of the multivalued Berry-phase dipole)."""
        return self.per_atom_dipoles(atoms).sum(0)

    def polarization(self, atoms: Atoms) -> np.ndarray:
        """Polarization ``d / Ω`` (3,), C/m²."""
        return dipole_to_polarization(self.dipole(atoms), abs(atoms.cell.volume))

    def per_cell_dipoles(
        self, atoms: Atoms, assignment: np.ndarray, n_cells: int | None = None
    ) -> np.ndarray:
        """Dipole of each unit cell (n_cells, 3), e·Å: the sum of the per-atom dipoles assigned to it.

        Args:
            atoms: the structure.
            assignment: (n,) integer cell index of each atom (from the undistorted reference supercell).
            n_cells: number of cells (default: ``max(assignment) + 1``).
        """
        assignment = np.asarray(assignment)
        if assignment.shape != (len(atoms),) or not np.issubdtype(assignment.dtype, np.integer):
            raise ValueError(
                f'assignment must be {len(atoms)} integer cell indices, got shape {assignment.shape}'
            )
        if assignment.size and assignment.min() < 0:
            raise ValueError('assignment has negative cell indices')
        n_cells = int(assignment.max()) + 1 if n_cells is None else int(n_cells)
        out = np.zeros((n_cells, 3))
        np.add.at(out, assignment, self.per_atom_dipoles(atoms))
        return out

    def per_atom_dipoles_many(self, frames: Sequence[Atoms]) -> list[np.ndarray]:
        """Per-atom dipoles of many structures (small ones batched ``batch_size`` at a time), e·Å."""
        out: list[np.ndarray] = []
        for start in range(0, len(frames), self.batch_size):
            chunk = frames[start : start + self.batch_size]
            graphs = [self.graph(a, f'structure {start + i}') for i, a in enumerate(chunk)]
            graph = batch_graphs(graphs)
            with torch.inference_mode():
                p = self.model(graph, chunk_size=self.chunk_size).to(torch.float64).cpu().numpy()
            bounds = np.cumsum([0] + [len(a) for a in chunk])
            out.extend(p[bounds[i] : bounds[i + 1]] for i in range(len(chunk)))
        return out

    def dipoles(self, frames: Sequence[Atoms]) -> np.ndarray:
        """Cell dipoles (B, 3), e·Å, of many structures."""
        return (
            np.stack([p.sum(0) for p in self.per_atom_dipoles_many(frames)])
            if len(frames)
            else np.zeros((0, 3))
        )

    # ------------------------------------------------------------------ Born charges
    def born_charges(self, atoms: Atoms) -> np.ndarray:
        """Born effective charges ``Z*_i,αβ = ∂d_α/∂r_iβ`` (n, 3, 3), e, by autograd (Σ_i Z*_i = 0 exactly)."""
        if len(atoms) <= self.bec_chunk_size:
            _, _, z = dipoles_and_born_charges(self.model, self.graph(atoms))
            return z.to(torch.float64).cpu().numpy()
        order = spatial_order(atoms, self.bec_chunk_size)
        graph = self.graph(atoms[order])
        z = born_charges_in_chunks(self.model, graph, self.bec_chunk_size)
        out = np.empty_like(z)
        out[order] = z
        return out

    def born_charges_many(self, frames: Sequence[Atoms]) -> list[np.ndarray]:
        """Born charges of many structures (small ones batched), e."""
        out: list[np.ndarray] = []
        small = [i for i, a in enumerate(frames) if len(a) <= self.bec_chunk_size]
        result: dict[int, np.ndarray] = {}
        for start in range(0, len(small), self.batch_size):
            index = small[start : start + self.batch_size]
            graph = batch_graphs([self.graph(frames[i], f'structure {i}') for i in index])
            _, _, z = dipoles_and_born_charges(self.model, graph)
            z = z.to(torch.float64).cpu().numpy()
            bounds = np.cumsum([0] + [len(frames[i]) for i in index])
            for k, i in enumerate(index):
                result[i] = z[bounds[k] : bounds[k + 1]]
        for i, atoms in enumerate(frames):
            out.append(result[i] if i in result else self.born_charges(atoms))
        return out


def spatial_order(atoms: Atoms, chunk_size: int) -> np.ndarray:
    """A permutation that groups atoms into compact blocks of about ``chunk_size`` atoms (block-major order)."""
    n = len(atoms)
    fractional = atoms.cell.scaled_positions(atoms.positions) % 1.0
    lengths = atoms.cell.lengths()
    side = (abs(atoms.cell.volume) * chunk_size / max(n, 1)) ** (1.0 / 3.0)
    blocks = np.maximum(1, np.round(lengths / max(side, 1e-6))).astype(np.int64)
    index = np.minimum((fractional * blocks).astype(np.int64), blocks - 1)
    key = (index[:, 0] * blocks[1] + index[:, 1]) * blocks[2] + index[:, 2]
    return np.argsort(key, kind='stable')


def _edges_of(centres: torch.Tensor, edge_ptr: torch.Tensor) -> torch.Tensor:
    """Indices of all edges whose centre is in ``centres`` (sorted atom indices), ascending."""
    start = edge_ptr[centres]
    count = edge_ptr[centres + 1] - start
    total = int(count.sum())
    first = torch.cumsum(count, 0) - count
    return torch.repeat_interleave(start - first, count) + torch.arange(total, device=centres.device)


def born_charges_in_chunks(model: DipoleGNN, graph: Graph, chunk_size: int) -> np.ndarray:
    """Born charges (N, 3, 3), e, of one large structure, ``chunk_size`` centre atoms at a time (exact).

    For a chunk ``C`` the dipoles ``p_j, j ∈ C`` depend on the atoms within ``n_blocks`` neighbour shells; the
    model runs on that sub-graph and ``∂(Σ_{j∈C} p_j)/∂r`` is accumulated. Summed over the chunks this is
    ``∂d/∂r`` of the whole structure.
    """
    n = graph.n_atoms
    edge_ptr = torch.searchsorted(graph.edge_centre, torch.arange(n + 1, device=graph.edge_centre.device))
    z = torch.zeros(n, 3, 3, dtype=torch.float64)
    local = torch.full((n,), -1, dtype=torch.long, device=graph.edge_centre.device)
    n_blocks = model.config.n_blocks
    for a0 in range(0, n, chunk_size):
        chunk = torch.arange(a0, min(a0 + chunk_size, n), device=graph.edge_centre.device)
        centres = chunk
        for _ in range(n_blocks - 1):
            centres = torch.unique(torch.cat([centres, graph.edge_neighbour[_edges_of(centres, edge_ptr)]]))
        edges = _edges_of(centres, edge_ptr)
        atoms = torch.unique(torch.cat([centres, graph.edge_neighbour[edges]]))
        local[atoms] = torch.arange(atoms.numel(), device=atoms.device)
        sub = Graph(
            positions=graph.positions[atoms],
            species=graph.species[atoms],
            batch=torch.zeros(atoms.numel(), dtype=torch.long, device=atoms.device),
            cell=graph.cell,
            edge_centre=local[graph.edge_centre[edges]],
            edge_neighbour=local[graph.edge_neighbour[edges]],
            edge_cell_shift=graph.edge_cell_shift[edges],
        )
        positions = sub.positions.detach().clone().requires_grad_(True)
        with torch.enable_grad():
            p = model(sub, positions=positions)
            d = p.index_select(0, local[chunk]).sum(0)
            for alpha in range(3):
                (grad,) = torch.autograd.grad(d[alpha], positions, retain_graph=alpha < 2)
                z[atoms.cpu(), alpha, :] += grad.detach().to(torch.float64).cpu()
        local[atoms] = -1
    return z.numpy()


def polarization_of(dipole_eA: np.ndarray, atoms: Atoms) -> np.ndarray:
    """Polarization (C/m²) of a cell dipole (e·Å) of ``atoms``."""
    return dipole_to_polarization(np.asarray(dipole_eA), abs(atoms.cell.volume))


__all__ = ['DipolePredictor', 'born_charges_in_chunks', 'cell_dipoles', 'polarization_of', 'spatial_order']
