"""Ferroelectric domains and domain walls of a polarization field on the (Nx, Ny, L) grid of unit cells.

Domains
    ``method='sign'``: cells are labelled by the sign of one component (default P_z); cells with
    |P_z| ≤ zero_tol·max|P_z| belong to no domain (label 0). ``method='orientation'``: cells are clustered by
    orientation into the six tetragonal variants ±x, ±y, ±z (largest component of P and its sign). Connected
    cells (faces shared, periodic along the periodic axes) of the same class form one domain.

Walls
    A wall is a connected set of bonds between face-neighbouring cells of two different domains a and b (a bond
    may also skip up to two unlabelled cells); bonds whose midpoints lie within 1.5 cells belong to one wall. Across every bond (up to ``max_profiles`` per wall) the profile of the
    switching component s = P·ŝ (ŝ: polarization direction of domain a, or (d_a − d_b)/|d_a − d_b| for
    non-180° walls) is taken along the bond axis over the two domains and fitted with

        s(x) = −P0 tanh((x − x0)/w)      (equivalently P_z(x) = P0 tanh((x − x0)/w) from down to up)

    by least squares (scipy.optimize.curve_fit); x0 is the wall centre and w the half-width (the tanh length; the
    full thickness 2w is also common in the literature). The type of a 180° wall comes from P at the wall centre
    (interpolated to x0), relative to P0: with n̂ the wall normal and t̂ = ŝ × n̂ the in-wall direction normal to
    ŝ, the Néel fraction is |P·n̂|/P0 (rotation in the plane containing the normal), the Bloch fraction |P·t̂|/P0
    (rotation in the wall plane). If both stay below ``ising_threshold`` the magnitude passes through (near) zero
    without rotating: Ising; else Néel or Bloch, whichever fraction is larger. Walls with ŝ along their normal are
    charged ('head-to-head' / 'tail-to-tail'); walls between non-antiparallel variants are reported by their angle
    (e.g. '90-degree').

Units: positions in Å and in cell units u (cell i spans [i, i+1), its centre is u = i + 1/2; along z, u follows the
layer heights). P in the unit of the field (C/m² for fields from :mod:`aiida_flexo.textures.field`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from aiida_flexo.textures.field import cell_centres_A, cell_size_vector

NEEL, BLOCH, ISING = 'Néel', 'Bloch', 'Ising'
_VARIANTS = np.array([[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]], dtype=float)


@dataclass
class Domains:
    """Domain labels of a field.

    Attributes:
        labels: (Nx, Ny, L) int, 1..n_domains, 0 for cells in no domain.
        n_domains: number of domains.
        directions: (n_domains + 1, 3) unit polarization direction of each label (row 0: zeros).
        sizes: (n_domains + 1,) number of cells of each label (entry 0: unlabelled cells).
        method: 'sign' or 'orientation'.
    """

    labels: np.ndarray
    n_domains: int
    directions: np.ndarray
    sizes: np.ndarray
    method: str

    def as_dict(self) -> dict:
        total = self.labels.size
        return {
            'method': self.method,
            'count': int(self.n_domains),
            'unlabelled_cells': int(self.sizes[0]),
            'domains': [
                {
                    'label': label,
                    'direction': self.directions[label].tolist(),
                    'cells': int(self.sizes[label]),
                    'volume_fraction': float(self.sizes[label] / total),
                }
                for label in range(1, self.n_domains + 1)
            ],
        }


@dataclass
class WallFit:
    """tanh fit of one profile across a wall: s(x) = −P0 tanh((x − x0)/w); ``ok`` False when not fitted."""

    x0_A: float
    width_A: float
    P0: float
    ok: bool


@dataclass
class DomainWall:
    """One domain wall (see the module docstring for the definitions). Lengths in Å and in cell units.

    Attributes:
        domains: the labels (a, b), a < b, of the two domains it separates.
        type: 'Néel', 'Bloch', 'Ising', 'head-to-head', 'tail-to-tail' or e.g. '90-degree'.
        angle_deg: angle between the polarization directions of the two domains.
        n_bonds / n_fits: cell pairs across the wall / converged tanh fits (at most ``max_profiles``).
        position_A, position_cells: mean crossing point (x, y, z); None along an axis over which the wall spans
            the whole periodic cell (e.g. y and z for a flat wall normal to x).
        normal: mean unit normal pointing from domain a to domain b; None for a closed (e.g. cylindrical) wall.
        radius_A, radius_cells: mean in-plane (x–y) distance of the crossing points from ``position`` for a closed
            wall (the radius of a cylindrical bubble).
        width_A, width_cells: median half-width w of the tanh fits (projected on the local normal);
            width_spread_A: their standard deviation.
        P0: median fitted amplitude (unit of the field).
        neel_fraction, bloch_fraction: mean |P·n̂|/P0 and |P·t̂|/P0 at the wall centre.
        min_abs_P_fraction: mean |P|/P0 at the wall centre (≈ 0 for an Ising wall).
        crossings_cells: (n_bonds, 3) crossing points in cell units.
    """

    domains: tuple[int, int]
    type: str
    angle_deg: float
    n_bonds: int
    n_fits: int
    position_A: list[float | None]
    position_cells: list[float | None]
    normal: list[float] | None
    radius_A: float | None
    radius_cells: float | None
    width_A: float
    width_cells: float
    width_spread_A: float
    P0: float
    neel_fraction: float
    bloch_fraction: float
    min_abs_P_fraction: float
    crossings_cells: np.ndarray = field(repr=False, default_factory=lambda: np.zeros((0, 3)))

    def as_dict(self) -> dict:
        def clean(x):
            if x is None:
                return None
            x = float(x)
            return None if not np.isfinite(x) else x

        return {
            'domains': list(self.domains),
            'type': self.type,
            'angle_deg': clean(self.angle_deg),
            'n_bonds': self.n_bonds,
            'n_fits': self.n_fits,
            'position_A': [clean(x) for x in self.position_A],
            'position_cells': [clean(x) for x in self.position_cells],
            'normal': self.normal,
            'radius_A': clean(self.radius_A),
            'radius_cells': clean(self.radius_cells),
            'width_A': clean(self.width_A),
            'width_cells': clean(self.width_cells),
            'width_spread_A': clean(self.width_spread_A),
            'P0': clean(self.P0),
            'neel_fraction': clean(self.neel_fraction),
            'bloch_fraction': clean(self.bloch_fraction),
            'min_abs_P_fraction': clean(self.min_abs_P_fraction),
        }


# ----------------------------------------------------------------------------------------------- labelling


class _UnionFind:
    def __init__(self, n: int):
        self.parent = np.arange(n)

    def find(self, a: int) -> int:
        root = a
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[a] != root:
            self.parent[a], a = root, self.parent[a]
        return int(root)

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def periodic_label(mask: np.ndarray, periodic: Sequence[bool] = (True, True, True)) -> tuple[np.ndarray, int]:
    """Connected components (face neighbours) of a boolean array, joined across periodic axes.

    Returns (labels, n) with labels 1..n in order of first appearance (C order) and 0 outside ``mask``.
    """
    from scipy import ndimage

    mask = np.asarray(mask, dtype=bool)
    labels, n = ndimage.label(mask)
    if n == 0:
        return labels, 0
    uf = _UnionFind(n + 1)
    for axis, is_periodic in enumerate(periodic[: mask.ndim]):
        if not is_periodic or mask.shape[axis] < 2:
            continue
        first = np.take(labels, 0, axis=axis)
        last = np.take(labels, -1, axis=axis)
        for a, b in zip(first[(first > 0) & (last > 0)], last[(first > 0) & (last > 0)]):
            uf.union(int(a), int(b))
    roots = np.array([uf.find(i) for i in range(n + 1)])
    merged = roots[labels]
    flat = merged.ravel()
    _, first_index = np.unique(flat, return_index=True)
    order = [flat[i] for i in sorted(first_index) if flat[i] > 0]
    remap = np.zeros(n + 1, dtype=int)
    remap[order] = np.arange(1, len(order) + 1)
    return remap[merged], len(order)


def label_domains(
    P: np.ndarray,
    method: str = 'sign',
    *,
    axis: int = 2,
    zero_tol: float = 1e-8,
    periodic: Sequence[bool] = (True, True, True),
) -> Domains:
    """Label the domains of an (Nx, Ny, L, 3) field (see the module docstring for the two methods).

    ``axis`` is the component whose sign defines the domains for ``method='sign'`` (0, 1, 2 for x, y, z);
    ``zero_tol`` is relative to the largest |component| (sign) or |P| (orientation).
    """
    P = np.asarray(P, dtype=float)
    if P.ndim != 4 or P.shape[-1] != 3:
        raise ValueError(f'a polarization field has shape (Nx, Ny, L, 3), got {P.shape}')
    if method == 'sign':
        if axis not in (0, 1, 2):
            raise ValueError(f'axis must be 0, 1 or 2 (x, y, z), got {axis}')
        s = P[..., axis]
        tol = zero_tol * np.abs(s).max()
        classes = [(s > tol, np.eye(3)[axis]), (s < -tol, -np.eye(3)[axis])]
    elif method == 'orientation':
        norm = np.linalg.norm(P, axis=-1)
        defined = norm > zero_tol * norm.max()
        variant = np.argmax(P @ _VARIANTS.T, axis=-1)
        classes = [(defined & (variant == v), _VARIANTS[v]) for v in range(len(_VARIANTS))]
    else:
        raise ValueError(f"unknown domain method {method!r}: choose 'sign' or 'orientation'")
    labels = np.zeros(P.shape[:3], dtype=int)
    directions = [np.zeros(3)]
    offset = 0
    for mask, direction in classes:
        part, n = periodic_label(mask, periodic)
        labels[part > 0] = part[part > 0] + offset
        directions.extend([direction] * n)
        offset += n
    # renumber in order of first appearance so that labels do not depend on the class order
    flat = labels.ravel()
    _, first_index = np.unique(flat, return_index=True)
    order = [flat[i] for i in sorted(first_index) if flat[i] > 0]
    remap = np.zeros(offset + 1, dtype=int)
    remap[order] = np.arange(1, len(order) + 1)
    labels = remap[labels]
    directions_arr = np.zeros((offset + 1, 3))
    directions_arr[remap[1:]] = np.array(directions[1:]).reshape(-1, 3)
    sizes = np.bincount(labels.ravel(), minlength=offset + 1)
    return Domains(labels=labels, n_domains=offset, directions=directions_arr, sizes=sizes, method=method)


# ----------------------------------------------------------------------------------------------- walls


def fit_wall_profile(x_A: np.ndarray, s: np.ndarray, x0_guess: float | None = None) -> WallFit:
    """Fit s(x) = −P0 tanh((x − x0)/w) (P0 > 0, w > 0) to a profile going from + to −; x in Å.

    Returns a :class:`WallFit` with ``ok=False`` (and NaN width) when the fit does not converge or the profile has
    fewer than 4 points.
    """
    from scipy.optimize import curve_fit

    x = np.asarray(x_A, dtype=float)
    y = -np.asarray(s, dtype=float)
    if x0_guess is None:
        crossing = np.flatnonzero(np.diff(np.sign(y)) > 0)
        if crossing.size:
            i = crossing[0]
            x0_guess = x[i] - y[i] * (x[i + 1] - x[i]) / (y[i + 1] - y[i])
        else:
            x0_guess = float(np.mean(x))
    amplitude = max(float(np.max(np.abs(y))), 1e-300)
    if len(x) < 4:
        return WallFit(x0_A=float(x0_guess), width_A=float('nan'), P0=amplitude, ok=False)
    spacing = float(np.min(np.diff(x)))
    span = float(x[-1] - x[0])

    def model(xx, p0, x0, w):
        return p0 * np.tanh((xx - x0) / w)

    try:
        params, _ = curve_fit(
            model,
            x,
            y,
            p0=[amplitude, x0_guess, spacing],
            bounds=([0.0, x[0], 1e-3 * spacing], [np.inf, x[-1], span]),
            maxfev=2000,
        )
    except (RuntimeError, ValueError):
        return WallFit(x0_A=float(x0_guess), width_A=float('nan'), P0=amplitude, ok=False)
    return WallFit(x0_A=float(params[1]), width_A=float(params[2]), P0=float(params[0]), ok=True)


class _Grid:
    """Cell-centre coordinates, periods and Å <-> cell-unit conversion along the three axes."""

    def __init__(self, shape, cell_size_A, layer_heights_A, periodic):
        self.shape = tuple(int(x) for x in shape)
        size = cell_size_vector(cell_size_A)
        self.centres = cell_centres_A(self.shape, size, layer_heights_A)
        if layer_heights_A is None:
            heights = np.full(self.shape[2], size[2])
        else:
            heights = np.ravel(np.asarray(layer_heights_A, dtype=float))
        self.spacings = [np.full(self.shape[0], size[0]), np.full(self.shape[1], size[1]), heights]
        self.bottoms = [np.concatenate([[0.0], np.cumsum(sp)]) for sp in self.spacings]
        self.periods = [float(b[-1]) for b in self.bottoms]
        self.periodic = tuple(bool(p) for p in periodic)

    def coordinate(self, axis: int, index: np.ndarray) -> np.ndarray:
        """Unwrapped Å coordinate of (possibly out-of-range) cell indices along ``axis``."""
        index = np.asarray(index)
        n = self.shape[axis]
        return self.centres[axis][index % n] + self.periods[axis] * (index // n)

    def to_cells(self, axis: int, x_A: float) -> float:
        """Å -> cell units along ``axis`` (periodic images kept)."""
        period = self.periods[axis]
        wraps = np.floor(x_A / period)
        x = x_A - wraps * period
        bottoms = self.bottoms[axis]
        k = int(np.clip(np.searchsorted(bottoms, x, side='right') - 1, 0, self.shape[axis] - 1))
        return float(wraps * self.shape[axis] + k + (x - bottoms[k]) / self.spacings[axis][k])

    def gradient(self, scalar: np.ndarray) -> list[np.ndarray]:
        """∂/∂x, ∂/∂y, ∂/∂z (per Å) of a scalar on the grid: central differences, periodic where the axis is."""
        result = []
        for axis in range(3):
            if self.shape[axis] < 3:
                result.append(np.zeros_like(scalar))
                continue
            if self.periodic[axis]:
                diff = np.roll(scalar, -1, axis=axis) - np.roll(scalar, 1, axis=axis)
                result.append(diff / (2.0 * float(np.mean(self.spacings[axis]))))
            else:
                result.append(np.gradient(scalar, self.centres[axis], axis=axis))
        return result

    def to_A(self, axis: int, u: float) -> float:
        n = self.shape[axis]
        wraps = np.floor(u / n)
        v = u - wraps * n
        k = int(np.clip(np.floor(v), 0, n - 1))
        return float(wraps * self.periods[axis] + self.bottoms[axis][k] + (v - k) * self.spacings[axis][k])


def _wall_bonds(labels: np.ndarray, periodic: Sequence[bool], max_gap: int = 2) -> list[tuple]:
    """Bonds (p, axis, gap, la, lb) between cells p and p + (1 + gap) e_axis of different domains, with only
    unlabelled cells (at most ``max_gap``) between them."""
    bonds = []
    shape = labels.shape
    for axis in range(3):
        n = shape[axis]
        for gap in range(max_gap + 1):
            step = 1 + gap
            if n <= step and periodic[axis]:
                continue
            la = labels
            lb = np.roll(labels, -step, axis=axis)
            ok = (la > 0) & (lb > 0) & (la != lb)
            for between in range(1, gap + 1):
                ok &= np.roll(labels, -between, axis=axis) == 0
            if not periodic[axis]:
                index = np.arange(n).reshape([-1 if a == axis else 1 for a in range(3)])
                ok &= np.broadcast_to(index + step < n, shape)
            for p in np.argwhere(ok):
                bonds.append((p, axis, gap, int(la[tuple(p)]), int(lb[tuple(p)])))
    return bonds


def _group_bonds(bonds: list[tuple], shape: Sequence[int], periodic: Sequence[bool]) -> list[list[int]]:
    """Connected walls: bonds of the same domain pair whose midpoints lie within 1.5 cells (periodic)."""
    from scipy.spatial import cKDTree

    groups: dict[tuple[int, int], list[int]] = {}
    for number, (_, _, _, la, lb) in enumerate(bonds):
        groups.setdefault((min(la, lb), max(la, lb)), []).append(number)
    box = np.array([n if per else 1e9 for n, per in zip(shape, periodic)], dtype=float)
    walls = []
    for key in sorted(groups):
        members = groups[key]
        mid = np.array(
            [bonds[m][0] + 0.5 + (0.5 + 0.5 * bonds[m][2]) * np.eye(3)[bonds[m][1]] for m in members],
            dtype=float,
        )
        mid = np.where(periodic, np.mod(mid, box), mid)  # non-periodic axes: box 1e9, no wrapping
        tree = cKDTree(mid, boxsize=box)
        uf = _UnionFind(len(members))
        for a, b in tree.query_pairs(r=1.5):
            uf.union(a, b)
        components: dict[int, list[int]] = {}
        for i in range(len(members)):
            components.setdefault(uf.find(i), []).append(members[i])
        walls.extend(components[root] for root in sorted(components))
    return walls


def _mean_finite(values) -> float:
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    return float(values.mean()) if values.size else float('nan')


def _circular_mean(u: np.ndarray, n: int) -> float | None:
    """Mean of periodic coordinates u (period n); None when they spread over the whole period."""
    phase = np.exp(2j * np.pi * np.asarray(u) / n).mean()
    if abs(phase) < 0.3:
        return None
    return float(np.mod(np.angle(phase) * n / (2 * np.pi), n))


def find_walls(
    P: np.ndarray,
    domains: Domains,
    cell_size_A: float | Sequence[float],
    *,
    layer_heights_A: Sequence[float] | None = None,
    periodic: Sequence[bool] = (True, True, True),
    ising_threshold: float = 0.15,
    max_profiles: int = 200,
) -> list[DomainWall]:
    """Locate, fit and classify the domain walls of an (Nx, Ny, L, 3) field (see the module docstring).

    Args:
        P: the field (any unit; P0 is reported in the same unit).
        domains: its labels from :func:`label_domains`.
        cell_size_A: (a_x, a_y, c) in Å (or one number).
        layer_heights_A: (L,) heights of the layers (Å) when they differ.
        periodic: periodicity of the x, y, z axes (False along z when only some layers are analysed).
        ising_threshold: rotation fraction at the wall centre below which a 180° wall is Ising.
        max_profiles: at most this many profiles (evenly picked bonds) are fitted per wall; the position uses all
            bonds.

    The profiles run along the lattice axes; for inclined or curved walls the fitted width is projected on the
    local wall normal (the gradient of the switching component), and the Néel/Bloch split uses that normal.
    """
    P = np.asarray(P, dtype=float)
    if P.shape[:3] != domains.labels.shape or P.shape[-1] != 3:
        raise ValueError(f'field shape {P.shape} does not match the domain labels {domains.labels.shape}')
    labels = domains.labels
    grid = _Grid(labels.shape, cell_size_A, layer_heights_A, periodic)
    bonds = _wall_bonds(labels, grid.periodic)
    walls = []
    for members in _group_bonds(bonds, labels.shape, grid.periodic):
        la0, lb0 = bonds[members[0]][3], bonds[members[0]][4]
        pair = (min(la0, lb0), max(la0, lb0))
        d_lo, d_hi = domains.directions[pair[0]], domains.directions[pair[1]]
        angle = float(np.degrees(np.arccos(np.clip(d_lo @ d_hi, -1.0, 1.0))))
        s_hat = _switching_direction(d_lo, d_hi)
        gradient = grid.gradient(P @ s_hat)
        n_pick = min(max_profiles, len(members))
        picked = set(np.unique(np.linspace(0, len(members) - 1, n_pick).astype(int)).tolist())
        profiles, crossings, normals = [], [], []
        for number, bond in enumerate(members):
            p, axis, gap, la, lb = bonds[bond]
            normals.append(np.eye(3)[axis] * (1.0 if la < lb else -1.0))
            if number in picked:
                profile = _profile(P, labels, grid, domains, gradient, p, axis, gap, la, lb)
                profiles.append(profile)
                crossings.append(profile['crossing_cells'])
            else:
                crossings.append(_linear_crossing(P, grid, domains, p, axis, gap, la, lb))
        crossings_arr = np.array(crossings)
        position_cells: list[float | None] = []
        for axis in range(3):
            if grid.periodic[axis]:
                position_cells.append(_circular_mean(crossings_arr[:, axis], grid.shape[axis]))
            else:
                position_cells.append(float(crossings_arr[:, axis].mean()))
        position_A = [None if u is None else grid.to_A(a, u) for a, u in enumerate(position_cells)]
        mean_normal = np.mean(normals, axis=0)
        closed = np.linalg.norm(mean_normal) < 0.5
        normal = None if closed else (mean_normal / np.linalg.norm(mean_normal)).tolist()
        radius_cells = radius_A = None
        if closed:
            radius_cells, radius_A = _mean_radius(crossings_arr, position_cells, grid)
        good = [pr for pr in profiles if pr['fit'].ok]
        widths = np.array([pr['width_A'] for pr in good])
        widths_cells = np.array([pr['width_cells'] for pr in good])
        P0 = float(np.median([pr['fit'].P0 for pr in (good or profiles)]))
        neel_f, bloch_f, min_f = (
            _mean_finite([pr[key] for pr in profiles]) for key in ('neel', 'bloch', 'min_abs')
        )
        charged = [pr['charge'] for pr in profiles if pr['charge']]
        if abs(angle - 180.0) > 10.0:
            kind = f'{angle:.0f}-degree'
        elif len(charged) > len(profiles) / 2:
            kind = max(sorted(set(charged)), key=charged.count)
        elif np.hypot(neel_f, bloch_f) < ising_threshold:
            kind = ISING
        else:
            kind = NEEL if neel_f >= bloch_f else BLOCH
        walls.append(
            DomainWall(
                domains=pair,
                type=kind,
                angle_deg=angle,
                n_bonds=len(members),
                n_fits=len(good),
                position_A=position_A,
                position_cells=position_cells,
                normal=normal,
                radius_A=radius_A,
                radius_cells=radius_cells,
                width_A=float(np.median(widths)) if good else float('nan'),
                width_cells=float(np.median(widths_cells)) if good else float('nan'),
                width_spread_A=float(np.std(widths)) if good else float('nan'),
                P0=P0,
                neel_fraction=neel_f,
                bloch_fraction=bloch_f,
                min_abs_P_fraction=min_f,
                crossings_cells=crossings_arr,
            )
        )
    return walls


def _switching_direction(d_a: np.ndarray, d_b: np.ndarray) -> np.ndarray:
    """ŝ: the direction along which P switches from domain a to domain b."""
    s_hat = d_a - d_b
    norm = np.linalg.norm(s_hat)
    return s_hat / norm if norm > 1e-12 else np.asarray(d_a, dtype=float)


def _mean_radius(crossings: np.ndarray, centre: list[float | None], grid: _Grid) -> tuple[float, float]:
    """Mean in-plane (x–y) distance (cells, Å) of the crossing points from the centre of a closed wall (periodic
    images); a bubble is a cylinder along z, so z is left out."""
    d_cells = np.zeros((len(crossings), 2))
    for axis in range(2):
        if centre[axis] is None:
            continue
        d = crossings[:, axis] - centre[axis]
        if grid.periodic[axis]:
            d -= grid.shape[axis] * np.round(d / grid.shape[axis])
        d_cells[:, axis] = d
    scale = np.array([float(np.mean(grid.spacings[axis])) for axis in range(2)])
    radius_cells = float(np.linalg.norm(d_cells, axis=1).mean())
    radius_A = float(np.linalg.norm(d_cells * scale, axis=1).mean())
    return radius_cells, radius_A


def _cell_along(p, axis: int, t: int, n: int, periodic: bool) -> tuple[int, ...]:
    q = list(int(x) for x in p)
    q[axis] = (q[axis] + t) % n if periodic else q[axis] + t
    return tuple(q)


def _linear_crossing(P, grid: _Grid, domains: Domains, p, axis, gap, la, lb) -> np.ndarray:
    """Crossing point (cell units) of a bond from the linear interpolation of s between its two cells."""
    n = grid.shape[axis]
    s_hat = _switching_direction(domains.directions[la], domains.directions[lb])
    s0 = P[tuple(p)] @ s_hat
    s1 = P[_cell_along(p, axis, 1 + gap, n, grid.periodic[axis])] @ s_hat
    x = grid.coordinate(axis, np.array([p[axis], p[axis] + 1 + gap]))
    x0 = x[0] + s0 * (x[1] - x[0]) / (s0 - s1) if s0 != s1 else 0.5 * (x[0] + x[1])
    crossing = np.array(p, dtype=float) + 0.5
    crossing[axis] = grid.to_cells(axis, float(x0))
    if grid.periodic[axis]:
        crossing[axis] %= n
    return crossing


def _profile(P, labels, grid: _Grid, domains: Domains, gradient, p, axis, gap, la, lb) -> dict:
    """Fit and classify the profile across one bond from domain la (at p) to lb (at p + (1 + gap) e_axis)."""
    n = grid.shape[axis]
    periodic = grid.periodic[axis]

    def inside(t: int) -> bool:
        return periodic or 0 <= p[axis] + t < n

    def walk(start: int, direction: int, label: int) -> list[int]:
        # over the domain up to the next wall (or the edge of a non-periodic grid); where another wall follows, keep
        # only the half of the domain nearer to this wall so that the profile does not see the neighbouring wall
        taken, t = [], start
        while len(taken) < n and inside(t) and labels[_cell_along(p, axis, t, n, periodic)] == label:
            taken.append(t)
            t += direction
        if inside(t) and len(taken) < n:
            taken = taken[: (len(taken) + 1) // 2]
        return taken

    steps = np.array(sorted(walk(-1, -1, la)) + [0] + list(range(1, gap + 1)) + walk(1 + gap, 1, lb))
    x = grid.coordinate(axis, p[axis] + steps)
    values = np.array([P[_cell_along(p, axis, int(t), n, periodic)] for t in steps])
    d_a = domains.directions[la]
    s_hat = _switching_direction(d_a, domains.directions[lb])
    s = values @ s_hat
    i0 = int(np.flatnonzero(steps == 0)[0])
    i1 = i0 + 1 + gap
    x_cross = x[i0] + s[i0] * (x[i1] - x[i0]) / (s[i0] - s[i1]) if s[i0] != s[i1] else 0.5 * (x[i0] + x[i1])
    fit = fit_wall_profile(x, s, x0_guess=float(x_cross))
    x0 = float(np.clip(fit.x0_A if fit.ok else x_cross, x[i0], x[i1]))
    centre = np.array([np.interp(x0, x, values[:, c]) for c in range(3)])
    # local wall normal: the gradient of s at the two cells of the bond (falls back to the bond axis)
    q = _cell_along(p, axis, 1 + gap, n, periodic)
    g = 0.5 * (np.array([gr[tuple(p)] for gr in gradient]) + np.array([gr[q] for gr in gradient]))
    g -= (g @ s_hat) * s_hat if abs(np.eye(3)[axis] @ s_hat) < 0.9 else 0.0
    n_local = g / np.linalg.norm(g) if np.linalg.norm(g) > 1e-12 else np.eye(3)[axis]
    cosine = abs(n_local[axis])
    spacing = float(np.mean(grid.spacings[axis]))
    charge = ''
    if abs(s_hat[axis]) > 0.9:
        charge = 'head-to-head' if d_a[axis] > 0 else 'tail-to-tail'
        neel = bloch = float('nan')
    else:
        t_hat = np.cross(s_hat, n_local)
        neel = abs(centre @ n_local) / fit.P0
        bloch = abs(centre @ t_hat) / fit.P0
    crossing = np.array(p, dtype=float) + 0.5
    crossing[axis] = grid.to_cells(axis, x0)
    if periodic:
        crossing[axis] %= n
    return {
        'fit': fit,
        'width_A': fit.width_A * cosine,
        'width_cells': fit.width_A * cosine / spacing,
        'neel': neel,
        'bloch': bloch,
        'min_abs': float(np.linalg.norm(centre) / fit.P0),
        'crossing_cells': crossing,
        'charge': charge,
    }


def count_domains_per_layer(
    P: np.ndarray, method: str = 'sign', *, zero_tol: float = 1e-8, periodic_xy: bool = True
) -> list[int]:
    """Number of domains in each (x, y) layer, labelled in 2D (periodic in x and y)."""
    P = np.asarray(P, dtype=float)
    return [
        label_domains(
            P[:, :, k : k + 1], method, zero_tol=zero_tol, periodic=(periodic_xy, periodic_xy, False)
        ).n_domains
        for k in range(P.shape[2])
    ]
