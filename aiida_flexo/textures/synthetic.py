"""Analytic polar textures on the grid of unit cells (for tests, demos and checking an analysis pipeline).

All fields are (Nx, Ny, L, 3) (or (Nx, Ny, 3) for one layer) in the unit of ``P0`` (C/m² by default), sampled at
the cell centres u = i + 1/2 (cell units).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def skyrmion_layer(
    shape: tuple[int, int],
    radius: float,
    width: float,
    *,
    helicity: float = 0.0,
    core: int = -1,
    center: tuple[float, float] | None = None,
    P0: float = 1.0,
) -> np.ndarray:
    """One polar skyrmion (bubble with a rotating wall) on an (Nx, Ny) periodic layer, shape (Nx, Ny, 3).

    P = P0 (sin θ cos(φ + γ), sin θ sin(φ + γ), −core·cos θ), so that the core (r = 0) points along ``core``
    (−1: down, +1: up) and the background the opposite way, with cos θ(r) = tanh((r − R)/w),
    ``radius`` R and ``width`` w in cells, φ the azimuth around ``center`` (cell units, default the middle) with
    the periodic minimum image, and the helicity γ = 0 (Néel, P rotates in the radial plane: hedgehog) or π/2
    (Bloch, P rotates in the wall plane). With :mod:`aiida_flexo.textures.topology`'s convention, core −1 gives
    Q = −1 and core +1 gives Q = +1.
    """
    nx, ny = shape
    cx, cy = center if center is not None else (nx / 2, ny / 2)
    dx = np.arange(nx) + 0.5 - cx
    dy = np.arange(ny) + 0.5 - cy
    dx = dx - nx * np.round(dx / nx)
    dy = dy - ny * np.round(dy / ny)
    X, Y = np.meshgrid(dx, dy, indexing='ij')
    r = np.hypot(X, Y)
    phi = np.arctan2(Y, X)
    cos_theta = np.tanh((r - radius) / width)  # -1 at the core, +1 outside (for core = -1)
    sin_theta = np.sqrt(np.clip(1.0 - cos_theta**2, 0.0, None))
    sign = -float(core)  # background direction along z
    return P0 * np.stack(
        [sin_theta * np.cos(phi + helicity), sin_theta * np.sin(phi + helicity), sign * cos_theta], axis=-1
    )


def skyrmion_field(
    shape: tuple[int, int, int],
    radius: float,
    width: float,
    *,
    helicity: float = 0.0,
    core: int = -1,
    centers: Sequence[tuple[float, float]] | None = None,
    P0: float = 1.0,
) -> np.ndarray:
    """A stack of identical skyrmion layers (a cylindrical polar bubble), shape (Nx, Ny, L, 3).

    Several ``centers`` give several skyrmions: the in-plane parts add and P_z takes the product of the single
    profiles (exact for well-separated skyrmions).
    """
    nx, ny, nl = shape
    centers = list(centers) if centers is not None else [(nx / 2, ny / 2)]
    layer = np.zeros((nx, ny, 3))
    layer[..., 2] = 1.0
    for c in centers:
        one = skyrmion_layer((nx, ny), radius, width, helicity=helicity, core=core, center=c)
        layer[..., :2] += one[..., :2]
        layer[..., 2] *= one[..., 2] * -float(core)
    layer[..., 2] *= -float(core)
    return P0 * np.repeat(layer[:, :, None, :], nl, axis=2)


def stripe_walls_field(
    shape: tuple[int, int, int],
    walls: tuple[float, float],
    width: float,
    *,
    kind: str = 'Néel',
    axis: int = 0,
    P0: float = 1.0,
    rotation: float = 1.0,
) -> np.ndarray:
    """Two parallel 180° walls normal to ``axis`` (0: x, 1: y): up between u1 and u2, down outside.

    P_z = −P0 tanh((u − u1)/w) tanh((u − u2)/w) (u in cell units) and, at each wall, a rotating component
    ``rotation``·P0·sech((u − u_i)/w): along the wall normal for ``kind='Néel'``, in the wall plane (normal to z
    and to the normal) for ``'Bloch'``, none for ``'Ising'``. ``walls`` = (u1, u2) in cell units; choose them well
    apart (≫ w) so that each wall is an exact tanh.
    """
    if axis not in (0, 1):
        raise ValueError('axis must be 0 (walls normal to x) or 1 (normal to y)')
    n = shape[axis]
    u = np.arange(n) + 0.5
    u1, u2 = walls
    pz = -np.tanh((u - u1) / width) * np.tanh((u - u2) / width)
    rot = rotation * (1.0 / np.cosh((u - u1) / width) + 1.0 / np.cosh((u - u2) / width))
    profile = np.zeros((n, 3))
    profile[:, 2] = pz
    if kind == 'Néel':
        profile[:, axis] = rot
    elif kind == 'Bloch':
        profile[:, 1 - axis] = rot
    elif kind != 'Ising':
        raise ValueError(f"kind must be 'Néel', 'Bloch' or 'Ising', got {kind!r}")
    field = np.zeros((*shape, 3))
    if axis == 0:
        field[:] = profile[:, None, None, :]
    else:
        field[:] = profile[None, :, None, :]
    return P0 * field
