"""Pictures of a polarization field: per-layer quiver maps, cross-sections, a 3D view (VTK, HTML).

Figures are drawn with matplotlib's object API on an Agg canvas (no pyplot state, no display needed). The colour
map is P_z (C/m², red up, blue down, symmetric range over the whole field, so all layers share one scale); black
arrows show the in-plane component of the section (one length scale per figure: the longest arrow is 0.9 cell).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from aiida_flexo.textures.field import cell_centres_A, cell_size_vector
from aiida_flexo.textures.vtk import read_vtk, write_vtk

__all__ = ['plot_cross_section', 'plot_layer', 'plot_layers', 'read_vtk', 'write_html', 'write_vtk']

CMAP = 'RdBu_r'


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout='constrained')
    FigureCanvasAgg(fig)
    return fig


def _edges(centres: np.ndarray, spacing: float) -> np.ndarray:
    if len(centres) == 1:
        return np.array([centres[0] - spacing / 2, centres[0] + spacing / 2])
    mid = 0.5 * (centres[1:] + centres[:-1])
    return np.concatenate([[2 * centres[0] - mid[0]], mid, [2 * centres[-1] - mid[-1]]])


def _pz_range(P: np.ndarray) -> float:
    vmax = float(np.abs(P[..., 2]).max())
    return vmax if vmax > 0 else 1.0


def plot_layer(
    P: np.ndarray,
    layer: int,
    cell_size_A: float | Sequence[float],
    ax,
    *,
    vmax: float | None = None,
    arrow_max: float | None = None,
    title: str | None = None,
):
    """Draw layer ``layer`` of an (Nx, Ny, L, 3) field (C/m²) on a matplotlib axes; returns the P_z mesh.

    ``vmax``: colour range ±vmax (default max |P_z| of the field); ``arrow_max``: in-plane |P| drawn 0.9 cell long
    (default the largest in-plane |P| of the whole field, so that layers compare).
    """
    P = np.asarray(P, dtype=float)
    size = cell_size_vector(cell_size_A)
    x, y, _ = cell_centres_A(P.shape[:3], size)
    vmax = vmax if vmax is not None else _pz_range(P)
    mesh = ax.pcolormesh(
        _edges(x, size[0]), _edges(y, size[1]), P[:, :, layer, 2].T, cmap=CMAP, vmin=-vmax, vmax=vmax
    )
    if arrow_max is None:
        arrow_max = float(np.hypot(P[..., 0], P[..., 1]).max())
    _quiver(ax, x, y, P[:, :, layer, 0], P[:, :, layer, 1], min(size[0], size[1]), arrow_max)
    ax.set_aspect('equal')
    ax.set_xlabel('x (Å)')
    ax.set_ylabel('y (Å)')
    ax.set_title(title if title is not None else f'layer {layer}')
    return mesh


def _quiver(
    ax, a: np.ndarray, b: np.ndarray, u: np.ndarray, v: np.ndarray, cell: float, longest: float | None = None
) -> None:
    longest = float(np.hypot(u, v).max()) if longest is None else longest
    if longest <= 0 or not np.any(np.hypot(u, v) > 0):
        return
    A, B = np.meshgrid(a, b, indexing='ij')
    ax.quiver(
        A,
        B,
        u,
        v,
        color='k',
        angles='xy',
        scale_units='xy',
        scale=longest / (0.9 * cell),
        pivot='middle',
        width=0.004,
    )


def plot_layers(
    P: np.ndarray,
    path: str | Path,
    cell_size_A: float | Sequence[float],
    *,
    layers: Sequence[int] | None = None,
    ncols: int = 4,
    skyrmion_numbers: Sequence[float] | None = None,
    dpi: int = 120,
) -> Path:
    """One quiver map per layer (in-plane arrows over P_z), all in one PNG; returns the path.

    ``skyrmion_numbers`` (one per plotted layer) are added to the panel titles.
    """
    P = np.asarray(P, dtype=float)
    layers = list(range(P.shape[2])) if layers is None else list(layers)
    ncols = max(1, min(ncols, len(layers)))
    nrows = -(-len(layers) // ncols)
    fig = _figure(3.2 * ncols + 0.8, 3.0 * nrows)
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    vmax = _pz_range(P)
    arrow_max = float(np.hypot(P[..., 0], P[..., 1]).max())
    mesh = None
    for number, (ax, k) in enumerate(zip(axes, layers)):
        title = f'layer {k}'
        if skyrmion_numbers is not None:
            title += f'  Q = {skyrmion_numbers[number]:+.2f}'
        mesh = plot_layer(P, k, cell_size_A, ax, vmax=vmax, arrow_max=arrow_max, title=title)
    for ax in axes[len(layers) :]:
        ax.set_visible(False)
    fig.colorbar(mesh, ax=list(axes[: len(layers)]), label='$P_z$ (C/m$^2$)', shrink=0.8)
    path = Path(path)
    fig.savefig(path, dpi=dpi)
    return path


def plot_cross_section(
    P: np.ndarray,
    path: str | Path,
    cell_size_A: float | Sequence[float],
    *,
    layer_heights_A: Sequence[float] | None = None,
    plane: str = 'xz',
    index: int | None = None,
    dpi: int = 120,
) -> Path:
    """Cross-section of the field: ``plane='xz'`` at y cell ``index`` (default the middle) or ``'yz'`` at x cell
    ``index``; arrows (P_x or P_y, P_z) over P_z. Returns the path of the PNG."""
    P = np.asarray(P, dtype=float)
    size = cell_size_vector(cell_size_A)
    x, y, z = cell_centres_A(P.shape[:3], size, layer_heights_A)
    if plane == 'xz':
        index = P.shape[1] // 2 if index is None else index
        section, a, spacing_a, label = P[:, index], x, size[0], 'x'
    elif plane == 'yz':
        index = P.shape[0] // 2 if index is None else index
        section, a, spacing_a, label = P[index], y, size[1], 'y'
    else:
        raise ValueError(f"plane must be 'xz' or 'yz', got {plane!r}")
    component = 0 if plane == 'xz' else 1
    heights = np.full(len(z), size[2]) if layer_heights_A is None else np.ravel(layer_heights_A)
    z_edges = np.concatenate([[0.0], np.cumsum(heights)])
    width = max(4.0, min(14.0, 0.35 * (a[-1] - a[0] + spacing_a) / size[0] + 1.5))
    height = max(2.5, min(10.0, width * (z_edges[-1] / (a[-1] - a[0] + spacing_a)) + 1.0))
    fig = _figure(width, height)
    ax = fig.subplots()
    vmax = _pz_range(P)
    mesh = ax.pcolormesh(_edges(a, spacing_a), z_edges, section[:, :, 2].T, cmap=CMAP, vmin=-vmax, vmax=vmax)
    _quiver(ax, a, z, section[:, :, component], section[:, :, 2], min(spacing_a, float(heights.min())))
    other = 'y' if plane == 'xz' else 'x'
    ax.set_aspect('equal')
    ax.set_xlabel(f'{label} (Å)')
    ax.set_ylabel('z (Å)')
    ax.set_title(f'{plane} section at {other} cell {index}')
    fig.colorbar(mesh, ax=ax, label='$P_z$ (C/m$^2$)')
    path = Path(path)
    fig.savefig(path, dpi=dpi)
    return path


def write_html(
    path: str | Path,
    P: np.ndarray,
    cell_size_A: float | Sequence[float],
    *,
    layer_heights_A: Sequence[float] | None = None,
    include_plotlyjs: bool | str = True,
) -> Path:
    """A 3D cone view of the field in a self-contained HTML page (needs plotly; cones coloured by |P|).

    ``include_plotlyjs=True`` embeds plotly.js (~4 MB, works offline); ``'cdn'`` links it instead (small file).
    Raises ImportError with the fix when plotly is not installed.
    """
    try:
        import plotly.graph_objects as go
    except ImportError as exc:  # pragma: no cover - plotly comes with pymatgen
        raise ImportError('the HTML view needs plotly: pip install plotly (or use the VTK file)') from exc
    P = np.asarray(P, dtype=float)
    x, y, z = cell_centres_A(P.shape[:3], cell_size_A, layer_heights_A)
    X, Y, Z = np.meshgrid(x, y, z, indexing='ij')
    cones = go.Cone(
        x=X.ravel(),
        y=Y.ravel(),
        z=Z.ravel(),
        u=P[..., 0].ravel(),
        v=P[..., 1].ravel(),
        w=P[..., 2].ravel(),
        colorscale='RdBu_r',
        colorbar={'title': '|P| (C/m²)'},
        sizemode='scaled',
        sizeref=0.8,
        anchor='center',
    )
    fig = go.Figure(cones)
    fig.update_layout(
        scene={'xaxis_title': 'x (Å)', 'yaxis_title': 'y (Å)', 'zaxis_title': 'z (Å)', 'aspectmode': 'data'},
        title='polarization field (aiida-flexo)',
    )
    path = Path(path)
    fig.write_html(str(path), include_plotlyjs=include_plotlyjs)
    return path
