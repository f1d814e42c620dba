"""Local polarization field P(x, y, z) from per-atom dipoles and a unit-cell assignment.

A unit cell's dipole is the sum of the per-atom dipoles p_j (e·Å) of the atoms assigned to it (the B-centred basis
of :mod:`aiida_flexo.textures.superlattice`, taken from the undistorted reference); its polarization is that dipole
divided by the reference cell volume, converted to C/m² with :func:`aiida_flexo.units.dipole_to_polarization`.
The field lives on the (Nx, Ny, L) grid of cells; cell (i, j, k) is located at its centre (the B site),
x_i = (i + 1/2)·a_x, y_j = (j + 1/2)·a_y, z_k = z_bottom,k + c_k/2 (Å).

Files: ``FIELD.npy`` holds the (Nx, Ny, L, 3) array in C/m² and ``FIELD.meta.json`` the grid metadata;
``FIELD.json`` holds both (see :func:`save_field`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from ase import Atoms

from aiida_flexo.units import dipole_to_polarization

FIELD_FORMAT = 'aiida-flexo polarization field'


@dataclass
class PolarizationField:
    """A polarization field on the grid of unit cells.

    Attributes:
        P: (Nx, Ny, L, 3) polarization in C/m².
        cell_size_A: (a_x, a_y, c) cell edge lengths in Å (c: mean out-of-plane parameter).
        layer_heights_A: (L,) out-of-plane parameter of each layer in Å, or None for equal layers of c.
        n_frames: number of frames averaged.
        meta: free metadata (materials, source files, model, ...), JSON-serialisable.
    """

    P: np.ndarray
    cell_size_A: np.ndarray
    layer_heights_A: np.ndarray | None = None
    n_frames: int = 1
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.P = np.asarray(self.P, dtype=float)
        if self.P.ndim != 4 or self.P.shape[-1] != 3:
            raise ValueError(f'a polarization field has shape (Nx, Ny, L, 3), got {self.P.shape}')
        self.cell_size_A = cell_size_vector(self.cell_size_A)
        if self.layer_heights_A is not None:
            self.layer_heights_A = np.ravel(np.asarray(self.layer_heights_A, dtype=float))
            if self.layer_heights_A.shape != (self.P.shape[2],):
                raise ValueError(
                    f'layer_heights_A has {self.layer_heights_A.size} entries, the field has {self.P.shape[2]} layers'
                )

    @property
    def grid_shape(self) -> tuple[int, int, int]:
        return tuple(int(x) for x in self.P.shape[:3])

    def centres_A(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Cell-centre coordinates (Å) along x (Nx,), y (Ny,) and z (L,)."""
        return cell_centres_A(self.grid_shape, self.cell_size_A, self.layer_heights_A)

    def metadata(self) -> dict:
        return {
            'format': FIELD_FORMAT,
            'version': 1,
            'units': {'polarization': 'C/m^2', 'length': 'angstrom'},
            'grid_shape': list(self.grid_shape),
            'cell_size_A': self.cell_size_A.tolist(),
            'layer_heights_A': None if self.layer_heights_A is None else self.layer_heights_A.tolist(),
            'n_frames': int(self.n_frames),
            'meta': self.meta,
        }


def cell_size_vector(cell_size_A: float | Sequence[float] | np.ndarray) -> np.ndarray:
    """The cell size (a_x, a_y, c) in Å as a (3,) array from one length or three; refuses non-positive sizes."""
    size = np.asarray(cell_size_A, dtype=float)
    size = np.full(3, float(size)) if size.ndim == 0 else np.ravel(size)
    if size.shape != (3,) or np.any(size <= 0):
        raise ValueError(
            f'cell_size_A must be one positive length or three (a_x, a_y, c) in Å, got {cell_size_A}'
        )
    return size


def cell_centres_A(
    grid_shape: Sequence[int],
    cell_size_A: float | Sequence[float],
    layer_heights_A: Sequence[float] | np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cell-centre (B-site) coordinates in Å along x, y and z of a (Nx, Ny, L) grid."""
    nx, ny, nl = (int(x) for x in grid_shape)
    size = cell_size_vector(cell_size_A)
    x = (np.arange(nx) + 0.5) * size[0]
    y = (np.arange(ny) + 0.5) * size[1]
    if layer_heights_A is None:
        z = (np.arange(nl) + 0.5) * size[2]
    else:
        heights = np.ravel(np.asarray(layer_heights_A, dtype=float))
        z = np.cumsum(heights) - heights / 2
    return x, y, z


def cell_dipoles(
    per_atom_dipoles: np.ndarray, cell_index: np.ndarray, grid_shape: Sequence[int]
) -> np.ndarray:
    """Per-cell dipoles (e·Å), shape (Nx, Ny, L, 3): the sum of the per-atom dipoles of each cell's atoms.

    ``per_atom_dipoles`` is (n_atoms, 3) for one frame or (n_frames, n_atoms, 3), in which case the result is the
    time average over the frames. ``cell_index`` is (n_atoms, 3) int (i, j, k).
    """
    dipoles = np.asarray(per_atom_dipoles, dtype=float)
    if dipoles.ndim == 2:
        dipoles = dipoles[None]
    index = np.asarray(cell_index)
    nx, ny, nl = (int(x) for x in grid_shape)
    if dipoles.ndim != 3 or dipoles.shape[-1] != 3:
        raise ValueError(
            f'per-atom dipoles must have shape (n_atoms, 3) or (n_frames, n_atoms, 3), got {dipoles.shape}'
        )
    if index.shape != (dipoles.shape[1], 3):
        raise ValueError(
            f'cell_index must have shape (n_atoms, 3) = ({dipoles.shape[1]}, 3) to match the dipoles, got {index.shape}'
        )
    if not np.issubdtype(index.dtype, np.integer):
        raise ValueError('cell_index must hold integers (i, j, k)')
    if np.any(index < 0) or np.any(index >= np.array([nx, ny, nl])):
        raise ValueError(f'cell_index has entries outside the grid {tuple(grid_shape)}')
    flat = (index[:, 0] * ny + index[:, 1]) * nl + index[:, 2]
    summed = np.zeros((nx * ny * nl, 3))
    np.add.at(summed, flat, dipoles.mean(axis=0))
    return summed.reshape(nx, ny, nl, 3)


def polarization_field(
    per_atom_dipoles: np.ndarray,
    cell_index: np.ndarray,
    grid_shape: Sequence[int],
    cell_volume_A3: float | np.ndarray,
) -> np.ndarray:
    """Polarization (C/m²) of each cell, shape (Nx, Ny, L, 3).

    ``cell_volume_A3`` is the reference volume of a unit cell (Å³): one number, one per layer (L,), or one per
    cell (Nx, Ny, L). Frames in ``per_atom_dipoles`` (n_frames, n_atoms, 3) are averaged.
    """
    dipoles = cell_dipoles(per_atom_dipoles, cell_index, grid_shape)
    volume = np.asarray(cell_volume_A3, dtype=float)
    nx, ny, nl = dipoles.shape[:3]
    if volume.ndim == 0:
        volume = np.full((nx, ny, nl), float(volume))
    elif volume.shape == (nl,):
        volume = np.broadcast_to(volume, (nx, ny, nl))
    elif volume.shape != (nx, ny, nl):
        raise ValueError(
            f'cell_volume_A3 must be a number, (L,)=({nl},) or {(nx, ny, nl)}, got {volume.shape}'
        )
    return dipole_to_polarization(dipoles, volume)


def time_average(fields: Iterable[np.ndarray]) -> np.ndarray:
    """Mean of several polarization (or dipole) fields of the same shape."""
    stack = [np.asarray(f, dtype=float) for f in fields]
    if not stack:
        raise ValueError('time_average needs at least one field')
    shapes = {f.shape for f in stack}
    if len(shapes) != 1:
        raise ValueError(f'fields to average have different shapes: {sorted(shapes)}')
    return np.mean(stack, axis=0)


def grid_of(atoms: Atoms, grid_shape: Sequence[int] | None = None) -> tuple[np.ndarray, tuple[int, int, int]]:
    """Cell assignment and grid shape of a superlattice structure.

    Uses ``atoms.arrays['cell_index']`` (written by the builder: the reference assignment) and
    ``atoms.info['grid_shape']`` when present; otherwise assigns cells from positions with
    :func:`aiida_flexo.textures.superlattice.assign_cells` (then ``grid_shape`` must be known).
    """
    if grid_shape is None and 'grid_shape' in atoms.info:
        grid_shape = np.ravel(atoms.info['grid_shape'])
    if 'cell_index' in atoms.arrays:
        index = np.asarray(atoms.arrays['cell_index']).astype(int)
        shape = tuple(int(x) for x in (grid_shape if grid_shape is not None else index.max(axis=0) + 1))
        return index, shape
    if grid_shape is None:
        raise ValueError(
            'the structure has no cell assignment (arrays["cell_index"]) and no grid_shape: pass the reference '
            'superlattice written by `textures build` (--reference) or the grid shape Nx,Ny,L'
        )
    from aiida_flexo.textures.superlattice import assign_cells

    shape = tuple(int(x) for x in grid_shape)
    index, _ = assign_cells(atoms, shape)
    return index, shape


def reference_cell_volumes(atoms: Atoms, grid_shape: Sequence[int]) -> np.ndarray:
    """Reference unit-cell volume of each layer (Å³), shape (L,).

    a_inplane² · c_k from ``atoms.info`` (``a_inplane``, ``layer_heights``) when the builder wrote them, else the
    supercell volume divided evenly over the cells.
    """
    nx, ny, nl = (int(x) for x in grid_shape)
    if 'a_inplane' in atoms.info and 'layer_heights' in atoms.info:
        heights = np.ravel(np.asarray(atoms.info['layer_heights'], dtype=float))
        if heights.shape == (nl,):
            return float(atoms.info['a_inplane']) ** 2 * heights
    return np.full(nl, atoms.get_volume() / (nx * ny * nl))


def field_from_model(
    frames: Sequence[Atoms],
    model,
    cell_index: np.ndarray,
    grid_shape: Sequence[int],
    cell_volume_A3: float | np.ndarray,
) -> np.ndarray:
    """Time-averaged polarization field (C/m², (Nx, Ny, L, 3)) of ``frames`` from a dipole model.

    ``model`` has ``per_atom_dipoles(atoms) -> (n_atoms, 3)`` in e·Å (:class:`aiida_flexo.interfaces.DipoleModel`).
    All frames must have the atoms of the reference in the reference order.
    """
    if len(frames) == 0:
        raise ValueError('no frames to predict')
    n_atoms = len(cell_index)
    dipoles = np.zeros((n_atoms, 3))
    for number, atoms in enumerate(frames):
        if len(atoms) != n_atoms:
            raise ValueError(
                f'frame {number} has {len(atoms)} atoms, the cell assignment {n_atoms}: frames must keep the '
                'reference atom order'
            )
        p = np.asarray(model.per_atom_dipoles(atoms), dtype=float)
        if p.shape != (n_atoms, 3):
            raise ValueError(f'the dipole model returned shape {p.shape}, expected ({n_atoms}, 3) e·Å')
        dipoles += p
    return polarization_field(dipoles / len(frames), cell_index, grid_shape, cell_volume_A3)


def save_field(path: str | Path, pfield: PolarizationField) -> list[Path]:
    """Write a field: ``.npy`` (array) plus ``<stem>.meta.json`` (metadata), or one ``.json`` with both.

    Returns the paths written.
    """
    path = Path(path)
    meta = pfield.metadata()
    if path.suffix == '.npy':
        np.save(path, pfield.P)
        meta_path = path.with_suffix('.meta.json')
        meta_path.write_text(json.dumps(meta, indent=2))
        return [path, meta_path]
    if path.suffix == '.json':
        meta['polarization'] = pfield.P.tolist()
        path.write_text(json.dumps(meta))
        return [path]
    raise ValueError(f'unknown field file type {path.suffix!r}: use .npy or .json')


def load_field(
    path: str | Path,
    cell_size_A: float | Sequence[float] | None = None,
    layer_heights_A: Sequence[float] | None = None,
) -> PolarizationField:
    """Read a field written by :func:`save_field` (or a bare (Nx, Ny, L, 3) ``.npy`` in C/m²).

    ``cell_size_A`` / ``layer_heights_A`` override (or, for a bare ``.npy`` without ``.meta.json``, supply) the
    grid geometry.
    """
    path = Path(path)
    if not path.exists():
        raise ValueError(f'field file {path} does not exist')
    if path.suffix == '.npy':
        array = np.load(path)
        meta_path = path.with_suffix('.meta.json')
        meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    elif path.suffix == '.json':
        meta = json.loads(path.read_text())
        if 'polarization' not in meta:
            raise ValueError(f'{path} is not a polarization field file (no "polarization" key)')
        array = np.asarray(meta.pop('polarization'), dtype=float)
    else:
        raise ValueError(f'unknown field file type {path.suffix!r}: use .npy or .json')
    size = cell_size_A if cell_size_A is not None else meta.get('cell_size_A')
    if size is None:
        raise ValueError(
            f'{path} carries no cell size ({path.with_suffix(".meta.json").name} missing): give the cell size in Å '
            '(e.g. --cell-size 3.905,3.905,4.0)'
        )
    heights = layer_heights_A if layer_heights_A is not None else meta.get('layer_heights_A')
    return PolarizationField(
        P=array,
        cell_size_A=size,
        layer_heights_A=heights,
        n_frames=int(meta.get('n_frames', 1)),
        meta=meta.get('meta', {}),
    )
