"""Topological charge (skyrmion number) of polarization textures on a lattice.

Lattice formula of B. Berg and M. Lüscher, Nucl. Phys. B 190, 412 (1981): on a 2D periodic lattice of unit vectors
n = P/|P| (the full 3D direction of P at each cell of a layer), every plaquette
(i, j) → (i+1, j) → (i+1, j+1) → (i, j+1) is split into the two counter-clockwise triangles
[n(i,j), n(i+1,j), n(i+1,j+1)] and [n(i,j), n(i+1,j+1), n(i,j+1)]; each triangle spans the signed solid angle Ω
with

    tan(Ω/2) = n1·(n2×n3) / (1 + n1·n2 + n2·n3 + n3·n1),     Ω ∈ (−2π, 2π]

(evaluated with atan2), and Q = ΣΩ / 4π. On a periodic lattice Q is an integer for every field that avoids the
measure-zero exceptional configurations (a triangle whose vectors are coplanar with the origin and span a
half-sphere) — no smoothness is needed, only a lattice fine enough for the integer to be the continuum one.

Sign convention: Q = (1/4π) ∫ n·(∂_x n × ∂_y n) dx dy with x, y the grid axes i, j (right-handed with z). A
bubble with its core pointing down (−z) in an up (+z) background has Q = −1, whether its wall is Néel or Bloch;
reversing the field (core up in a down background) gives Q = +1.

Zero-length vectors: a site whose |P| is at most ``zero_tol`` × (largest |P| in the layer) has no direction; with
``on_zero='skip'`` (default) the triangles touching it contribute nothing (the result is then not guaranteed to be
an integer, and :class:`SkyrmionNumber` says how many triangles were skipped); with ``on_zero='raise'`` a
ValueError names the first such site.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class SkyrmionNumber:
    """Topological charge of one layer.

    Attributes:
        Q: Σ Ω / 4π (float; an integer up to rounding when no triangle was skipped).
        n_undefined_sites: sites with (near) zero |P|.
        n_skipped_triangles: triangles that touch an undefined site (left out of the sum).
    """

    Q: float
    n_undefined_sites: int = 0
    n_skipped_triangles: int = 0

    @property
    def rounded(self) -> int:
        return int(np.round(self.Q))

    @property
    def is_integer(self) -> bool:
        """True when Q is within 1e-6 of an integer and no triangle was skipped."""
        return bool(self.n_skipped_triangles == 0 and abs(self.Q - np.round(self.Q)) < 1e-6)


def solid_angle(n1: np.ndarray, n2: np.ndarray, n3: np.ndarray) -> np.ndarray:
    """Signed solid angle Ω (sr) of the spherical triangle of unit vectors n1, n2, n3 (..., 3) (Berg–Lüscher).

    Ω = 2·atan2(n1·(n2×n3), 1 + n1·n2 + n2·n3 + n3·n1), in (−2π, 2π].
    """
    numerator = np.einsum('...i,...i->...', n1, np.cross(n2, n3))
    denominator = 1.0 + (
        np.einsum('...i,...i->...', n1, n2)
        + np.einsum('...i,...i->...', n2, n3)
        + np.einsum('...i,...i->...', n3, n1)
    )
    return 2.0 * np.arctan2(numerator, denominator)


def unit_vectors(layer: np.ndarray, zero_tol: float = 1e-8) -> tuple[np.ndarray, np.ndarray]:
    """(n, defined): unit vectors P/|P| of an (Nx, Ny, 3) layer and the mask of sites with a direction.

    A site is undefined when |P| ≤ zero_tol × max |P| of the layer (or the whole layer is zero); its n is 0.
    """
    layer = np.asarray(layer, dtype=float)
    if layer.ndim != 3 or layer.shape[-1] != 3:
        raise ValueError(f'a layer of the field has shape (Nx, Ny, 3), got {layer.shape}')
    norm = np.linalg.norm(layer, axis=-1)
    largest = norm.max() if norm.size else 0.0
    defined = norm > max(zero_tol * largest, 0.0) if largest > 0 else np.zeros(norm.shape, dtype=bool)
    n = np.zeros_like(layer)
    n[defined] = layer[defined] / norm[defined][:, None]
    return n, defined


def _triangles(n: np.ndarray):
    """The two triangles of every plaquette (periodic): (n1, n2, n3) for triangle a and b, each (Nx, Ny, 3)."""
    n00 = n
    n10 = np.roll(n, -1, axis=0)
    n11 = np.roll(n10, -1, axis=1)
    n01 = np.roll(n, -1, axis=1)
    return (n00, n10, n11), (n00, n11, n01)


def _triangles_defined(defined: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Masks (Nx, Ny) of the triangles a and b whose three corners all have a direction."""
    d10 = np.roll(defined, -1, axis=0)
    d11 = np.roll(d10, -1, axis=1)
    d01 = np.roll(defined, -1, axis=1)
    return defined & d10 & d11, defined & d11 & d01


def skyrmion_density(layer: np.ndarray, zero_tol: float = 1e-8) -> np.ndarray:
    """Topological charge of each plaquette (Ω_a + Ω_b)/4π, shape (Nx, Ny); plaquette (i, j) has corner (i, j).

    Triangles touching an undefined site (see :func:`unit_vectors`) contribute zero.
    """
    n, defined = unit_vectors(layer, zero_tol)
    tri_a, tri_b = _triangles(n)
    ok_a, ok_b = _triangles_defined(defined)
    omega = np.where(ok_a, solid_angle(*tri_a), 0.0) + np.where(ok_b, solid_angle(*tri_b), 0.0)
    return omega / (4.0 * np.pi)


def skyrmion_number(layer: np.ndarray, zero_tol: float = 1e-8, on_zero: str = 'skip') -> SkyrmionNumber:
    """Berg–Lüscher topological charge of one (Nx, Ny, 3) layer of a polarization field (any unit).

    See the module docstring for the sign convention and the rule for zero-length vectors (``on_zero``:
    ``'skip'`` or ``'raise'``).
    """
    if on_zero not in ('skip', 'raise'):
        raise ValueError(f"on_zero must be 'skip' or 'raise', got {on_zero!r}")
    layer = np.asarray(layer, dtype=float)
    if layer.ndim != 3 or layer.shape[-1] != 3 or min(layer.shape[:2]) < 2:
        raise ValueError(f'a layer of the field has shape (Nx, Ny, 3) with Nx, Ny ≥ 2, got {layer.shape}')
    n, defined = unit_vectors(layer, zero_tol)
    n_undefined = int((~defined).sum())
    if n_undefined and on_zero == 'raise':
        site = tuple(int(x) for x in np.argwhere(~defined)[0])
        raise ValueError(
            f'the polarization vanishes at cell {site} ({n_undefined} such cells): its direction is undefined; '
            "use on_zero='skip' to leave out the triangles touching such cells"
        )
    ok_a, ok_b = _triangles_defined(defined)
    q = float(skyrmion_density(layer, zero_tol).sum())
    n_skipped = int((~ok_a).sum() + (~ok_b).sum())
    return SkyrmionNumber(Q=q, n_undefined_sites=n_undefined, n_skipped_triangles=n_skipped)


def skyrmion_numbers(P: np.ndarray, zero_tol: float = 1e-8, on_zero: str = 'skip') -> list[SkyrmionNumber]:
    """Topological charge of every layer k of an (Nx, Ny, L, 3) field (the (x, y) planes)."""
    P = np.asarray(P, dtype=float)
    if P.ndim != 4 or P.shape[-1] != 3:
        raise ValueError(f'a polarization field has shape (Nx, Ny, L, 3), got {P.shape}')
    return [skyrmion_number(P[:, :, k], zero_tol, on_zero) for k in range(P.shape[2])]
