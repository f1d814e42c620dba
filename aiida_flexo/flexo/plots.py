"""Figures of a flexo run (matplotlib, Agg backend; nothing is shown, files are written).

* :func:`plot_displacements`: displacement of each species along the gradient axis, with the imposed field;
* :func:`plot_polarization`: per-layer polarization P_i(z) − c with the fitted μ G(z) (+ e ε), both routes;
* :func:`plot_profile`: both panels in one figure (``profile.png`` of the CLI);
* :func:`plot_convergence`: μ against N or against the maximum strain.

Axes in Å, displacements in pm (1e-2 Å), polarization in µC/cm², μ in nC/m.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from aiida_flexo.flexo.cells import displacements
from aiida_flexo.flexo.convention import AXES, Component, mu_to_nc_per_m
from aiida_flexo.units import E_PER_A2_TO_UC_PER_CM2


def _pyplot():
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    return plt


def plot_displacements(supercell, atoms, ax=None, relaxation: bool = False):
    """Displacement (pm) of every atom against its reference coordinate along the gradient axis.

    ``relaxation=False``: the total displacement along the field direction, with the imposed field; ``True``: the
    displacement relative to the imposed field along the polarization axis (what the relaxation added).
    """
    plt = _pyplot()
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3))
    ref = np.asarray(supercell.reference.positions)
    axis = supercell.axis
    if relaxation:
        direction = supercell.polarization_axis
        u = displacements(atoms, supercell.atoms)[:, direction] * 100.0
    else:
        direction = supercell.displacement_axis
        u = displacements(atoms, supercell.reference)[:, direction] * 100.0
    symbols = np.array(supercell.reference.get_chemical_symbols())
    for species in sorted(set(symbols)):
        chosen = symbols == species
        ax.plot(ref[chosen, axis], u[chosen], 'o', ms=3, label=species)
    if not relaxation and supercell.geometry != 'transverse':
        z = (
            np.linspace(0, supercell.period, 400)
            + supercell.basis_origin[axis] * supercell.unit.cell[axis, axis]
        )
        points = np.zeros((len(z), 3))
        points[:, axis] = z
        ax.plot(z, supercell.field(points)[:, direction] * 100.0, 'k-', lw=0.8, label='imposed')
    ax.set_xlabel(f'{AXES[axis]} (Å)')
    label = f'Δu_{AXES[direction]} relaxation (pm)' if relaxation else f'u_{AXES[direction]} (pm)'
    ax.set_ylabel(label, fontsize=8)
    ax.legend(fontsize=7, ncol=4)
    return ax


def plot_polarization(extraction, ax=None, bec=None, label='dipole model'):
    """Per-layer P_i − c (µC/cm²; c the uniform offset of the fit, in the legend) with the fit, the flexo part μ G,
    and the two-point layers; ``bec`` adds the Born-charge route (with its own offset).

    When the fit has a strain term e·ε, P − e·ε − c (the part the strain gradient explains) is drawn too.
    """
    plt = _pyplot()
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3))
    comp = Component.parse(extraction.component)
    scale = E_PER_A2_TO_UC_PER_CM2
    z = extraction.z
    c = extraction.offset
    ax.plot(
        z,
        (extraction.polarization - c) * scale,
        'o',
        color='C0',
        label=f'{label} (c = {c * scale:.3g} µC/cm²)',
    )
    ax.plot(z, (extraction.fitted - c) * scale, '-', color='C0', lw=0.8, label='fit')
    flexo_part = extraction.mu_fit * extraction.gradient
    ax.plot(
        z,
        flexo_part * scale,
        '-',
        color='C2',
        lw=1.2,
        label=f'μ G, μ = {mu_to_nc_per_m(extraction.mu_fit):.3f} nC/m',
    )
    if extraction.strain_coefficient is not None:
        corrected = extraction.polarization - extraction.strain_coefficient * extraction.strain - c
        ax.plot(z, corrected * scale, 'o', mfc='none', color='C2', ms=5, label='P − e ε − c')
    used = [layer for layers in extraction.two_point['layers'] for layer in layers]
    ax.plot(
        z[used],
        (extraction.polarization[used] - c) * scale,
        's',
        mfc='none',
        color='C3',
        ms=9,
        label=f'two-point μ = {mu_to_nc_per_m(extraction.mu_two_point):.3f} nC/m',
    )
    if bec is not None:
        ax.plot(
            bec.z,
            (bec.polarization - bec.offset) * scale,
            'x',
            color='C1',
            label=f'Born charges, μ = {mu_to_nc_per_m(bec.mu_fit):.3f} (c = {bec.offset * scale:.3g})',
        )
    ax.set_xlabel(f'{AXES[comp.gradient_axis]} (Å)')
    ax.set_ylabel(f'P_{AXES[comp.polarization_axis]} − c (µC/cm²)')
    ax.set_title(f'{comp.name} ({extraction.geometry})', fontsize=9)
    ax.legend(fontsize=6)
    return ax


def plot_profile(result, path: str | Path) -> Path:
    """Three panels of a :class:`FlexoResult` (displacements, relaxation, polarization with fit) into ``path``."""
    plt = _pyplot()
    fig, (top, middle, bottom) = plt.subplots(3, 1, figsize=(6.5, 8), sharex=True)
    plot_displacements(result.supercell, result.relaxed, ax=top)
    plot_displacements(result.supercell, result.relaxed, ax=middle, relaxation=True)
    if not result.relaxation.get('relaxed', False):
        middle.set_title('not relaxed: imposed field only', fontsize=8)
    plot_polarization(result.extraction, ax=bottom, bec=result.bec)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path


def plot_convergence(scans, path: str | Path, limit=None) -> Path:
    """μ (nC/m) against N and/or the maximum strain, one panel per :class:`ConvergenceScan`; with ``limit`` (an
    :class:`~aiida_flexo.flexo.convergence.Extrapolation`) the N panel also shows the fitted form and μ∞ ± error."""
    plt = _pyplot()
    scans = list(scans) if isinstance(scans, (list, tuple)) else [scans]
    fig, axes = plt.subplots(1, len(scans), figsize=(4.5 * len(scans), 3.2), squeeze=False)
    for ax, table in zip(axes[0], scans):
        x = np.asarray(table.values, dtype=float)
        ax.errorbar(x, table.mu_fit, yerr=table.fit_stderr, fmt='o-', label='fit', capsize=3)
        ax.plot(x, table.mu_two_point, 's--', label='two-point')
        if any(v is not None for v in table.bec_mu_fit):
            ax.plot(x, [np.nan if v is None else v for v in table.bec_mu_fit], 'x:', label='Born charges')
        if limit is not None and table.parameter == 'repeat':
            fit = next(f for f in limit.fits if f.form == limit.form)
            power = 2.0 if limit.form == '1/N^2' else 1.0
            grid = np.linspace(x.min(), 2 * x.max(), 100)
            ax.plot(
                grid,
                fit.mu_inf + fit.slope * grid ** (-power),
                '-',
                color='0.4',
                lw=1,
                label=f'μ∞ + a{limit.form[1:]}',
            )
            ax.axhspan(
                limit.mu_inf - limit.error,
                limit.mu_inf + limit.error,
                color='C2',
                alpha=0.2,
                label='μ∞ ± error',
            )
        ax.set_xlabel('N (cells along the gradient)' if table.parameter == 'repeat' else 'maximum strain')
        ax.set_ylabel('μ (nC/m)')
        ax.legend(fontsize=7)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path
