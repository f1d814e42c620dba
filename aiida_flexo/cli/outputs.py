"""Output paths of the commands: a user's file is never replaced without ``--overwrite``, never equal to an input.

Every command that writes files checks its outputs with :func:`refuse_existing` *before* any work, and offers
:func:`overwrite_option`.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import click

from aiida_flexo.cli import fail


def overwrite_option(what: str = 'output files'):
    """The ``--overwrite`` flag of a command writing ``what``."""
    return click.option('--overwrite', is_flag=True, help=f'Replace existing {what} (refused otherwise).')


def _same(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return False


def refuse_existing(
    overwrite: bool,
    *paths: Path | str | None,
    inputs: Iterable[Path | str | None] = (),
    keep: Path | str | None = None,
    folder: bool = False,
) -> None:
    """Stop with a clear error before any work when an output cannot be written safely.

    - an output equal to an input is always refused (``--overwrite`` or not): the input would be destroyed;
    - an existing output is refused unless ``overwrite`` (``keep``: a file meant to grow, e.g. a resumed log);
    - an output whose folder does not exist is refused (``folder=True``: the output is itself a folder, made later);
    - an output file that is an existing folder (or a folder output that is an existing file) is refused.
    """
    given_inputs = [Path(p) for p in inputs if p is not None]
    for raw in paths:
        if raw is None:
            continue
        path = Path(raw)
        for source in given_inputs:
            if _same(path, source):
                fail(
                    f'the output {path} is also an input: choose another output path (the input would be replaced)'
                )
        if folder and path.exists() and not path.is_dir():
            fail(f'{path} is a file, not a folder: choose another output folder')
        if not folder and path.is_dir():
            fail(f'{path} is a folder: give a file name for this output')
        if not folder and not path.parent.exists():
            fail(f'the folder {path.parent} does not exist: create it first or choose another path')
        if overwrite or (keep is not None and _same(path, Path(keep))):
            continue
        if folder and path.is_dir() and any(path.iterdir()):
            fail(f'the folder {path} exists and is not empty; choose another folder or pass --overwrite')
        if not folder and path.exists():
            fail(f'{path} exists; choose another file name or pass --overwrite')
