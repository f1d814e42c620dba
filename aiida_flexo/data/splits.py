"""Reproducible train/validation/test splits of a frame set."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

DEFAULT_FRACTIONS = (0.8, 0.1, 0.1)


@dataclass(frozen=True)
class Split:
    """Frame indices of each subset; storable as JSON."""

    train: tuple[int, ...]
    val: tuple[int, ...]
    test: tuple[int, ...]
    seed: int

    def to_json(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_text(json.dumps(asdict(self), indent=1))
        return path

    @classmethod
    def from_json(cls, path: str | Path) -> Split:
        data = json.loads(Path(path).read_text())
        return cls(tuple(data['train']), tuple(data['val']), tuple(data['test']), int(data['seed']))

    def as_dict(self) -> dict:
        return {'train': list(self.train), 'val': list(self.val), 'test': list(self.test), 'seed': self.seed}


def make_split(
    n_frames: int,
    fractions: tuple[float, float, float] = DEFAULT_FRACTIONS,
    seed: int = 0,
) -> Split:
    """Shuffle ``range(n_frames)`` with ``seed`` and cut it into train/val/test by ``fractions``.

    Every subset gets at least one frame when ``n_frames >= 3`` and its fraction is positive; the test and
    validation sizes are rounded, the training set takes the rest.
    """
    fractions = tuple(float(f) for f in fractions)
    if len(fractions) != 3 or any(f < 0 for f in fractions) or abs(sum(fractions) - 1.0) > 1e-6:
        raise ValueError(f'split fractions must be three non-negative numbers summing to 1, got {fractions}')
    if n_frames < 1:
        raise ValueError('cannot split an empty frame set')
    order = np.random.default_rng(seed).permutation(n_frames)
    n_test = int(round(fractions[2] * n_frames))
    n_val = int(round(fractions[1] * n_frames))
    if n_frames >= 3:
        n_test = max(n_test, 1 if fractions[2] > 0 else 0)
        n_val = max(n_val, 1 if fractions[1] > 0 else 0)
    n_train = n_frames - n_test - n_val
    if n_train < 1:
        raise ValueError(
            f'{n_frames} frames are too few for the split {fractions}: no training frame is left'
        )
    test = tuple(int(i) for i in sorted(order[:n_test]))
    val = tuple(int(i) for i in sorted(order[n_test : n_test + n_val]))
    train = tuple(int(i) for i in sorted(order[n_test + n_val :]))
    return Split(train=train, val=val, test=test, seed=seed)


def committee_split(base: Split, member: int) -> Split:
    """The split of committee member ``member``: ``base``'s test frames, its train + validation frames reshuffled.

    Member 0 keeps ``base`` itself (a committee of one is the plain training); the others draw their validation
    frames (as many as ``base`` has) from the same pool with seed ``base.seed + member``, so every member is
    scored on held-out frames no member was trained on.
    """
    if member < 0:
        raise ValueError(f'committee member index must be >= 0, got {member}')
    if member == 0:
        return base
    pool = np.array(sorted(base.train + base.val))
    order = np.random.default_rng([base.seed, member]).permutation(len(pool))
    n_val = len(base.val)
    val = tuple(int(i) for i in sorted(pool[order[:n_val]]))
    train = tuple(int(i) for i in sorted(pool[order[n_val:]]))
    return Split(train=train, val=val, test=base.test, seed=base.seed + member)
