"""Hyperparameters of the dipole GNN (one dataclass, stored with every saved model)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields


@dataclass
class GNNConfig:
    """Hyperparameters of :class:`aiida_flexo.gnn.model.DipoleGNN`.

    Lengths in Å. The defaults are tuned for BaTiO3 (see ``benchmarks/gnn_accuracy.py``): a 5 Å edge cutoff
    (about 42 neighbours per atom), angular (triplet) information from the bonds shorter than 3.5 Å only (about
    170 triplets per atom, which keeps large cells cheap), two interaction blocks (receptive field 2 × 5 Å).

    Attributes:
        species: chemical symbols the model knows, in embedding order.
        cutoff: edge cutoff r_c (Å); every edge coefficient c_kj goes smoothly to zero at r_c.
        triplet_cutoff: angular cutoff r_t ≤ r_c (Å); triplets are pairs of edges shorter than r_t sharing
            their centre atom.
        n_radial: number of radial Bessel functions on the edges.
        n_radial_triplet: number of radial Bessel functions (on [0, r_t]) in the angular basis.
        n_angular: number of powers cos^0 θ … cos^(n_angular-1) θ in the angular basis .
        hidden: width of the atom states.
        edge_channels: width of the edge messages.
        triplet_channels: width of the down-projected messages passed over triplets.
        angular: how the triplet sums are evaluated: ``'dense'`` (default; per-centre padded matrices and one
            batched matrix product) or ``'triplets'`` (explicit triplet list; the reference, same result).
        n_blocks: interaction blocks; the last one produces the edge coefficients.
        envelope_exponent: exponent p of the polynomial cutoff envelope (smooth up to the second derivative).
        neighbour_norm: edge sums onto atoms are divided by this (set to the mean number of neighbours of the
            training frames when training starts).
        output_scale: scale s of the learned many-body part of c_kj (e·Å); its readout starts at zero, so an
            untrained model is exactly its (least-squares fitted) bond-charge part.
        dipole_offset: reference offset of the dipole labels, ``q f`` in e per lattice vector: the labels equal
            ``Σ_j p_j + offset · cell`` modulo quanta. The model's dipole vanishes on centrosymmetric structures,
            where a Berry-phase dipole sits at 0 or ½ of a quantum along each lattice vector, so ``f`` is a
            half-quantum vector: fixed by a labelled centrosymmetric reference frame, or the best of the eight for
            the training labels (:mod:`aiida_flexo.gnn.reference`); this is the offset of the largest training
            group. Only ``TrainConfig.reference_offset='learned'`` (experiments) refines it continuously.
            Predictions (:class:`~aiida_flexo.gnn.predict.DipolePredictor`) are the model's own branch, ``Σ_j p_j``,
            zero at the centrosymmetric reference.
        label_offsets: the reference offset (e per lattice vector, as ``dipole_offset``) chosen for each training
            composition (chemical formula), used to compare labelled frames of that composition with the model.
        dtype: ``'float32'`` (default, fast) or ``'float64'`` (exactness tests).
    """

    species: list[str] = field(default_factory=list)
    cutoff: float = 5.0
    triplet_cutoff: float = 3.5
    n_radial: int = 8
    n_radial_triplet: int = 4
    n_angular: int = 3
    hidden: int = 32
    edge_channels: int = 16
    triplet_channels: int = 8
    angular: str = 'dense'
    n_blocks: int = 2
    envelope_exponent: int = 6
    neighbour_norm: float = 16.0
    output_scale: float = 1.0
    dipole_offset: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0])
    label_offsets: dict[str, list[float]] = field(default_factory=dict)
    dtype: str = 'float32'

    def __post_init__(self) -> None:
        self.species = [str(s) for s in self.species]
        self.dipole_offset = [float(x) for x in self.dipole_offset]
        self.label_offsets = {str(k): [float(x) for x in v] for k, v in (self.label_offsets or {}).items()}
        if len(self.dipole_offset) != 3:
            raise ValueError(f'dipole_offset must have 3 fractional components, got {self.dipole_offset}')
        if len(set(self.species)) != len(self.species):
            raise ValueError(f'GNNConfig.species has duplicates: {self.species}')
        if self.cutoff <= 0:
            raise ValueError(
                f'cutoff must be positive (Å), got {self.cutoff}; use a cutoff above the shortest interatomic '
                'distance of the frames (default 5.0 Å)'
            )
        if not 0 < self.triplet_cutoff <= self.cutoff:
            raise ValueError(
                f'triplet_cutoff must lie in (0, cutoff={self.cutoff}] Å, got {self.triplet_cutoff}'
            )
        if self.n_blocks < 1:
            raise ValueError(f'n_blocks must be at least 1, got {self.n_blocks}')
        if self.dtype not in ('float32', 'float64'):
            raise ValueError(f"dtype must be 'float32' or 'float64', got {self.dtype!r}")
        if self.angular not in ('dense', 'triplets'):
            raise ValueError(f"angular must be 'dense' or 'triplets', got {self.angular!r}")
        for name in (
            'n_radial',
            'n_radial_triplet',
            'n_angular',
            'hidden',
            'edge_channels',
            'triplet_channels',
        ):
            if getattr(self, name) < 1:
                raise ValueError(f'{name} must be a positive integer, got {getattr(self, name)}')

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> GNNConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f'unknown GNNConfig field(s) {sorted(unknown)}; known: {sorted(known)}')
        return cls(**data)
