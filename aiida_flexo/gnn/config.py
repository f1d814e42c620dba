"""Hyperparameters of the dipole GNN and settings of its training (dataclasses without torch, stored with every
saved model and checkpoint; the fields marked with :func:`~aiida_flexo.settings.option` are the user settings)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

from aiida_flexo.settings import option


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
    # fields with metadata=option(...) are user settings (aiida_flexo.settings, aiida_flexo.gnn.settings)
    cutoff: float = field(default=5.0, metadata=option('Edge cutoff, Å.'))
    triplet_cutoff: float = field(
        default=3.5, metadata=option('Angular (triplet) cutoff, Å (at most the edge cutoff).')
    )
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
    dtype: str = field(
        default='float32',
        metadata=option(
            'Model precision (float64: slower; exact finite-difference checks).',
            choices=('float32', 'float64'),
        ),
    )

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


#: the ways dipole labels are compared with the model (:attr:`TrainConfig.label_branches`)
LABEL_BRANCHES = ('folded', 'reference', 'fixed', 'perovskite-born')
#: how the labels' reference offset is set (:attr:`TrainConfig.reference_offset`)
REFERENCE_OFFSETS = ('reference', 'learned', 'zero')


@dataclass
class TrainConfig:
    """Settings of a training run (all stored in the checkpoint and in metrics.json).

    Attributes:
        epochs: maximum number of epochs.
        batch_size: frames per optimisation step.
        lr: initial Adam learning rate.
        weight_decay: Adam weight decay.
        dipole_weight: weight w_d of the folded dipole loss (squared error per atom), atom/(e·Å)².
        bec_weight: weight w_Z of the Born-charge loss, 1/e²; ``None``: 1 when every frame has Born charges,
            else 0. A positive weight needs Born charges in every training and validation frame.
        seed: seed of the weights, the split and the batch order.
        fractions: train/validation/test fractions of the split.
        lr_factor, lr_patience, min_lr: reduce-on-plateau schedule on the validation loss.
        patience: early stopping after this many epochs without validation improvement.
        max_time: stop after this many seconds (wall time of the epochs), checkpoint kept.
        device: torch device (``'cpu'``, ``'cuda'``, ...).
        threads: torch CPU threads (default 1: the graphs of small training cells gain little from threads, and
            on shared cores more threads are much slower; ``None`` keeps torch's setting).
        bond_lr_factor: learning rate of the bond-charge coefficients relative to ``lr`` (they start at their
            least-squares values).
        reference_offset: the offset between the model's dipoles and the labels' branch
            (:mod:`aiida_flexo.gnn.reference`): ``'reference'`` (default with folded labels: a half-quantum vector
            per composition, 0 or ½ of a quantum along each lattice vector, fixed by a labelled centrosymmetric
            reference frame where the frames include one, else the best of the eight for the training labels;
            ``'half-quantum'`` is the same), ``'zero'`` (default with fixed branches) or ``'learned'``
            (experiments only: after every epoch the least-squares constant that removes the mean training
            residual; a value that leaves {0, ½} is reported as a warning, since no centrosymmetric reference
            can have it).
        label_branches: how the multivalued dipole labels are compared with the model: ``None`` (default:
            ``'reference'`` when the frames include a labelled reference, path frames at λ = 0, else
            ``'folded'``), ``'reference'`` (the labels of frames on a path from a centrosymmetric reference are
            put on the branch continuous from it and fitted as they are,
            :func:`aiida_flexo.polarization.reference.align_to_references`; other frames folded), ``'folded'``
            (minimum-image residuals, any branch per label), ``'fixed'`` (the labels are already on one
            single-valued branch, zero at centrosymmetric structures: plain residuals) or ``'perovskite-born'``
            (ABO3 frames: each label is first moved onto the branch closest to its Born-charge dipole,
            :func:`aiida_flexo.polarization.perovskite.align_perovskite_dipoles`, then fitted as ``'fixed'``). Fixed branches
            are needed when the polar dipoles of the cells come close to half a quantum (5-atom PbTiO3 cells):
            there a folded loss lets the network settle on wrapped branches.
        bec_estimator: ``'projected'`` (default: one backward pass per step with random sign projections of
            the Born-charge error, unbiased, about 2.4× faster) or ``'exact'`` (three passes). Validation and
            metrics always use the exact Born charges.
        ema_decay: exponential moving average of the weights (per step, warmed up as min(decay, (1+n)/(10+n)));
            the averaged model is validated, checkpointed as best and returned. It smooths out the step noise of
            the absolute cell dipole, which depends on every weight; 0 switches it off.
        init_model: start from the weights, hyperparameters and reference offset of this ``model.pt``
            (fine-tuning; no calibration or bond-model fit).
        fit_bond_model: start from the least-squares radial bond-charge model and choose the labels' reference
            offset (recommended).
        bond_rcond: relative singular-value cut-off of that least-squares fit (columns scaled to unit norm).
            Pairs whose training distances span a narrow range (e.g. A–B pairs of 5-atom perovskite cells) make the
            radial basis nearly collinear; without a cut-off their coefficients grow to ~10⁶ e·Å, cancel within
            the training range and blow up outside it (a 2.45 Å Sr–Ti pair of an MD frame gave 1,300 e·Å). 1e-3
            keeps them of order e·Å at the same training accuracy.
    """

    # fields with metadata=option(...) are the user settings (CLI, CalcJob, protocols: aiida_flexo.gnn.settings)
    epochs: int = field(default=600, metadata=option('Maximum number of epochs.'))
    batch_size: int = field(default=4, metadata=option('Frames per optimisation step.'))
    lr: float = field(default=5e-3, metadata=option('Initial learning rate (Adam).'))
    weight_decay: float = 0.0
    dipole_weight: float = field(
        default=1.0,
        metadata=option('Weight of the folded dipole loss (squared error per atom), atom/(e·Å)².'),
    )
    bec_weight: float | None = field(
        default=None,
        metadata=option(
            'Weight of the Born-charge loss, 1/e² (automatic: 1 when every frame has Born charges, else 0).'
        ),
    )
    seed: int = field(default=0, metadata=option('Seed of the weights, the split and the batch order.'))
    fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)
    lr_factor: float = 0.5
    lr_patience: int = 15
    min_lr: float = 1e-5
    patience: int = field(
        default=50, metadata=option('Early stopping after this many epochs without improvement.')
    )
    max_time: float | None = field(
        default=None,
        metadata=option(
            'Wall-time limit of the training (seconds, or 45m, 2h, 00:30:00), counted across resumed runs '
            '(checkpoint kept).',
            default_text='no limit',
            duration=True,
        ),
    )
    device: str = 'cpu'
    threads: int | None = field(default=1, metadata=option('torch CPU threads.'))
    fit_bond_model: bool = True
    bond_rcond: float = field(
        default=1e-3,
        metadata=option(
            'Relative singular-value cut-off of the least-squares bond-charge start; smaller fits the training '
            'frames more closely but lets pairs seen at few distances extrapolate wildly.'
        ),
    )
    bond_lr_factor: float = 0.01
    reference_offset: str | None = field(
        default=None,
        metadata=option(
            'Offset between the model dipole (zero for centrosymmetric cells) and the labels: reference: 0 or ½ of a '
            'quantum per lattice vector, fixed by a labelled centrosymmetric reference frame or the best of the eight '
            'per composition (half-quantum: the same); zero; learned: refined continuously after each epoch '
            '(experiments: warns when it leaves 0 or ½) (automatic: reference, zero with fixed branches).',
            choices=('reference', 'zero', 'learned', 'half-quantum'),
        ),
    )
    label_branches: str | None = field(
        default=None,
        metadata=option(
            'How dipole labels (known modulo quanta) meet the model: reference: labels of the paths from a labelled '
            'centrosymmetric reference put on the branch continuous from it, others folded; folded: minimum-image '
            'residuals; fixed: labels already on one branch; perovskite-born: ABO3 labels first moved to the branch '
            'of their Born-charge dipole (small perovskite cells with no reference frame) (automatic: reference when '
            'the frames include a reference frame, else folded).',
            choices=LABEL_BRANCHES,
        ),
    )
    bec_estimator: str = 'projected'
    ema_decay: float = 0.99
    init_model: str | None = None

    def __post_init__(self) -> None:
        self.fractions = tuple(float(f) for f in self.fractions)
        if self.epochs < 0 or self.batch_size < 1 or self.lr <= 0:
            raise ValueError('epochs must be ≥ 0, batch_size ≥ 1 and lr > 0')
        if self.label_branches is not None and self.label_branches not in LABEL_BRANCHES:
            raise ValueError(f'label_branches must be one of {LABEL_BRANCHES}, got {self.label_branches!r}')
        if self.reference_offset == 'half-quantum':
            self.reference_offset = 'reference'
        if self.reference_offset is None:
            self.reference_offset = 'reference' if self.fold_labels else 'zero'
        if self.reference_offset not in REFERENCE_OFFSETS:
            raise ValueError(
                f'reference_offset must be one of {REFERENCE_OFFSETS}, got {self.reference_offset!r}'
            )
        if self.bec_estimator not in ('projected', 'exact'):
            raise ValueError(f"bec_estimator must be 'projected' or 'exact', got {self.bec_estimator!r}")
        if self.bec_weight is not None and self.bec_weight < 0:
            raise ValueError(f'bec_weight must be non-negative, got {self.bec_weight}')
        if not 0 <= self.bond_rcond < 1:
            raise ValueError(
                f'bond_rcond must be in [0, 1) (relative singular-value cut-off), got {self.bond_rcond}'
            )

    @property
    def fold_labels(self) -> bool:
        """Whether dipole residuals of frames not on a fixed branch are folded to their minimum image."""
        return self.label_branches in (None, 'folded', 'reference')
