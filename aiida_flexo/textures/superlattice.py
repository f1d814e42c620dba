"""Perovskite superlattices (A)m/(B)n stacked along c, with a fixed B-centred unit-cell assignment.

Unit cell and basis (one fixed basis per cell, used everywhere in :mod:`aiida_flexo.textures`)
---------------------------------------------------------------------------------------------
Cell ``(i, j, k)`` of an ``Nx × Ny × L`` superlattice is the box ``[i, i+1) a × [j, j+1) a × [z_k, z_k + c_k)``
(``a``: in-plane lattice parameter, ``c_k``: out-of-plane parameter of the material of layer ``k``,
``z_k = c_0 + ... + c_(k-1)``). Its five atoms, in this order (``site`` 0..4), at fractional cell coordinates:

====  ======  ===================  =========================================
site  name    fractional position  role
====  ======  ===================  =========================================
0     A       (0,   0,   0)        A cation on the cell corner (AO plane)
1     B       (1/2, 1/2, 1/2)      B cation at the cell centre (BO2 plane)
2     O_x     (0,   1/2, 1/2)      O on the −x face of the BO6 octahedron
3     O_y     (1/2, 0,   1/2)      O on the −y face
4     O_z     (1/2, 1/2, 0)        apical O on the −z face (AO plane)
====  ======  ===================  =========================================

so the cell is B-centred: the B site sits at the cell centre and the cell's dipole (sum of the per-atom dipoles of
its five atoms) is attributed to the B position ``((i + 1/2) a, (j + 1/2) a, z_k + c_k/2)``. The stack is
AO/BO2/AO/BO2/... along c; layers ``0 .. m-1`` are material A (e.g. PbTiO3) and ``m .. m+n-1`` material B
(e.g. SrTiO3), so the interfaces are the AO planes at the bottom of layers 0 and m.

Atom order (stable): atom ``5 * ((k * Ny + j) * Nx + i) + site`` — layer slowest, then y, then x, then site.
Domain seeds only displace atoms; they never change the order or the assignment.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from ase import Atoms

#: Names of the five sites of the basis, in order.
SITE_NAMES: tuple[str, ...] = ('A', 'B', 'O_x', 'O_y', 'O_z')
#: Fractional positions of the five sites in their cell.
BASIS_FRACTIONAL: np.ndarray = np.array(
    [[0.0, 0.0, 0.0], [0.5, 0.5, 0.5], [0.0, 0.5, 0.5], [0.5, 0.0, 0.5], [0.5, 0.5, 0.0]]
)
ATOMS_PER_CELL = 5
SEED_KINDS = ('none', 'uniform', 'stripes', 'bubble')


@dataclass(frozen=True)
class Perovskite:
    """An ABO3 perovskite: species and lattice parameters (Å).

    ``a`` is the bulk (pseudo-cubic) in-plane parameter, ``c`` the out-of-plane parameter used for its layers
    (for tetragonal ferroelectrics the polar c axis, i.e. c-oriented growth).
    """

    name: str
    A: str
    B: str
    a: float
    c: float


#: Bulk room-temperature lattice parameters (Å). PbTiO3 and BaTiO3 tetragonal (c axis out of plane), SrTiO3 cubic.
MATERIALS: dict[str, Perovskite] = {
    'PbTiO3': Perovskite('PbTiO3', 'Pb', 'Ti', a=3.904, c=4.152),
    'SrTiO3': Perovskite('SrTiO3', 'Sr', 'Ti', a=3.905, c=3.905),
    'BaTiO3': Perovskite('BaTiO3', 'Ba', 'Ti', a=3.992, c=4.036),
}

#: Pseudo-cubic in-plane lattice parameters (Å) of common substrates at room temperature.
SUBSTRATES: dict[str, float] = {
    'SrTiO3': 3.905,
    'DyScO3': 3.944,
    'GdScO3': 3.967,
    'KTaO3': 3.989,
    'LSAT': 3.868,
    'LaAlO3': 3.790,
}


@dataclass
class Superlattice:
    """A built superlattice: the atoms and the B-centred cell assignment of each atom.

    Attributes:
        atoms: the structure (Å), periodic in all three directions; ``atoms.arrays['cell_index']`` and
            ``atoms.arrays['site']`` repeat :attr:`cell_index` and :attr:`site`, and ``atoms.info`` holds
            ``grid_shape``, ``a_inplane`` (Å), ``layer_heights`` (Å) and ``layer_materials`` (comma-separated), so
            that an extxyz file written from it carries the assignment.
        cell_index: (n_atoms, 3) int, the cell ``(i, j, k)`` of each atom.
        site: (n_atoms,) int, the site 0..4 of each atom in its cell (see :data:`SITE_NAMES`).
        grid_shape: ``(Nx, Ny, L)``.
        a_inplane: in-plane lattice parameter (Å).
        layer_heights: (L,) out-of-plane parameter c_k of each layer (Å).
        layer_materials: (L,) material name of each layer.
        seed: (Nx, Ny, L, 3) unit polarization direction used to displace B and O (zero where not seeded).
    """

    atoms: Atoms
    cell_index: np.ndarray
    site: np.ndarray
    grid_shape: tuple[int, int, int]
    a_inplane: float
    layer_heights: np.ndarray
    layer_materials: list[str]
    seed: np.ndarray = field(repr=False)

    @property
    def layer_bottoms(self) -> np.ndarray:
        """z of the bottom (AO plane) of each layer (Å), shape (L,)."""
        return np.concatenate([[0.0], np.cumsum(self.layer_heights)[:-1]])

    def cell_volumes(self) -> np.ndarray:
        """Reference (undistorted) volume of each layer's unit cell a²·c_k (Å³), shape (L,)."""
        return self.a_inplane**2 * self.layer_heights

    def cell_size_A(self) -> np.ndarray:
        """(a, a, mean c) in Å."""
        return np.array([self.a_inplane, self.a_inplane, float(np.mean(self.layer_heights))])


def get_material(material: str | Perovskite) -> Perovskite:
    """The :class:`Perovskite` for a name of :data:`MATERIALS` (or the object itself)."""
    if isinstance(material, Perovskite):
        return material
    if material not in MATERIALS:
        raise ValueError(
            f'unknown perovskite {material!r}: known are {sorted(MATERIALS)}; for another one pass '
            f"Perovskite(name, A='Ca', B='Ti', a=..., c=...) instead of its name"
        )
    return MATERIALS[material]


def inplane_parameter(substrate: str | None = None, a_inplane: float | None = None) -> float:
    """In-plane lattice parameter (Å): ``a_inplane`` if given, else that of ``substrate`` (default SrTiO3)."""
    if a_inplane is not None and substrate is not None:
        raise ValueError('give either a_inplane (Å) or substrate, not both')
    if a_inplane is not None:
        if not a_inplane > 0:
            raise ValueError(f'a_inplane must be a positive length in Å, got {a_inplane}')
        return float(a_inplane)
    name = substrate or 'SrTiO3'
    if name in SUBSTRATES:
        return SUBSTRATES[name]
    if name in MATERIALS:
        return MATERIALS[name].a
    raise ValueError(
        f'unknown substrate {name!r}: known are {sorted(set(SUBSTRATES) | set(MATERIALS))}; '
        'or give the in-plane parameter with a_inplane (Å)'
    )


def seed_field(
    kind: str,
    grid_shape: tuple[int, int, int],
    seeded_layers: Sequence[int] | np.ndarray,
    *,
    stripe_width: int | None = None,
    stripe_axis: str = 'x',
    bubble_radius: float | None = None,
    bubble_center: tuple[float, float] | None = None,
) -> np.ndarray:
    """Unit polarization directions of a domain seed, shape (Nx, Ny, L, 3) (zero outside ``seeded_layers``).

    Kinds: ``'none'`` (all zero); ``'uniform'`` (+z everywhere); ``'stripes'`` (up/down stripes of ``stripe_width``
    cells along ``stripe_axis``, first stripe up; default width Nx/2, walls normal to that axis); ``'bubble'``
    (a cylinder of radius ``bubble_radius`` cells (default min(Nx, Ny)/4) of reversed (−z) polarization through
    the seeded layers, centred at ``bubble_center`` in cell units (default the centre of the plane), +z outside).
    Distances are periodic in the plane. Cell ``(i, j)`` is at ``(i + 1/2, j + 1/2)`` in cell units.
    """
    nx, ny, nl = grid_shape
    direction = np.zeros((nx, ny, nl, 3))
    layers = np.asarray(list(seeded_layers), dtype=int)
    if layers.size and (layers.min() < 0 or layers.max() >= nl):
        raise ValueError(f'seeded layers {layers.tolist()} outside 0..{nl - 1}')
    sign = np.ones((nx, ny))
    if kind == 'none':
        return direction
    if kind == 'uniform':
        pass
    elif kind == 'stripes':
        if stripe_axis not in ('x', 'y'):
            raise ValueError(f"stripe_axis must be 'x' or 'y', got {stripe_axis!r}")
        n_axis = nx if stripe_axis == 'x' else ny
        width = stripe_width if stripe_width is not None else n_axis // 2
        if width < 1 or n_axis % (2 * width):
            raise ValueError(
                f'stripe width {width} cells does not tile {n_axis} cells periodically: choose a width w '
                f'with {n_axis} divisible by 2·w'
            )
        index = np.arange(n_axis)
        pattern = np.where((index // width) % 2 == 0, 1.0, -1.0)
        sign = (
            pattern[:, None] * np.ones((1, ny)) if stripe_axis == 'x' else np.ones((nx, 1)) * pattern[None, :]
        )
    elif kind == 'bubble':
        radius = bubble_radius if bubble_radius is not None else min(nx, ny) / 4
        if not 0 < radius < min(nx, ny) / 2:
            raise ValueError(f'bubble radius {radius} cells must lie between 0 and min(Nx, Ny)/2')
        cx, cy = bubble_center if bubble_center is not None else (nx / 2, ny / 2)
        dx = np.arange(nx) + 0.5 - cx
        dy = np.arange(ny) + 0.5 - cy
        dx = dx - nx * np.round(dx / nx)
        dy = dy - ny * np.round(dy / ny)
        r = np.hypot(dx[:, None], dy[None, :])
        sign = np.where(r < radius, -1.0, 1.0)
    else:
        raise ValueError(f'unknown seed kind {kind!r}: choose one of {SEED_KINDS}')
    for k in layers:
        direction[:, :, k, 2] = sign
    return direction


def build_superlattice(
    m: int,
    n: int,
    size: int | tuple[int, int],
    materials: Sequence[str | Perovskite] = ('PbTiO3', 'SrTiO3'),
    *,
    a_inplane: float | None = None,
    substrate: str | None = None,
    c_out_of_plane: Mapping[str, float] | None = None,
    seed: str | np.ndarray | Callable[[tuple[int, int, int]], np.ndarray] = 'none',
    seed_in: str = 'A',
    displacement_B: float = 0.15,
    displacement_O: float = -0.10,
    **seed_options,
) -> Superlattice:
    """Build an (A)m/(B)n perovskite superlattice stacked along c with ``size`` × ``size`` cells in plane.

    Args:
        m, n: number of unit cells of the first and of the second material per period (m ≥ 1, n ≥ 0).
        size: in-plane cells N (N × N) or (Nx, Ny).
        materials: the two perovskites (names of :data:`MATERIALS` or :class:`Perovskite` objects).
        a_inplane: in-plane lattice parameter (Å); default: that of ``substrate``.
        substrate: substrate name of :data:`SUBSTRATES` (default SrTiO3) fixing the in-plane parameter.
        c_out_of_plane: override of the out-of-plane parameter c (Å) per material name.
        seed: domain seed: a kind of :func:`seed_field` (``'none'``, ``'uniform'``, ``'stripes'``, ``'bubble'``),
            an (Nx, Ny, L, 3) array of polarization directions, or a callable grid_shape -> such an array.
        seed_in: where kind seeds apply: ``'A'`` (layers of the first material), ``'B'`` or ``'both'``.
        displacement_B: displacement (Å) of the B cation along the seed direction.
        displacement_O: displacement (Å) of the cell's three O along the seed direction (negative: against it, so
            that B moves off-centre with respect to its O cage as in a ferroelectric).
        **seed_options: passed to :func:`seed_field` (stripe_width, stripe_axis, bubble_radius, bubble_center).

    Returns:
        a :class:`Superlattice` with 5·Nx·Ny·(m + n) atoms in the order documented in this module.
    """
    if m < 1 or n < 0 or int(m) != m or int(n) != n:
        raise ValueError(f'm must be an integer ≥ 1 and n an integer ≥ 0, got m={m}, n={n}')
    nx, ny = (size, size) if np.isscalar(size) else tuple(size)
    if nx < 1 or ny < 1:
        raise ValueError(f'in-plane size must be ≥ 1 cell, got {size}')
    if len(materials) != 2:
        raise ValueError(f'give two materials (A and B of the stack), got {list(materials)}')
    mat_a, mat_b = (get_material(x) for x in materials)
    overrides = dict(c_out_of_plane or {})
    unknown = set(overrides) - {mat_a.name, mat_b.name}
    if unknown:
        raise ValueError(
            f'c_out_of_plane names {sorted(unknown)} that are not in the stack {mat_a.name}/{mat_b.name}'
        )
    for name, value in overrides.items():
        if not value > 0:
            raise ValueError(f'c_out_of_plane[{name!r}] must be a positive length in Å, got {value}')
    c_a = overrides.get(mat_a.name, mat_a.c)
    c_b = overrides.get(mat_b.name, mat_b.c)
    a = inplane_parameter(substrate, a_inplane)

    nl = m + n
    layer_materials = [mat_a] * m + [mat_b] * n
    heights = np.array([c_a] * m + [c_b] * n, dtype=float)
    bottoms = np.concatenate([[0.0], np.cumsum(heights)[:-1]])
    grid_shape = (int(nx), int(ny), int(nl))

    if isinstance(seed, str):
        seeded = {'A': range(m), 'B': range(m, nl), 'both': range(nl)}.get(seed_in)
        if seeded is None:
            raise ValueError(f"seed_in must be 'A', 'B' or 'both', got {seed_in!r}")
        direction = seed_field(seed, grid_shape, list(seeded), **seed_options)
    else:
        direction = np.asarray(seed(grid_shape) if callable(seed) else seed, dtype=float)
        if direction.shape != (*grid_shape, 3):
            raise ValueError(
                f'seed array must have shape {(*grid_shape, 3)} (Nx, Ny, L, 3), got {direction.shape}'
            )

    # cell indices in the documented order: k slowest, then j, then i, then site
    kk, jj, ii = np.meshgrid(np.arange(nl), np.arange(ny), np.arange(nx), indexing='ij')
    cells = np.stack([ii.ravel(), jj.ravel(), kk.ravel()], axis=1)  # (n_cells, 3)
    cell_index = np.repeat(cells, ATOMS_PER_CELL, axis=0)
    site = np.tile(np.arange(ATOMS_PER_CELL), len(cells))

    frac = BASIS_FRACTIONAL[site]
    positions = np.empty((len(site), 3))
    positions[:, 0] = (cell_index[:, 0] + frac[:, 0]) * a
    positions[:, 1] = (cell_index[:, 1] + frac[:, 1]) * a
    positions[:, 2] = bottoms[cell_index[:, 2]] + frac[:, 2] * heights[cell_index[:, 2]]

    shift = np.where(site == 1, displacement_B, np.where(site >= 2, displacement_O, 0.0))
    positions += shift[:, None] * direction[cell_index[:, 0], cell_index[:, 1], cell_index[:, 2]]

    layer_of_atom = np.array([layer_materials[k] for k in range(nl)], dtype=object)[cell_index[:, 2]]
    symbols = [mat.A if s == 0 else mat.B if s == 1 else 'O' for mat, s in zip(layer_of_atom, site)]
    cell = np.diag([nx * a, ny * a, heights.sum()])
    atoms = Atoms(symbols=symbols, positions=positions, cell=cell, pbc=True)
    atoms.arrays['cell_index'] = cell_index.astype(int)
    atoms.arrays['site'] = site.astype(int)
    atoms.info['grid_shape'] = np.array(grid_shape)
    atoms.info['a_inplane'] = float(a)
    atoms.info['layer_heights'] = heights.copy()
    atoms.info['layer_materials'] = ','.join(mat.name for mat in layer_materials)
    return Superlattice(
        atoms=atoms,
        cell_index=cell_index.astype(int),
        site=site.astype(int),
        grid_shape=grid_shape,
        a_inplane=float(a),
        layer_heights=heights,
        layer_materials=[mat.name for mat in layer_materials],
        seed=direction,
    )


def assign_cells(
    atoms: Atoms,
    grid_shape: tuple[int, int, int],
    layer_heights: Sequence[float] | np.ndarray | None = None,
    *,
    check: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Cell index (i, j, k) and site (0..4) of each atom of a (possibly distorted) superlattice from positions.

    Uses the basis of this module: along each axis, a site sits on a cell boundary (fractional 0) or at the
    middle (1/2); an atom is snapped to the nearer of the two, which is unambiguous for displacements below a
    quarter of a lattice parameter (≈ 1 Å). The cell must be orthorhombic (the builder's). ``layer_heights``
    (Å, (L,)) default to ``atoms.info['layer_heights']`` or to equal layers. Use the assignment of the
    undistorted reference when you have it (``atoms.arrays['cell_index']`` written by :func:`build_superlattice`);
    this function is the fallback for structures that lost it.

    Returns:
        (cell_index (n, 3) int, site (n,) int). With ``check``, raises ValueError unless every cell holds
        exactly one atom of each site.
    """
    nx, ny, nl = (int(x) for x in grid_shape)
    cell = np.asarray(atoms.cell.array)
    if not np.allclose(cell, np.diag(np.diag(cell)), atol=1e-6 * np.abs(cell).max()):
        raise ValueError(
            'assign_cells needs an orthorhombic cell (a, b, c along x, y, z) as built by build_superlattice'
        )
    lengths = np.diag(cell)
    if layer_heights is None:
        layer_heights = atoms.info.get('layer_heights')
    if layer_heights is None:
        heights = np.full(nl, lengths[2] / nl)
    else:
        heights = np.ravel(np.asarray(layer_heights, dtype=float))
        if heights.shape != (nl,):
            raise ValueError(f'layer_heights has {heights.size} entries, the grid has {nl} layers')
        heights = heights * lengths[2] / heights.sum()  # follow a strained cell
    bottoms = np.concatenate([[0.0], np.cumsum(heights)])
    pos = atoms.get_positions()
    frac_xy = pos[:, :2] / lengths[:2] * np.array([nx, ny])
    z = np.mod(pos[:, 2], lengths[2])
    layer = np.clip(np.searchsorted(bottoms, z, side='right') - 1, 0, nl - 1)
    frac_z = layer + (z - bottoms[layer]) / heights[layer]
    u = np.column_stack([frac_xy, frac_z])  # continuous cell coordinates
    half = np.abs(np.mod(u, 1.0) - 0.5) < 0.25  # True: at a cell middle, False: on a boundary
    basis = np.where(half, 0.5, 0.0)
    index = np.round(u - basis).astype(int) % np.array([nx, ny, nl])
    key = {(0, 0, 0): 0, (1, 1, 1): 1, (0, 1, 1): 2, (1, 0, 1): 3, (1, 1, 0): 4}
    site = np.array([key.get(tuple(int(h) for h in row), -1) for row in half])
    if check:
        if np.any(site < 0):
            bad = np.flatnonzero(site < 0)[:5].tolist()
            raise ValueError(
                f'atoms {bad} sit at no site of the perovskite basis (A, B, O_x, O_y, O_z): the structure is not '
                'a perovskite superlattice on this grid, or atoms moved by more than a/4; pass the reference '
                'assignment (cell_index) instead'
            )
        flat = (index[:, 2] * ny + index[:, 1]) * nx + index[:, 0]
        counts = np.zeros((nx * ny * nl, ATOMS_PER_CELL), dtype=int)
        np.add.at(counts, (flat, site), 1)
        if not np.all(counts == 1):
            raise ValueError(
                'the position-based assignment does not give one A, B, O_x, O_y, O_z per cell: check grid_shape '
                f'{grid_shape} and layer_heights, or pass the reference assignment (cell_index)'
            )
    return index, site
