"""The dipole GNN: per-atom dipoles ``p_j = Σ_k c_kj e_kj`` from directional message passing.

Architecture (after the seed paper, PRB 111, 184105 (2025); a light DimeNet-like network):

* Atom states ``h_j`` start as species embeddings.
* Each interaction block ``t`` forms edge messages ``x_kj = SiLU(W_n h_k + W_c h_j + W_r ρ(r_kj))`` with
  ``ρ`` the radial Bessel basis times the polynomial cutoff envelope ``u(r)``, then passes directional
  messages over triplets (edges ``a = k → j`` and ``b = i → j`` sharing the centre ``j``, both shorter than
  the angular cutoff ``r_t``)::

      q_a[m] = [ρ_t(r_a) W_m] ⊙ [W_d x_a]
      y_b = Σ_{a≠b} Σ_m cos^m(θ_ab) q_a[m] / N̄_t              x_b ← x_b + u_t(r_b) SiLU(W_u y_b)

  (``θ_ab`` the angle at ``j``, ``ρ_t`` a Bessel basis on [0, r_t] times its envelope ``u_t``). The default
  ``angular='dense'`` lays the short edges of each centre out in a padded (centre, slot) array and evaluates
  the triplet sum as one batched matrix product with the matrix of ``cos^m θ_ab`` (zero for ``a = b``);
  ``angular='triplets'`` loops over the explicit triplet list of :func:`aiida_flexo.gnn.graph.triplets`
  (the reference; same numbers to rounding).
  All blocks but the last update the atom states, ``h_j ← h_j + MLP(σ_Zj^-1 (Σ_k u(r_kj) x_kj / N̄ − μ_Zj))``,
  with a per-species standardisation (μ, σ) calibrated on the training frames when training starts, so that
  the atom states respond to the environment at order one from the first step.
* The last block's messages give the scalar edge coefficients
  ``c_kj = Σ_n B_{Z_k Z_j, n} φ_n(r_kj) + s u(r_kj) w · x_kj``: a radial bond-charge model (``φ = [u, ρ]``,
  species-pair coefficients ``B`` in e·Å, linear in ``B`` and fitted by least squares when training starts)
  plus a learned many-body correction of scale ``s``.
* Per-atom dipoles ``p_j = Σ_k c_kj e_kj`` with ``e_kj = (r_j − r_k − S·cell)/|…|`` the unit vector of the edge
  pointing from the neighbour ``k`` to the centre ``j`` (see :mod:`aiida_flexo.gnn.graph`); the cell dipole
  is ``d = Σ_j p_j`` (e·Å).

Only invariants (species, lengths, angles) enter the scalars ``c_kj``, which multiply edge vectors, so the
dipoles rotate with the structure exactly. The model sees positions only through edge vectors, so it is
invariant under a common translation and therefore obeys the acoustic sum rule ``Σ_i Z*_i = 0`` exactly. Every
term goes smoothly to zero at the cutoffs, so Born charges ``Z*_i,αβ = ∂d_α/∂r_iβ`` are continuous.

Inference on large cells runs block by block over chunks of centre atoms (edges are sorted by centre); the
result is the same as one pass over the whole graph.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from aiida_flexo.gnn.basis import bessel_basis, cosine_powers, polynomial_envelope
from aiida_flexo.gnn.config import GNNConfig
from aiida_flexo.gnn.graph import Graph, torch_dtype, triplets

_silu = torch.nn.functional.silu


def gather_rows(table: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``table[index]`` for a 2D table of rows (``F.embedding``: a twice-differentiable row gather)."""
    return torch.nn.functional.embedding(index, table)


class _MLP(nn.Module):
    def __init__(self, n_in: int, n_hidden: int, n_out: int):
        super().__init__()
        self.first = nn.Linear(n_in, n_hidden)
        self.second = nn.Linear(n_hidden, n_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.second(_silu(self.first(x)))


@dataclass
class _Geometry:
    """Edge and triplet geometry of a chunk of centre atoms (atom indices are global)."""

    centre: torch.Tensor  # (E,)
    neighbour: torch.Tensor  # (E,)
    local_centre: torch.Tensor  # (E,) centre − first atom of the chunk
    n_local: int  # atoms in the chunk
    unit: torch.Tensor  # (E, 3)
    envelope: torch.Tensor  # (E,)
    rbf: torch.Tensor  # (E, n_radial), times the envelope
    short: torch.Tensor  # (S,) edges shorter than the triplet cutoff
    short_local_centre: torch.Tensor  # (S,)
    envelope_triplet: torch.Tensor  # (S,)
    rbf_triplet: torch.Tensor  # (S, n_radial_triplet), times the triplet envelope
    slot: torch.Tensor | None  # dense: (S,) flat index centre_local · n_max + position among its short edges
    n_max: int  # dense: largest number of short edges of a centre
    angular_matrix: torch.Tensor | None  # dense: (n_local, n_max, n_max · M) cos^m θ_ab, zero for a = b
    triplet_a: torch.Tensor | None  # triplets: (T,) into short
    triplet_b: torch.Tensor | None  # triplets: (T,) into short
    cosine: torch.Tensor | None  # triplets: (T, n_angular) cos^m θ_ab


class InteractionBlock(nn.Module):
    """Edge messages from atom states and radial basis, refined by directional messages over triplets."""

    def __init__(self, config: GNNConfig):
        super().__init__()
        f, e, c = config.hidden, config.edge_channels, config.triplet_channels
        self.n_angular = config.n_angular
        self.channels = c
        self.angular = config.angular
        self.lin_neighbour = nn.Linear(f, e, bias=False)
        self.lin_centre = nn.Linear(f, e)
        self.lin_radial = nn.Linear(config.n_radial, e, bias=False)
        self.lin_down = nn.Linear(e, c, bias=False)
        self.lin_angular = nn.Linear(config.n_radial_triplet, config.n_angular * c, bias=False)
        self.lin_up = nn.Linear(c, e)

    def messages(
        self,
        neighbour_state: torch.Tensor,
        centre_state: torch.Tensor,
        geometry: _Geometry,
        triplet_norm: float,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Edge messages of the chunk before the triplet update, (E_chunk, edge_channels), and the triplet
        update of the short edges, (S, edge_channels); the states are the projected atom states (N, edge_channels).
        """
        inplace = not torch.is_grad_enabled()
        x = self.lin_radial(geometry.rbf)
        if inplace:
            x += gather_rows(neighbour_state, geometry.neighbour)
            x += gather_rows(centre_state, geometry.centre)
        else:
            x = (
                x
                + gather_rows(neighbour_state, geometry.neighbour)
                + gather_rows(centre_state, geometry.centre)
            )
        x = _silu(x, inplace=inplace)
        n_short = geometry.short.shape[0]
        if n_short == 0:
            return x, x.new_zeros(0, x.shape[1])
        x_short = gather_rows(x, geometry.short)
        # q_a[m]: (S, M, C) radial-angular weights ⊙ down-projected message of the source edge a
        q = self.lin_angular(geometry.rbf_triplet).view(n_short, self.n_angular, self.channels)
        q = q * self.lin_down(x_short).unsqueeze(1)
        if geometry.angular_matrix is not None:
            # dense per-centre layout: y[b] = Σ_{a, m} cos^m θ_ab q[a, m] as one batched matrix product
            padded = q.new_zeros(geometry.n_local * geometry.n_max, self.n_angular * self.channels)
            padded = padded.index_copy(0, geometry.slot, q.reshape(n_short, -1))
            padded = padded.view(
                geometry.n_local, geometry.n_max * self.n_angular, self.channels
            )  # rows (a, m)
            y = gather_rows(torch.bmm(geometry.angular_matrix, padded).view(-1, self.channels), geometry.slot)
        else:
            m = (geometry.cosine.unsqueeze(-1) * q.index_select(0, geometry.triplet_a)).sum(1)
            y = q.new_zeros(n_short, self.channels).index_add(0, geometry.triplet_b, m)
        update = _silu(self.lin_up(y * triplet_norm), inplace=inplace)
        return x, update * geometry.envelope_triplet.unsqueeze(-1)


class DipoleGNN(nn.Module):
    """Equivariant per-atom dipole model (see the module docstring). Units: Å in, e·Å out."""

    def __init__(self, config: GNNConfig):
        super().__init__()
        if not config.species:
            raise ValueError(
                'GNNConfig.species is empty: the model needs the list of chemical species it knows'
            )
        self.config = config
        n_species = len(config.species)
        self.embedding = nn.Embedding(n_species, config.hidden)
        self.blocks = nn.ModuleList(InteractionBlock(config) for _ in range(config.n_blocks))
        self.updates = nn.ModuleList(
            _MLP(config.edge_channels, config.hidden, config.hidden) for _ in range(config.n_blocks - 1)
        )
        self.readout = nn.Linear(config.edge_channels, 1, bias=False)
        #: radial bond-charge coefficients B[Z_k, Z_j, n] (e·Å) of the edge k → j on the basis [u, ρ_1 … ρ_n]
        self.bond_coefficients = nn.Parameter(torch.zeros(n_species, n_species, config.n_radial + 1))
        self.register_buffer('output_scale', torch.tensor(float(config.output_scale)))
        #: reference offset f (fractional) of the dipole labels: label ≡ Σ_j p_j + f · cell (mod quanta)
        self.dipole_offset = nn.Parameter(torch.tensor(config.dipole_offset), requires_grad=False)
        #: per-species standardisation of the aggregated messages of each update (set by ``calibrate``)
        shape = (max(config.n_blocks - 1, 0), n_species, config.edge_channels)
        self.register_buffer('aggregate_mean', torch.zeros(shape))
        self.register_buffer('aggregate_scale', torch.ones(shape))
        self.to(torch_dtype(config.dtype))
        init_parameters(self)

    _calibration: list | None = None

    @torch.no_grad()
    def calibrate(self, graphs: list[Graph]) -> None:
        """Standardise the aggregated messages of each update per species (mean 0, variance 1 over ``graphs``).

        A data-dependent initialisation: the environment dependence of the atom states is then of order one
        from the start, which makes training much faster. Call before training (block by block). The
        amplification is capped at 100 (channels that hardly vary, e.g. in perfect crystals).
        """
        for t in range(self.config.n_blocks - 1):
            self._calibration = []
            try:
                for graph in graphs:
                    self(graph)
            finally:
                records, self._calibration = self._calibration, None
            records = [r for r in records if r[0] == t]
            species = torch.cat([r[1] for r in records])
            values = torch.cat([r[2] for r in records]) / self.aggregate_scale[t].index_select(0, species)
            values = values + self.aggregate_mean[t].index_select(0, species)
            for s in range(len(self.config.species)):
                chosen = values[species == s]
                if chosen.shape[0] > 1:
                    self.aggregate_mean[t, s] = chosen.mean(0)
                    self.aggregate_scale[t, s] = 1.0 / chosen.std(0).clamp_min(1e-2)

    @property
    def dtype(self) -> torch.dtype:
        return self.bond_coefficients.dtype

    @property
    def triplet_norm(self) -> float:
        """1 / (expected number of short edges per centre): keeps triplet sums O(1)."""
        cfg = self.config
        return 1.0 / max(1.0, cfg.neighbour_norm * (cfg.triplet_cutoff / cfg.cutoff) ** 3)

    # ------------------------------------------------------------------ geometry
    def _geometry(
        self,
        graph: Graph,
        positions: torch.Tensor,
        atoms: tuple[int, int],
        edges: tuple[int, int],
        whole: bool,
    ) -> _Geometry:
        cfg = self.config
        span = slice(*edges)
        centre = graph.edge_centre[span]
        vectors64 = graph.edge_vectors(positions, span)  # float64: no cancellation error on large cells
        length64 = torch.linalg.vector_norm(vectors64, dim=-1)
        if cfg.angular == 'triplets':
            if whole and graph.triplet_a is not None:
                short, triplet_a, triplet_b = graph.short_edges, graph.triplet_a, graph.triplet_b
            else:
                short, triplet_a, triplet_b = triplets(centre, length64.detach() < cfg.triplet_cutoff)
        else:
            short = graph.short_edges if whole and graph.short_edges is not None else None
            if short is None:
                short = torch.nonzero(length64.detach() < cfg.triplet_cutoff).reshape(-1)
            triplet_a = triplet_b = None
        vectors = vectors64.to(self.dtype)
        length = length64.to(self.dtype)
        unit = vectors / length.unsqueeze(-1)
        envelope = polynomial_envelope(length, cfg.cutoff, cfg.envelope_exponent)
        length_short = length.index_select(0, short)
        envelope_triplet = polynomial_envelope(length_short, cfg.triplet_cutoff, cfg.envelope_exponent)
        unit_short = gather_rows(unit, short)
        local_centre = centre - atoms[0]
        short_local_centre = local_centre.index_select(0, short)
        n_local = atoms[1] - atoms[0]
        slot = angular_matrix = cosine = None
        n_max = 0
        if cfg.angular == 'triplets':
            cos = (gather_rows(unit_short, triplet_a) * gather_rows(unit_short, triplet_b)).sum(-1)
            cosine = cosine_powers(cos, cfg.n_angular)
        elif short.numel() > 0:
            counts = torch.bincount(short_local_centre, minlength=n_local)
            n_max = int(counts.max())
            start = torch.cumsum(counts, 0) - counts
            position = torch.arange(short.numel(), device=short.device) - start.index_select(
                0, short_local_centre
            )
            slot = short_local_centre * n_max + position
            padded = (
                unit.new_zeros(n_local * n_max, 3).index_copy(0, slot, unit_short).view(n_local, n_max, 3)
            )
            cos = (padded.unsqueeze(2) * padded.unsqueeze(1)).sum(-1)  # (n_local, b, a); 0 for padding
            cos = cos * (1.0 - torch.eye(n_max, dtype=cos.dtype, device=cos.device))  # no a = b terms
            occupied = torch.zeros(n_local * n_max, dtype=cos.dtype, device=cos.device)
            occupied = occupied.index_fill(0, slot, 1.0).view(n_local, 1, n_max)
            powers = [occupied * (1.0 - torch.eye(n_max, dtype=cos.dtype, device=cos.device))]
            for _ in range(1, cfg.n_angular):
                powers.append(powers[-1] * cos)
            # (n_local, b, a · M + m): the column order of the padded messages (a, m)
            angular_matrix = torch.stack(powers, dim=-1).reshape(n_local, n_max, n_max * cfg.n_angular)
        return _Geometry(
            centre=centre,
            neighbour=graph.edge_neighbour[span],
            local_centre=local_centre,
            n_local=n_local,
            unit=unit,
            envelope=envelope,
            rbf=bessel_basis(length, cfg.cutoff, cfg.n_radial) * envelope.unsqueeze(-1),
            short=short,
            short_local_centre=short_local_centre,
            envelope_triplet=envelope_triplet,
            rbf_triplet=bessel_basis(length_short, cfg.triplet_cutoff, cfg.n_radial_triplet)
            * envelope_triplet.unsqueeze(-1),
            slot=slot,
            n_max=n_max,
            angular_matrix=angular_matrix,
            triplet_a=triplet_a,
            triplet_b=triplet_b,
            cosine=cosine,
        )

    @staticmethod
    def _chunks(graph: Graph, chunk_size: int | None) -> list[tuple[tuple[int, int], tuple[int, int]]]:
        n = graph.n_atoms
        if chunk_size is None or chunk_size >= n:
            return [((0, n), (0, graph.n_edges))]
        bounds = list(range(0, n, chunk_size)) + [n]
        edge_bounds = torch.searchsorted(
            graph.edge_centre, torch.tensor(bounds, device=graph.edge_centre.device)
        )
        edge_bounds = edge_bounds.tolist()
        return [
            ((bounds[i], bounds[i + 1]), (edge_bounds[i], edge_bounds[i + 1])) for i in range(len(bounds) - 1)
        ]

    # ------------------------------------------------------------------ forward
    def forward(
        self, graph: Graph, positions: torch.Tensor | None = None, chunk_size: int | None = None
    ) -> torch.Tensor:
        """Per-atom dipoles ``p_j`` (N, 3) in e·Å, in the model's dtype.

        Args:
            graph: one structure or a batch (see :func:`aiida_flexo.gnn.graph.batch_graphs`).
            positions: (N, 3) float64 positions to use instead of ``graph.positions`` (e.g. with
                ``requires_grad`` for Born charges); edges and cell shifts are those of ``graph``.
            chunk_size: process the centre atoms in chunks of this many atoms, block by block, so that memory
                stays bounded on large structures (same result as one pass; meant for inference).
        """
        positions = graph.positions if positions is None else positions
        chunks = self._chunks(graph, chunk_size)
        whole = len(chunks) == 1
        cached = self._geometry(graph, positions, *chunks[0], whole=True) if whole else None
        h = self.embedding(graph.species)
        norm = 1.0 / self.config.neighbour_norm
        triplet_norm = self.triplet_norm
        for t, block in enumerate(self.blocks):
            last = t == len(self.blocks) - 1
            neighbour_state = block.lin_neighbour(h)
            centre_state = block.lin_centre(h)
            parts = []
            for atoms, edges in chunks:
                geometry = cached if whole else self._geometry(graph, positions, atoms, edges, whole=False)
                x, update = block.messages(neighbour_state, centre_state, geometry, triplet_norm)
                if last:
                    coefficient = self._coefficients(x, update, geometry, graph)
                    p = torch.zeros(geometry.n_local, 3, dtype=x.dtype, device=x.device)
                    parts.append(
                        p.index_add(0, geometry.local_centre, coefficient.unsqueeze(-1) * geometry.unit)
                    )
                else:
                    aggregate = torch.zeros(geometry.n_local, x.shape[1], dtype=x.dtype, device=x.device)
                    aggregate = aggregate.index_add(
                        0, geometry.local_centre, x * geometry.envelope.unsqueeze(-1)
                    )
                    if update.shape[0]:
                        envelope_short = geometry.envelope.index_select(0, geometry.short).unsqueeze(-1)
                        aggregate = aggregate.index_add(
                            0, geometry.short_local_centre, update * envelope_short
                        )
                    species = graph.species[atoms[0] : atoms[1]]
                    aggregate = (
                        aggregate * norm - gather_rows(self.aggregate_mean[t], species)
                    ) * gather_rows(self.aggregate_scale[t], species)
                    if self._calibration is not None:
                        self._calibration.append((t, species, aggregate.detach()))
                    parts.append(h[atoms[0] : atoms[1]] + self.updates[t](aggregate))
            out = parts[0] if whole else torch.cat(parts)
            if last:
                return out
            h = out
        raise AssertionError('unreachable')

    def _coefficients(
        self, x: torch.Tensor, update: torch.Tensor, geometry: _Geometry, graph: Graph
    ) -> torch.Tensor:
        """Edge coefficients ``c_kj`` (E_chunk,), e·Å, from the messages ``x`` plus the short edges' ``update``."""
        n_species = self.bond_coefficients.shape[0]
        pair = graph.species.index_select(0, geometry.neighbour) * n_species + graph.species.index_select(
            0, geometry.centre
        )
        table = gather_rows(self.bond_coefficients.reshape(n_species * n_species, -1), pair)  # (E, 1 + n)
        bond = geometry.envelope * table[:, 0] + (geometry.rbf * table[:, 1:]).sum(-1)
        learned = self.readout(x).squeeze(-1)
        if update.shape[0]:
            learned = learned.index_add(0, geometry.short, self.readout(update).squeeze(-1))
        return bond + geometry.envelope * self.output_scale * learned

    def bond_design(self, graph: Graph) -> tuple[torch.Tensor, torch.Tensor]:
        """Design matrices of the bond-charge part for one structure (float64), linear in ``B``.

        Returns:
            ``(D, Z)``: cell dipole ``d = D · vec(B)`` with D (3, K) and Born charges
            ``vec(Z*) = Z · vec(B)`` with Z (N·9, K) (rows ordered i, α, β), ``K = S² (1 + n_radial)``.
        """
        cfg = self.config
        n_species = len(cfg.species)
        n_pairs = n_species * n_species
        graph = graph.to('cpu')  # small structures; numpy least squares follows
        vectors = graph.edge_vectors().detach()
        length = torch.linalg.vector_norm(vectors, dim=-1).requires_grad_(True)
        with torch.enable_grad():
            envelope = polynomial_envelope(length, cfg.cutoff, cfg.envelope_exponent)
            basis = torch.cat(
                [
                    envelope.unsqueeze(-1),
                    bessel_basis(length, cfg.cutoff, cfg.n_radial) * envelope.unsqueeze(-1),
                ],
                1,
            )
            g = basis / length.unsqueeze(-1)  # edge dipole per unit coefficient: g(r) r_kj
            slope = torch.stack(
                [torch.autograd.grad(g[:, n].sum(), length, retain_graph=True)[0] for n in range(g.shape[1])],
                1,
            )
        g, length = g.detach(), length.detach()
        k1 = g.shape[1]
        pair = graph.species[graph.edge_neighbour] * n_species + graph.species[graph.edge_centre]
        # ∂(g(r) r_α)/∂r_β = g δ_αβ + g'(r) r_α r_β / r   (derivative with respect to the edge vector)
        outer = vectors.unsqueeze(-1) * vectors.unsqueeze(-2) / length.view(-1, 1, 1)
        jac = g.view(-1, k1, 1, 1) * torch.eye(3, dtype=g.dtype) + slope.view(-1, k1, 1, 1) * outer.unsqueeze(
            1
        )
        n = graph.n_atoms
        z = torch.zeros(n * n_pairs, k1, 3, 3, dtype=g.dtype)
        z.index_add_(0, graph.edge_centre * n_pairs + pair, jac)
        z.index_add_(0, graph.edge_neighbour * n_pairs + pair, -jac)
        z = z.view(n, n_pairs, k1, 3, 3).permute(0, 3, 4, 1, 2).reshape(n * 9, n_pairs * k1)
        d = torch.zeros(n_pairs, k1, 3, dtype=g.dtype).index_add_(
            0, pair, g.unsqueeze(-1) * vectors.unsqueeze(1)
        )
        return d.permute(2, 0, 1).reshape(3, n_pairs * k1), z

    def n_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


def cell_dipoles(per_atom: torch.Tensor, graph: Graph) -> torch.Tensor:
    """Dipole of each structure of a batch, ``d = Σ_j p_j`` (B, 3), e·Å."""
    out = torch.zeros(graph.n_structures, 3, dtype=per_atom.dtype, device=per_atom.device)
    return out.index_add(0, graph.batch, per_atom)


def dipoles_and_born_charges(
    model: DipoleGNN, graph: Graph, create_graph: bool = False
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-atom dipoles, cell dipoles and Born charges ``Z*_i,αβ = ∂d_α/∂r_iβ`` by autograd.

    Returns:
        ``(p, d, Z)``: (N, 3) e·Å, (B, 3) e·Å and (N, 3, 3) e (row α: dipole direction, column β: displacement),
        in the model's dtype. With ``create_graph`` the Born charges stay differentiable with respect to the
        weights (training on Born-charge labels); otherwise all three are detached.
    """
    positions = graph.positions.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        p = model(graph, positions=positions)
        d = cell_dipoles(p, graph)
        rows = []
        for alpha in range(3):
            (grad,) = torch.autograd.grad(
                d[:, alpha].sum(),
                positions,
                create_graph=create_graph,
                retain_graph=create_graph or alpha < 2,
            )
            rows.append(grad.to(p.dtype))
    z = torch.stack(rows, dim=1)
    if not create_graph:
        p, d, z = p.detach(), d.detach(), z.detach()
    return p, d, z


def init_parameters(model: DipoleGNN, seed: int | None = None, zero_readout: bool = True) -> None:
    """(Re-)initialise the weights, deterministically when ``seed`` is given.

    Linear weights are normal with variance 1/fan-in, biases and bond coefficients zero; with ``zero_readout``
    the readout starts at zero, so that an untrained model is exactly its bond-charge part.
    """
    generator = None
    if seed is not None:
        generator = torch.Generator().manual_seed(int(seed))
    for module in model.modules():
        if isinstance(module, nn.Linear):
            with torch.no_grad():
                weight = torch.randn(module.weight.shape, generator=generator, dtype=torch.float64)
                module.weight.copy_(weight / math.sqrt(module.in_features))
                if module.bias is not None:
                    module.bias.zero_()
        elif isinstance(module, nn.Embedding):
            with torch.no_grad():
                module.weight.copy_(
                    torch.randn(module.weight.shape, generator=generator, dtype=torch.float64)
                )
    with torch.no_grad():
        model.bond_coefficients.zero_()
        if zero_readout:
            model.readout.weight.zero_()
