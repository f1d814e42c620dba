"""Atomic file writes: a checkpoint, a log or a result is either the old file or the complete new one, never half.

A SIGTERM (walltime, ``scancel``) in the middle of a write used to leave a truncated checkpoint that ``--resume``
could not read. Every write of a file a later step reads goes through :func:`atomic_path`: write to a temporary file
in the same folder, flush it to disk, then ``os.replace`` it onto the target (atomic on POSIX).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_path(path: Path | str) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success it replaces ``path`` atomically, on error it is removed."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=f'.{target.name}.', suffix='.part', dir=target.parent)
    os.close(handle)
    temporary = Path(name)
    try:
        yield temporary
        with open(temporary, 'rb+') as stream:
            os.fsync(stream.fileno())
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)


def write_text(path: Path | str, text: str) -> None:
    """Write ``text`` to ``path`` atomically."""
    with atomic_path(path) as temporary:
        temporary.write_text(text)


def write_bytes(path: Path | str, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as temporary:
        temporary.write_bytes(data)


def torch_save(obj, path: Path | str) -> None:
    """``torch.save`` to ``path`` atomically (checkpoints)."""
    import torch

    with atomic_path(path) as temporary:
        torch.save(obj, temporary)
