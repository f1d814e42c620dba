"""Periodic cells cut from a large supercell, small enough for DFT, with the supercell's local environments.

A supercell made of ``repeat`` = (n1, n2, n3) copies of a unit cell (a flexo supercell, a superlattice) is cut
into a block of ``size`` = (m1, m2, m3) cells starting at cell ``start``. The block keeps the atoms of those cells
with their positions relative to each other exactly as in the supercell (fractional coordinates of the supercell
are rescaled, so every distance inside the block is the supercell's); its cell is the supercell's scaled by m/n
along each axis. Only the bonds across the block's own faces differ from the supercell: where the supercell is
strained non-uniformly (a strain gradient), the block's periodic image sits at the supercell's mean lattice
parameter, a mismatch of (local − mean strain) × block length, a few mÅ for the flexo strains (≤ 1 %).

Units: Å. Cell indices are 0-based integer coordinates of a cell in the supercell grid.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from ase import Atoms


class CutoutError(ValueError):
    """A cut-out that cannot be made (block larger than the supercell, too many atoms, missing assignment)."""


def _triple(values, what: str) -> np.ndarray:
    array = np.asarray(values, dtype=int).reshape(-1)
    if array.shape != (3,):
        raise CutoutError(f'{what} must have three integers (one per lattice vector), got {values!r}')
    return array


def cut_block(
    atoms: Atoms,
    cell_index: np.ndarray,
    repeat: Sequence[int],
    start: Sequence[int],
    size: Sequence[int],
) -> Atoms:
    """The block of ``size`` cells starting at cell ``start`` of a supercell of ``repeat`` cells, as a periodic cell.

    Args:
        atoms: the supercell (any positions: relaxed, annealed; its cell is ``repeat`` unit cells).
        cell_index: (n_atoms, 3) cell of each atom in the supercell grid (the undistorted assignment).
        repeat: number of cells along each lattice vector of ``atoms``.
        start: first cell of the block (periodic: a block may wrap around the supercell's boundary).
        size: number of cells of the block along each lattice vector (1 ≤ size ≤ repeat).

    Returns:
        The block, with ``info['cutout_start']``, ``info['cutout_size']`` and ``info['supercell_index']`` (the index
        of each of its atoms in ``atoms``; info, so that it survives a flexo.frames node).
    """
    repeat, start, size = _triple(repeat, 'repeat'), _triple(start, 'start'), _triple(size, 'size')
    cell_index = np.asarray(cell_index, dtype=int).reshape(-1, 3)
    if len(cell_index) != len(atoms):
        raise CutoutError(f'cell_index has {len(cell_index)} rows for {len(atoms)} atoms')
    if np.any(repeat < 1) or np.any(size < 1) or np.any(size > repeat):
        raise CutoutError(
            f'block size {size.tolist()} must lie between 1 and the supercell repeat {repeat.tolist()}'
        )
    offset = np.mod(cell_index - start, repeat)  # cell of each atom relative to the block's first cell
    inside = np.all(offset < size, axis=1)
    if not np.any(inside):
        raise CutoutError(f'no atom in the block starting at cell {start.tolist()}')
    continuous = atoms.get_scaled_positions(wrap=False)[inside] * repeat - start  # in units of cells
    # bring each atom next to its own cell (unwraps blocks that cross the supercell's periodic boundary)
    continuous += repeat * np.round((offset[inside] + 0.5 - continuous) / repeat)
    cell = np.asarray(atoms.cell.array) * (size / repeat)[:, None]
    block = Atoms(
        numbers=atoms.numbers[inside],
        scaled_positions=continuous / size,
        cell=cell,
        pbc=True,
    )
    block.info['supercell_index'] = np.flatnonzero(inside).tolist()
    block.info['cutout_start'] = start.tolist()
    block.info['cutout_size'] = size.tolist()
    return block


def grid_cutouts(
    atoms: Atoms,
    cell_index: np.ndarray,
    repeat: Sequence[int],
    size: Sequence[int],
    starts: Sequence[Sequence[int]],
    max_atoms: int | None = None,
) -> list[Atoms]:
    """Blocks of ``size`` cells at each of ``starts`` (see :func:`cut_block`); refuses blocks above ``max_atoms``."""
    blocks = [cut_block(atoms, cell_index, repeat, start, size) for start in starts]
    if max_atoms is not None:
        largest = max(len(b) for b in blocks)
        if largest > max_atoms:
            raise CutoutError(
                f'a cut-out of {list(size)} cells has {largest} atoms, more than max_atoms = {max_atoms}: cut a '
                'smaller block (fewer cells along the axes you can spare) or raise max_atoms'
            )
    return blocks


def flexo_cutouts(
    supercell,
    relaxed: Atoms,
    cells_along_gradient: int = 2,
    count: int = 2,
    max_atoms: int | None = None,
) -> list[Atoms]:
    """Blocks of a relaxed flexo supercell: the full cross-section × ``cells_along_gradient`` cells, ``count`` of them.

    The blocks start at cells spread evenly along the gradient axis; the first starts where |strain gradient| is
    largest (a 1×1×N sine supercell: the strain node), so the environments μ is most sensitive to are checked first.
    Each block records ``strain`` and ``strain_gradient_per_A`` of its first cell.

    Args:
        supercell: the :class:`aiida_flexo.flexo.supercell.FlexoSupercell` the structure was built from.
        relaxed: its relaxed structure (same atom order).
    """
    if len(relaxed) != len(supercell.atoms):
        raise CutoutError(
            f'the relaxed structure has {len(relaxed)} atoms, its flexo supercell {len(supercell.atoms)}: give '
            'the relaxed_structure of the same flexo.coefficient run'
        )
    repeat = np.asarray(supercell.repeat, dtype=int)
    axis = supercell.axis
    if not 1 <= cells_along_gradient <= repeat[axis]:
        raise CutoutError(
            f'cells_along_gradient = {cells_along_gradient}: must lie between 1 and the supercell length '
            f'{repeat[axis]}'
        )
    if count < 1:
        raise CutoutError(f'count = {count}: at least one cut-out is needed')
    size = repeat.copy()
    size[axis] = cells_along_gradient
    cell_index = np.asarray(supercell.cell_index)[np.asarray(supercell.assignment)]
    along = np.asarray(supercell.cell_index)[:, axis]
    first = int(along[int(np.argmax(np.abs(supercell.strain_gradient)))])
    starts = []
    for k in range(count):
        start = np.zeros(3, dtype=int)
        start[axis] = (first + int(round(k * repeat[axis] / count))) % repeat[axis]
        starts.append(start)
    blocks = grid_cutouts(relaxed, cell_index, repeat, size, starts, max_atoms=max_atoms)
    for start, block in zip(starts, blocks):
        cell = int(np.flatnonzero(along == start[axis])[0])
        block.info['strain'] = float(supercell.strain[cell])
        block.info['strain_gradient_per_A'] = float(supercell.strain_gradient[cell])
        block.info['flexo_component'] = supercell.component
    return blocks
