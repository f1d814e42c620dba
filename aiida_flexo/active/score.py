"""Uncertainty of explored frames: the potential committee's force deviation and the GNN committee's dipole deviation.

Force deviation (meV/Å): the largest over the atoms of the per-atom standard deviation of the members' forces,
written into each frame (``info['force_std_max_meV_A']``) by the committee that explored it (``mlip sample`` with a
committee model). Dipole deviation (e·Å): the standard deviation over the GNN members of the frame's total dipole
(label convention: the model's dipole plus its reference offset), the length of the per-component deviation vector,
each member folded onto the branch of the first over the lattice of quanta (members trained on the same frames
share their reference offsets; the folding guards against a half-quantum flip in a far-off frame).

A frame is a candidate when either deviation exceeds its floor and no deviation exceeds its ceiling (a frame the
committee disagrees on by that much is unphysical: an exploded MD, atoms on top of each other; DP-GEN's trust
window). Candidates are ranked by the larger of the two deviations in units of their floors.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
from ase import Atoms

from aiida_flexo.active.select import select_diverse
from aiida_flexo.polarization.quanta import minimum_image_batch
from aiida_flexo.settings import Setting, by_name, option, settings_of

FORCE_KEY = 'force_std_max_meV_A'


@dataclass(frozen=True)
class SelectSettings:
    """How a generation picks the frames it sends to DFT.

    Attributes:
        per_generation: at most this many frames (K).
        force_floor: force deviation (meV/Å) above which a frame is uncertain.
        dipole_floor: dipole deviation (e·Å) above which a frame is uncertain.
        force_ceiling: force deviation (meV/Å) above which a frame is discarded as unphysical (None: no ceiling).
        min_separation: frames of one MD run closer than this many kept frames are neighbours (only one is taken).
    """

    # fields with metadata=option(...) are the user settings (`active select`/`active submit` options, the
    # flexo.active.select parameters, the protocols' `select` keys; aiida_flexo.settings)
    per_generation: int = field(default=8, metadata=option('At most this many frames (K) per generation.'))
    force_floor: float = field(
        default=50.0, metadata=option('Force deviation above which a frame is uncertain, meV/Å.')
    )
    dipole_floor: float = field(
        default=0.05, metadata=option('Dipole deviation above which a frame is uncertain, e·Å.')
    )
    force_ceiling: float | None = field(
        default=2000.0,
        metadata=option('Force deviation above which a frame is unphysical (discarded), meV/Å.'),
    )
    min_separation: int = field(default=2, metadata=option('Kept MD frames between two picks of one run.'))

    def __post_init__(self) -> None:
        if isinstance(self.per_generation, bool) or int(self.per_generation) != self.per_generation:
            raise ValueError(f'per_generation = {self.per_generation!r}: must be a whole number of frames')
        if self.per_generation < 1:
            raise ValueError(f'per_generation = {self.per_generation}: at least one frame per generation')
        for name in ('force_floor', 'dipole_floor'):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and np.isfinite(value) and value > 0):
                raise ValueError(f'{name} = {value!r}: a threshold must be a positive number')
        if self.force_ceiling is not None and not self.force_ceiling > self.force_floor:
            raise ValueError(
                f'force_ceiling = {self.force_ceiling} must lie above force_floor = {self.force_floor} (meV/Å)'
            )
        if self.min_separation < 1:
            raise ValueError(f'min_separation = {self.min_separation}: must be at least 1')

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> SelectSettings:
        unknown = sorted(set(data) - set(cls.__dataclass_fields__))
        if unknown:
            raise ValueError(
                f'unknown selection setting(s) {unknown}; known: {sorted(cls.__dataclass_fields__)}'
            )
        return cls(**data)


def dipole_deviation(predictors: Sequence, frames: Sequence[Atoms]) -> np.ndarray:
    """Committee deviation (e·Å) of each frame's total dipole over the GNN ``predictors`` (at least two)."""
    from aiida_flexo.gnn.evaluate import reference_offsets

    if len(predictors) < 2:
        raise ValueError('a dipole deviation needs a committee of at least two GNNs')
    cells = np.stack([np.asarray(a.cell[:], dtype=float) for a in frames])
    quanta = np.array([float(a.info.get('charge_quantum', 2.0)) for a in frames])
    members = [p.dipoles(frames) + reference_offsets(p, frames) for p in predictors]
    first = members[0]
    aligned = [first] + [first + minimum_image_batch(m - first, cells, quanta) for m in members[1:]]
    stack = np.stack(aligned)  # (members, frames, 3)
    return np.linalg.norm(stack.std(axis=0, ddof=1), axis=1)


def score_frames(
    frames: Sequence[Atoms], settings: SelectSettings, dipole_std: np.ndarray | None = None
) -> dict:
    """Scores, candidates and the diverse selection of explored ``frames``.

    Args:
        frames: explored frames with ``info['force_std_max_meV_A']`` (committee exploration).
        dipole_std: (n,) dipole deviation (e·Å) of each frame, or None (potential committee only).

    Returns:
        ``selected`` (indices), ``force_std_max_meV_A`` and ``dipole_std_eA`` (per frame lists), ``n_candidates``,
        ``n_above_ceiling``, ``max``/``mean`` of each deviation, ``converged`` (no candidate at all).
    """
    if not frames:
        raise ValueError('no explored frame to score')
    missing = [i for i, a in enumerate(frames) if FORCE_KEY not in a.info]
    if missing:
        raise ValueError(
            f'explored frames {missing[:5]} carry no {FORCE_KEY}: explore with a committee potential '
            '(mlip train --committee K, K >= 2)'
        )
    force = np.array([float(a.info[FORCE_KEY]) for a in frames])
    dipole = np.zeros(len(frames)) if dipole_std is None else np.asarray(dipole_std, dtype=float)
    for name, values in (('force', force), ('dipole', dipole)):
        if not np.all(np.isfinite(values)):
            raise ValueError(
                f'{name} deviations of some explored frames are not finite: a committee member is broken'
            )
    ratio = np.maximum(force / settings.force_floor, dipole / settings.dipole_floor)
    unphysical = (
        force > settings.force_ceiling if settings.force_ceiling is not None else np.zeros(len(frames), bool)
    )
    score = np.where(unphysical, 0.0, ratio)
    groups = [
        f'{a.info.get("structure_index", "")}:{a.info.get("temperature_K", "")}:{a.info.get("teacher_source", "")}'
        if a.info.get('teacher_source') == 'md'
        else f'single:{i}'
        for i, a in enumerate(frames)
    ]
    steps = list(range(len(frames)))  # kept MD frames are consecutive within their run
    selected = select_diverse(
        score,
        settings.per_generation,
        floor=1.0,
        groups=groups,
        steps=steps,
        min_separation=settings.min_separation,
    )
    return {
        'selected': selected,
        'force_std_max_meV_A': force.tolist(),
        'dipole_std_eA': None if dipole_std is None else dipole.tolist(),
        'n_frames': len(frames),
        'n_candidates': int(np.sum(score > 1.0)),
        'n_above_ceiling': int(np.sum(unphysical)),
        'force_std_max': float(force.max()),
        'force_std_mean': float(force.mean()),
        'dipole_std_max': None if dipole_std is None else float(dipole.max()),
        'dipole_std_mean': None if dipole_std is None else float(dipole.mean()),
        'converged': bool(np.sum(score > 1.0) == 0),
        'settings': settings.as_dict(),
    }


def select_settings_table() -> dict[str, Setting]:
    """Every setting of a generation's selection (``active select``, ``flexo.active.select``), by name."""
    return by_name(settings_of(SelectSettings, 'select'))
