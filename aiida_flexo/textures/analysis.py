"""One-call texture analysis of a polarization field: skyrmion numbers, domains, walls, mean |P| (JSON-ready)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from aiida_flexo.serialization import jsonable
from aiida_flexo.textures.domains import count_domains_per_layer, find_walls, label_domains
from aiida_flexo.textures.field import cell_size_vector
from aiida_flexo.textures.topology import skyrmion_numbers


def select_layers(n_layers: int, layers: str | Sequence[int] | None) -> list[int]:
    """Layer indices from None (all), a list, or a spec like ``'0-7'`` / ``'0,2,4-6'`` (inclusive ranges)."""
    if layers is None:
        return list(range(n_layers))
    if isinstance(layers, str):
        chosen: list[int] = []
        for part in layers.split(','):
            part = part.strip()
            if not part:
                continue
            try:
                if '-' in part:
                    lo, hi = (int(x) for x in part.split('-'))
                    chosen.extend(range(lo, hi + 1))
                else:
                    chosen.append(int(part))
            except ValueError:
                raise ValueError(f'cannot read layer spec {layers!r}: use e.g. "0-7" or "0,2,4-6"') from None
    else:
        chosen = [int(x) for x in layers]
    if not chosen:
        raise ValueError('no layers selected')
    bad = [k for k in chosen if not 0 <= k < n_layers]
    if bad:
        raise ValueError(f'layers {bad} outside 0..{n_layers - 1}')
    return sorted(set(chosen))


def analyse_texture(
    P_field: np.ndarray,
    cell_size_A: float | Sequence[float],
    *,
    layer_heights_A: Sequence[float] | None = None,
    layers: str | Sequence[int] | None = None,
    domain_method: str = 'sign',
    zero_tol: float = 1e-8,
    domain_threshold: float = 0.0,
    ising_threshold: float = 0.15,
    max_profiles: int = 200,
    out_json: str | Path | None = None,
) -> dict:
    """Analyse an (Nx, Ny, L, 3) polarization field in C/m² on the grid of unit cells.

    Args:
        P_field: the field (C/m²), e.g. from :func:`aiida_flexo.textures.field.polarization_field`.
        cell_size_A: (a_x, a_y, c) in Å (or one number).
        layer_heights_A: (L,) layer heights (Å) when the layers differ (superlattices).
        layers: layers to analyse (None: all; a list; or ``'0-7'``); a subset is not periodic along z.
        domain_method: 'sign' (of P_z) or 'orientation' (six tetragonal variants); see
            :mod:`aiida_flexo.textures.domains`.
        zero_tol: relative threshold below which |P| (topology) or |P_z| (domains) counts as zero.
        domain_threshold: cells whose |P_z| (sign method) or |P| (orientation) is below this fraction of the
            largest one belong to no domain (e.g. 0.1 to leave weakly polar spacer or noisy cells out).
        ising_threshold: rotation fraction below which a 180° wall is Ising.
        max_profiles: tanh fits per wall at most.
        out_json: if given, the result is also written there as JSON.

    Returns:
        dict with ``grid_shape``, ``layers``, ``units``, ``skyrmion_number_per_layer`` (raw Q),
        ``skyrmion_number_rounded``, ``skyrmion_number_is_integer``, ``skyrmion_skipped_triangles``,
        ``domain_count`` (3D, over the selected layers), ``domain_count_per_layer``, ``domains``, ``walls`` (each:
        position in Å and cells, type, width in Å and cells, ...), ``wall_types`` (count per type),
        ``mean_abs_P_C_per_m2``, ``mean_abs_P_per_layer_C_per_m2`` and ``mean_P_C_per_m2``.
    """
    P = np.asarray(P_field, dtype=float)
    if P.ndim != 4 or P.shape[-1] != 3:
        raise ValueError(f'a polarization field has shape (Nx, Ny, L, 3), got {P.shape}')
    if not np.all(np.isfinite(P)):
        raise ValueError('the polarization field contains NaN or inf values')
    size = cell_size_vector(cell_size_A)
    chosen = select_layers(P.shape[2], layers)
    heights = None if layer_heights_A is None else np.ravel(np.asarray(layer_heights_A, dtype=float))
    if heights is not None and heights.shape != (P.shape[2],):
        raise ValueError(f'layer_heights_A has {heights.size} entries, the field has {P.shape[2]} layers')
    all_layers = chosen == list(range(P.shape[2]))
    sub = P[:, :, chosen]
    sub_heights = None if heights is None else heights[chosen]
    periodic = (True, True, all_layers)

    charges = skyrmion_numbers(sub, zero_tol=zero_tol)
    domain_tol = max(zero_tol, domain_threshold)
    domains = label_domains(sub, domain_method, zero_tol=domain_tol, periodic=periodic)
    walls = find_walls(
        sub,
        domains,
        size,
        layer_heights_A=sub_heights,
        periodic=periodic,
        ising_threshold=ising_threshold,
        max_profiles=max_profiles,
    )
    for wall in walls:  # positions along z refer to the full grid
        _shift_z(wall, chosen, heights, size[2])
    norm = np.linalg.norm(sub, axis=-1)
    wall_dicts = [w.as_dict() for w in walls]
    types: dict[str, int] = {}
    for w in wall_dicts:
        types[w['type']] = types.get(w['type'], 0) + 1
    result = {
        'grid_shape': list(P.shape[:3]),
        'layers': chosen,
        'cell_size_A': size.tolist(),
        'layer_heights_A': None if heights is None else heights.tolist(),
        'units': {'polarization': 'C/m^2', 'length': 'angstrom', 'cell_units': 'cell i spans [i, i+1)'},
        'skyrmion_number_per_layer': [c.Q for c in charges],
        'skyrmion_number_rounded': [c.rounded for c in charges],
        'skyrmion_number_is_integer': [c.is_integer for c in charges],
        'skyrmion_skipped_triangles': [c.n_skipped_triangles for c in charges],
        'domain_method': domain_method,
        'domain_count': int(domains.n_domains),
        'domain_threshold': domain_threshold,
        'domain_count_per_layer': count_domains_per_layer(sub, domain_method, zero_tol=domain_tol),
        'domains': domains.as_dict()['domains'],
        'walls': wall_dicts,
        'wall_types': types,
        'mean_abs_P_C_per_m2': float(norm.mean()),
        'mean_abs_P_per_layer_C_per_m2': norm.mean(axis=(0, 1)).tolist(),
        'mean_P_C_per_m2': sub.mean(axis=(0, 1, 2)).tolist(),
    }
    result = jsonable(result)
    if out_json is not None:
        Path(out_json).write_text(json.dumps(result, indent=2, ensure_ascii=False))
    return result


def _shift_z(wall, chosen: list[int], heights: np.ndarray | None, c: float) -> None:
    """Map a wall's z position from the selected-layer sub-grid to the full grid (cells and Å)."""
    u = wall.position_cells[2]
    if u is None or chosen == list(range(chosen[-1] + 1)):
        return
    k_sub = int(np.clip(np.floor(u), 0, len(chosen) - 1))
    k = chosen[k_sub]
    u_full = k + (u - k_sub)
    wall.position_cells[2] = float(u_full)
    if heights is None:
        wall.position_A[2] = float(u_full * c)
    else:
        bottoms = np.concatenate([[0.0], np.cumsum(heights)])
        wall.position_A[2] = float(bottoms[k] + (u_full - k) * heights[k])
