"""Which atoms a user means: the fix specs of the relaxation, the MD and the flexo supercells.

A spec is ``None``/``''`` (no atoms), species (``'Ba'``, ``'Ba,O'``) or 0-based atom indices (``'0,3,5'``,
``[0, 3, 5]``; negative indices count from the end). The flexo supercell builder adds ``'sublattice:K'``
(:func:`aiida_flexo.flexo.supercell.fixed_sublattice`), which needs the supercell's bulk-atom map.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from ase import Atoms


def parse_fix(spec: str | Sequence[int] | None, atoms: Atoms) -> list[int]:
    """Indices of the atoms to hold fixed.

    Args:
        spec: ``None`` or ``''`` -> ``[]``; species such as ``'Ba'`` or ``'Ba,O'`` -> all atoms of those species;
            indices such as ``'0,3,5'`` or ``[0, 3, 5]`` -> those atoms (0-based; negative indices count from the
            end as in Python).
        atoms: the structure.

    Returns:
        Sorted unique indices.

    Raises:
        ValueError: unknown species, an index out of range, or a mix of species and indices.
    """
    if spec is None:
        return []
    n = len(atoms)
    if isinstance(spec, (int, np.integer)) and not isinstance(spec, bool):
        return _check_indices([int(spec)], n)
    if isinstance(spec, str):
        tokens = [t.strip() for t in spec.replace(' ', ',').split(',') if t.strip()]
        if not tokens:
            return []
        is_index = [_is_int(t) for t in tokens]
        if all(is_index):
            return _check_indices([int(t) for t in tokens], n)
        if any(is_index):
            raise ValueError(f'fix spec {spec!r} mixes species and indices; give either species or indices')
        symbols = np.array(atoms.get_chemical_symbols())
        present = sorted(set(atoms.get_chemical_symbols()))
        unknown = [t for t in tokens if t not in present]
        if unknown:
            raise ValueError(
                f'fix spec {spec!r}: species {unknown} not in the structure (species present: {", ".join(present)}); '
                'give chemical symbols present in the structure or 0-based atom indices'
            )
        return sorted(int(i) for i in np.flatnonzero(np.isin(symbols, tokens)))
    try:
        indices = [int(i) for i in spec]
    except (TypeError, ValueError) as exc:
        raise ValueError(f'fix spec {spec!r} is neither a string nor a sequence of integers') from exc
    if any(float(i) != float(j) for i, j in zip(indices, spec)):
        raise ValueError(f'fix spec {spec!r}: indices must be integers')
    return _check_indices(indices, n)


def _is_int(token: str) -> bool:
    try:
        int(token)
    except ValueError:
        return False
    return True


def _check_indices(indices: Sequence[int], n: int) -> list[int]:
    bad = [i for i in indices if not -n <= i < n]
    if bad:
        raise ValueError(f'fix indices {bad} out of range for a structure of {n} atoms (valid: 0..{n - 1})')
    return sorted({i % n for i in indices})
