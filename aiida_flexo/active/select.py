"""Which explored frames a generation sends to DFT: the most uncertain above a floor, and not neighbours of each other.

Frames of one MD trajectory a few steps apart are nearly the same configuration: labelling several of them spends
DFT on one environment. The selection is greedy by score (descending) and skips a frame that lies within
``min_separation`` steps of an already chosen frame of the same trajectory, or (with ``features``) within
``min_distance`` of a chosen frame's feature vector.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def select_diverse(
    scores: Sequence[float],
    k: int,
    floor: float = 0.0,
    groups: Sequence[str] | None = None,
    steps: Sequence[int] | None = None,
    min_separation: int = 1,
    features: np.ndarray | None = None,
    min_distance: float = 0.0,
) -> list[int]:
    """Indices of at most ``k`` frames with ``score > floor``, highest first, mutually diverse.

    Args:
        scores: one uncertainty per frame (e.g. the committee's largest per-atom force deviation, meV/Å). NaN
            scores are refused: a model that returns NaN is broken, not uncertain.
        groups: trajectory of each frame (frames of different groups are never neighbours).
        steps: position of each frame in its trajectory (MD step or frame counter).
        min_separation: frames of one group closer than this many steps are neighbours.
        features: (n, d) descriptors; frames closer than ``min_distance`` (Euclidean) are neighbours.
    """
    scores = np.asarray(scores, dtype=float).reshape(-1)
    if np.any(~np.isfinite(scores)):
        bad = np.flatnonzero(~np.isfinite(scores))[:5].tolist()
        raise ValueError(f'uncertainty scores of frames {bad} are not finite: the committee produced NaN/inf')
    if k < 0:
        raise ValueError(f'k = {k}: the number of frames to select cannot be negative')
    n = len(scores)
    groups = list(groups) if groups is not None else [''] * n
    steps = np.asarray(steps if steps is not None else np.arange(n), dtype=int)
    if len(groups) != n or len(steps) != n:
        raise ValueError('groups and steps need one entry per score')
    feats = None if features is None else np.asarray(features, dtype=float).reshape(n, -1)
    chosen: list[int] = []
    for i in np.argsort(-scores, kind='stable'):
        if len(chosen) >= k or scores[i] <= floor:
            break
        near = any(
            (groups[j] == groups[i] and abs(int(steps[j]) - int(steps[i])) < min_separation)
            or (feats is not None and np.linalg.norm(feats[j] - feats[i]) < min_distance)
            for j in chosen
        )
        if not near:
            chosen.append(int(i))
    return chosen
