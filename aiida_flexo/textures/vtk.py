"""Legacy ASCII VTK files of a polarization field (ParaView, VisIt, Mayavi open them).

The field is written as point data at the cell centres (the B sites): ``VECTORS P`` (C/m²) and the scalars
``Pz`` and ``absP``. Equal layers give a ``STRUCTURED_POINTS`` dataset (origin, spacing); layers of different
heights a ``RECTILINEAR_GRID`` with the explicit z coordinates. Points are ordered x fastest, then y, then z, as
the legacy format requires. Coordinates in Å.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from aiida_flexo.textures.field import cell_centres_A, cell_size_vector


def write_vtk(
    path: str | Path,
    P: np.ndarray,
    cell_size_A: float | Sequence[float],
    *,
    layer_heights_A: Sequence[float] | None = None,
    title: str = 'aiida-flexo polarization field (C/m^2)',
) -> Path:
    """Write an (Nx, Ny, L, 3) field to a legacy ASCII ``.vtk`` file; returns the path."""
    P = np.asarray(P, dtype=float)
    if P.ndim != 4 or P.shape[-1] != 3:
        raise ValueError(f'a polarization field has shape (Nx, Ny, L, 3), got {P.shape}')
    nx, ny, nl = P.shape[:3]
    size = cell_size_vector(cell_size_A)
    x, y, z = cell_centres_A((nx, ny, nl), size, layer_heights_A)
    uniform = nl < 2 or np.allclose(np.diff(z), np.diff(z)[0], rtol=1e-9, atol=1e-12)
    lines = ['# vtk DataFile Version 3.0', title.replace('\n', ' ')[:255], 'ASCII']
    if uniform:
        dz = float(np.diff(z)[0]) if nl > 1 else float(size[2])
        lines += [
            'DATASET STRUCTURED_POINTS',
            f'DIMENSIONS {nx} {ny} {nl}',
            f'ORIGIN {x[0]:.10g} {y[0]:.10g} {z[0]:.10g}',
            f'SPACING {size[0]:.10g} {size[1]:.10g} {dz:.10g}',
        ]
    else:
        lines += ['DATASET RECTILINEAR_GRID', f'DIMENSIONS {nx} {ny} {nl}']
        for name, coords in (('X', x), ('Y', y), ('Z', z)):
            lines.append(f'{name}_COORDINATES {len(coords)} double')
            lines.append(' '.join(f'{c:.10g}' for c in coords))
    # x fastest: transpose (Nx, Ny, L) -> (L, Ny, Nx) before flattening
    vectors = P.transpose(2, 1, 0, 3).reshape(-1, 3)
    lines += [f'POINT_DATA {nx * ny * nl}', 'VECTORS P double']
    lines += [f'{v[0]:.10g} {v[1]:.10g} {v[2]:.10g}' for v in vectors]
    for name, values in (('Pz', vectors[:, 2]), ('absP', np.linalg.norm(vectors, axis=1))):
        lines += [f'SCALARS {name} double 1', 'LOOKUP_TABLE default']
        lines += [f'{v:.10g}' for v in values]
    path = Path(path)
    path.write_text('\n'.join(lines) + '\n')
    return path


def read_vtk(path: str | Path) -> dict:
    """Read back a legacy ASCII file written by :func:`write_vtk` (a small parser, not a general VTK reader).

    Returns a dict with ``dataset``, ``dimensions`` (Nx, Ny, L), ``x``, ``y``, ``z`` (Å), ``vectors``
    {name: (Nx, Ny, L, 3)} and ``scalars`` {name: (Nx, Ny, L)}.
    """
    tokens_lines = Path(path).read_text().splitlines()
    if not tokens_lines or not tokens_lines[0].startswith('# vtk DataFile'):
        raise ValueError(f'{path} is not a legacy VTK file (no "# vtk DataFile" header)')
    if tokens_lines[2].strip() != 'ASCII':
        raise ValueError(f'{path}: only ASCII legacy VTK files are supported')
    words = ' '.join(tokens_lines[3:]).split()
    pos = 0

    def take(count: int = 1) -> list[str]:
        nonlocal pos
        out = words[pos : pos + count]
        if len(out) < count:
            raise ValueError(f'{path}: file ends early')
        pos += count
        return out

    result: dict = {'vectors': {}, 'scalars': {}}
    n_points = None
    while pos < len(words):
        key = take()[0]
        if key == 'DATASET':
            result['dataset'] = take()[0]
        elif key == 'DIMENSIONS':
            result['dimensions'] = tuple(int(v) for v in take(3))
        elif key == 'ORIGIN':
            result['origin'] = np.array(take(3), dtype=float)
        elif key == 'SPACING':
            result['spacing'] = np.array(take(3), dtype=float)
        elif key in ('X_COORDINATES', 'Y_COORDINATES', 'Z_COORDINATES'):
            count = int(take(2)[0])
            result[key[0].lower()] = np.array(take(count), dtype=float)
        elif key == 'POINT_DATA':
            n_points = int(take()[0])
        elif key == 'VECTORS':
            name = take(2)[0]
            values = np.array(take(3 * n_points), dtype=float).reshape(-1, 3)
            result['vectors'][name] = values
        elif key == 'SCALARS':
            name, _, *rest = take(3)
            if take()[0] != 'LOOKUP_TABLE':
                raise ValueError(f'{path}: expected LOOKUP_TABLE after SCALARS {name}')
            take()
            result['scalars'][name] = np.array(take(n_points), dtype=float)
        else:
            raise ValueError(f'{path}: unexpected keyword {key!r}')
    nx, ny, nl = result['dimensions']
    if result.get('dataset') == 'STRUCTURED_POINTS':
        for axis, name in enumerate('xyz'):
            n = result['dimensions'][axis]
            result[name] = result['origin'][axis] + result['spacing'][axis] * np.arange(n)
    result['vectors'] = {
        k: v.reshape(nl, ny, nx, 3).transpose(2, 1, 0, 3) for k, v in result['vectors'].items()
    }
    result['scalars'] = {k: v.reshape(nl, ny, nx).transpose(2, 1, 0) for k, v in result['scalars'].items()}
    return result
