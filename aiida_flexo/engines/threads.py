"""Keep a DFT process on one core: limit the BLAS thread pools that are already loaded.

``OPENBLAS_NUM_THREADS=1`` only works when it is set before OpenBLAS is loaded. The engine command sets it at
import time, but a driver called from Python (tests, notebooks, a WorkChain's calcfunction) starts after numpy, scipy
and GPAW's system BLAS have loaded theirs. Threaded OpenBLAS on oversubscribed cores spins and can make an SCF
tens of times slower (measured here: a 5-atom BaTiO3 SCF went from 22 s to 10 min on 2 shared cores), so the driver
also sets the pools at run time through each library's ``*openblas_set_num_threads*`` (as threadpoolctl does).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
from collections.abc import Iterator
from pathlib import Path

_SETTERS = (
    'openblas_set_num_threads',
    'openblas_set_num_threads64_',
    'scipy_openblas_set_num_threads64_',
    'scipy_openblas_set_num_threads',
)
_GETTERS = tuple(name.replace('set_num', 'get_num') for name in _SETTERS)
THREAD_VARIABLES = ('OPENBLAS_NUM_THREADS', 'OMP_NUM_THREADS', 'MKL_NUM_THREADS')


def loaded_openblas() -> list[str]:
    """Paths of the OpenBLAS libraries mapped into this process (Linux; empty elsewhere)."""
    maps = Path('/proc/self/maps')
    if not maps.is_file():
        return []
    paths = set()
    for line in maps.read_text().splitlines():
        path = line.split()[-1] if '/' in line else ''
        name = os.path.basename(path).lower()
        if 'openblas' in name or name.startswith('libblas'):
            paths.add(path)
    return sorted(paths)


def _pools() -> dict[str, tuple[object, object | None]]:
    """{path: (setter, getter)} of the loaded OpenBLAS libraries that expose a thread setter."""
    pools: dict[str, tuple[object, object | None]] = {}
    for path in loaded_openblas():
        try:
            library = ctypes.CDLL(path)
        except OSError:
            continue
        for setter, getter in zip(_SETTERS, _GETTERS):
            function = getattr(library, setter, None)
            if function is not None:
                pools[path] = (function, getattr(library, getter, None))
                break
    return pools


def blas_threads() -> dict[str, int]:
    """``{library path: threads}`` of the loaded OpenBLAS pools (those that report it)."""
    return {path: int(get()) for path, (_, get) in _pools().items() if get is not None}


def limit_blas_threads(n: int = 1) -> dict[str, int]:
    """Set every loaded OpenBLAS to ``n`` threads and the thread variables (for child processes).

    Returns ``{library path: threads before}`` (what :func:`restore_blas_threads` takes).
    """
    for variable in THREAD_VARIABLES:
        os.environ[variable] = str(n)
    before: dict[str, int] = {}
    for path, (set_, get) in _pools().items():
        before[path] = int(get()) if get is not None else n
        set_(ctypes.c_int(n))
    return before


def restore_blas_threads(before: dict[str, int]) -> None:
    """Give the pools back the thread counts returned by :func:`limit_blas_threads`."""
    for path, (set_, _) in _pools().items():
        if path in before:
            set_(ctypes.c_int(before[path]))


@contextlib.contextmanager
def single_threaded_blas() -> Iterator[dict[str, int]]:
    """Run a block with every loaded OpenBLAS on one thread (and the thread variables at 1), then restore them."""
    saved_env = {variable: os.environ.get(variable) for variable in THREAD_VARIABLES}
    before = limit_blas_threads(1)
    try:
        yield blas_threads()
    finally:
        restore_blas_threads(before)
        for variable, value in saved_env.items():
            if value is None:
                os.environ.pop(variable, None)
            else:
                os.environ[variable] = value
