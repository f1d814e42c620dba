"""Extraction of μ from the per-cell polarization profile of a strain-gradient supercell.

Two estimators, both reported (DESIGN.md §2), with G = multiplicity · ∂ε_jk/∂x_l the gradient that multiplies μ_ijkl
in P_i (:mod:`aiida_flexo.flexo.convention`):

* **two-point** (the seed's Eq. 4/5 generalised): μ = [P(z₁) − P(z₂)] / [G(z₁) − G(z₂)] at the two extrema of the
  gradient, z₁ and z₂ = z₁ + L/2 (L/4 and 3L/4 for the sine longitudinal field). The strain vanishes there, so
  strain-proportional (piezoelectric and cell-choice) terms drop out, and the difference cancels any uniform offset.
  ``method='nearest'`` uses the layers of cells whose centres are nearest z₁, z₂ (with their own G; exact when the
  centres sit on the extrema, which ``phase_origin='auto'`` and an even N guarantee); ``method='interpolate'``
  linearly interpolates P and G between the two layers that bracket each point.
* **fit**: least squares of P_i(z) = μ G(z) + e ε(z) + c over all layers, with the standard error of μ and the
  residual. DESIGN.md §2 writes the fit without the strain term; it is included by default because the cell dipole
  of a strained cell carries a strain-proportional part (piezoelectric response plus the first moment Σ_b Z*_b δ_b
  of the cell's basis, which depends on the cell choice) that is often larger than the flexo signal: over a full
  period sampled uniformly it is orthogonal to G, so μ is the same either way, but without the term it inflates the
  residual and the standard error. ``fit_strain_term=False`` gives the DESIGN.md fit P = μ G + c.

P is averaged over the cells of each layer (the transverse geometry needs it: the bending-like field varies across
T; ``exclude_seam`` drops that many cells on each side of the seam, symmetrically). Internal units: P e/Å², z Å,
G 1/Å, μ e/Å; :meth:`Extraction.to_dict` reports nC/m, C/m² and 1/m.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from aiida_flexo.flexo.cells import cell_dipoles, cell_polarization, layer_average
from aiida_flexo.flexo.convention import CONVENTION, Component, gradient_to_per_m, mu_to_nc_per_m
from aiida_flexo.flexo.supercell import FlexoSupercell
from aiida_flexo.units import E_PER_A2_TO_C_PER_M2

TWO_POINT_METHODS = ('nearest', 'interpolate')


@dataclass
class Extraction:
    """μ of one component from one polarization profile (internal units: e/Å, e/Å², Å, 1/Å)."""

    component: str
    geometry: str
    mu_two_point: float
    mu_fit: float
    fit_stderr: float
    offset: float  #: c of the fit, e/Å²
    residual_rms: float  #: rms of P − fit, e/Å²
    r2: float  #: coefficient of determination of the fit
    two_point: dict  #: method, targets, layers and positions used, exact flag
    z: np.ndarray  #: (n_layers,) layer centres, Å
    strain: np.ndarray  #: (n_layers,) ε_jk
    strain_gradient: np.ndarray  #: (n_layers,) ∂ε_jk/∂x_l, 1/Å
    multiplicity: int
    polarization: np.ndarray  #: (n_layers,) P_i, e/Å²
    fitted: np.ndarray  #: (n_layers,) μ G + c (+ e ε), e/Å²
    strain_coefficient: float | None = None  #: e of the optional strain term, e/Å²
    notes: list[str] = field(default_factory=list)

    @property
    def gradient(self) -> np.ndarray:
        """G = multiplicity · ∂ε_jk/∂x_l (1/Å)."""
        return self.multiplicity * self.strain_gradient

    def to_dict(self) -> dict:
        """Edge units: μ nC/m, P C/m², gradient 1/m."""
        comp = Component.parse(self.component)
        return {
            'component': self.component,
            'convention': CONVENTION,
            'geometry': self.geometry,
            'measures': comp.measures,
            'mu_nC_per_m': {
                'two_point': mu_to_nc_per_m(self.mu_two_point),
                'fit': mu_to_nc_per_m(self.mu_fit),
                'fit_stderr': mu_to_nc_per_m(self.fit_stderr),
                'spread': abs(mu_to_nc_per_m(self.mu_two_point - self.mu_fit)),
            },
            'residual': {
                'rms_C_m2': float(self.residual_rms * E_PER_A2_TO_C_PER_M2),
                'r2': float(self.r2),
                'offset_C_m2': float(self.offset * E_PER_A2_TO_C_PER_M2),
                'strain_coefficient_C_m2': None
                if self.strain_coefficient is None
                else float(self.strain_coefficient * E_PER_A2_TO_C_PER_M2),
            },
            'two_point': self.two_point,
            'profile': {
                'z_A': self.z.tolist(),
                'strain': self.strain.tolist(),
                'strain_gradient_per_m': gradient_to_per_m(self.strain_gradient).tolist(),
                'strain_multiplicity': self.multiplicity,
                'P_C_m2': (self.polarization * E_PER_A2_TO_C_PER_M2).tolist(),
                'P_fit_C_m2': (self.fitted * E_PER_A2_TO_C_PER_M2).tolist(),
            },
            'notes': list(self.notes),
        }


def _periodic_distance(z: np.ndarray, target: float, period: float) -> np.ndarray:
    return np.abs(np.mod(np.asarray(z) - target + period / 2, period) - period / 2)


def two_point_mu(
    z: np.ndarray,
    polarization: np.ndarray,
    gradient: np.ndarray,
    targets: tuple[float, float],
    period: float,
    method: str = 'nearest',
) -> dict:
    """Two-point μ = ΔP/ΔG between the profile at ``targets`` (Å), periodic with ``period``; returns a dict.

    Keys: ``mu`` (e/Å), ``method``, ``targets_A``, ``layers`` (indices used), ``z_used_A``, ``exact`` (the layers sit
    on the targets) and ``offset_A`` (largest distance of a used layer from its target).
    """
    z = np.asarray(z, dtype=float)
    p = np.asarray(polarization, dtype=float)
    g = np.asarray(gradient, dtype=float)
    if method not in TWO_POINT_METHODS:
        raise ValueError(f'two-point method must be one of {TWO_POINT_METHODS}, got {method!r}')
    tol = 1e-9 * period
    values, used, layers, offsets = [], [], [], []
    for target in targets:
        distance = _periodic_distance(z, target, period)
        nearest = int(np.argmin(distance))
        if method == 'nearest' or distance[nearest] < tol:
            values.append((p[nearest], g[nearest]))
            used.append(float(z[nearest]))
            layers.append([nearest])
            offsets.append(float(distance[nearest]))
            continue
        signed = np.mod(z - target + period / 2, period) - period / 2
        below = np.where(signed <= 0)[0]
        above = np.where(signed > 0)[0]
        lo = below[np.argmax(signed[below])] if len(below) else int(np.argmin(signed))
        hi = above[np.argmin(signed[above])] if len(above) else int(np.argmax(signed))
        d_lo, d_hi = -signed[lo], signed[hi]
        w = d_lo / (d_lo + d_hi)
        values.append(((1 - w) * p[lo] + w * p[hi], (1 - w) * g[lo] + w * g[hi]))
        used.append(float(target))
        layers.append([int(lo), int(hi)])
        offsets.append(0.0)
    (p1, g1), (p2, g2) = values
    if abs(g1 - g2) < 1e-300:
        raise ValueError('the strain gradient is the same at both points: check the supercell field')
    return {
        'mu': float((p1 - p2) / (g1 - g2)),
        'method': method,
        'targets_A': [float(t) for t in targets],
        'layers': layers,
        'z_used_A': used,
        'exact': bool(max(offsets) < tol) if method == 'nearest' else True,
        'offset_A': float(max(offsets)),
    }


def fit_mu(
    polarization: np.ndarray, gradient: np.ndarray, strain: np.ndarray | None = None
) -> tuple[float, float, float, np.ndarray, float | None]:
    """Least squares P = μ G + c (+ e ε): returns (μ, stderr of μ, c, fitted P, e or None); units follow the inputs."""
    p = np.asarray(polarization, dtype=float)
    columns = [np.asarray(gradient, dtype=float), np.ones_like(p)]
    if strain is not None:
        columns.append(np.asarray(strain, dtype=float))
    design = np.stack(columns, axis=1)
    if len(p) <= design.shape[1]:
        raise ValueError(f'the fit needs more than {design.shape[1]} layers, got {len(p)}')
    coefficients, *_ = np.linalg.lstsq(design, p, rcond=None)
    fitted = design @ coefficients
    dof = len(p) - design.shape[1]
    sigma2 = float(np.sum((p - fitted) ** 2)) / dof
    covariance = sigma2 * np.linalg.pinv(design.T @ design)
    stderr = float(np.sqrt(max(covariance[0, 0], 0.0)))
    strain_coefficient = float(coefficients[2]) if strain is not None else None
    return float(coefficients[0]), stderr, float(coefficients[1]), fitted, strain_coefficient


def seam_mask(supercell: FlexoSupercell, exclude_seam: int = 0) -> np.ndarray:
    """(n_cells,) cells kept for the layer average: all but ``exclude_seam`` on each side of the transverse seam."""
    mask = np.ones(supercell.n_cells, dtype=bool)
    if exclude_seam <= 0 or supercell.geometry != 'transverse':
        return mask
    t = Component.parse(supercell.component).transverse_axis
    m = supercell.cell_index[:, t]
    n_t = supercell.repeat[t]
    if 2 * exclude_seam >= n_t:
        raise ValueError(f'exclude_seam={exclude_seam} leaves no cell of the {n_t} along the transverse axis')
    return (m >= exclude_seam) & (m < n_t - exclude_seam)


def extract(
    supercell: FlexoSupercell,
    cell_polarization_e_A2: np.ndarray,
    *,
    method: str = 'nearest',
    exclude_seam: int = 0,
    fit_strain_term: bool = True,
) -> Extraction:
    """μ (two-point and fit) from per-cell polarizations (n_cells, 3) in e/Å² of ``supercell``."""
    p_cells = np.asarray(cell_polarization_e_A2, dtype=float)
    if p_cells.shape != (supercell.n_cells, 3):
        raise ValueError(
            f'cell polarizations must have shape (n_cells, 3) = ({supercell.n_cells}, 3), got {p_cells.shape}'
        )
    mask = seam_mask(supercell, exclude_seam)
    layers = supercell.layer_index
    n_layers = supercell.n_layers
    p_layer = layer_average(p_cells[:, supercell.polarization_axis], layers, n_layers, mask)
    strain = layer_average(supercell.strain, layers, n_layers)
    gradient = layer_average(supercell.strain_gradient, layers, n_layers)
    multiplicity = supercell.strain_multiplicity
    z = supercell.layer_centres
    g_eff = multiplicity * gradient
    two = two_point_mu(z, p_layer, g_eff, supercell.gradient_extrema(), supercell.period, method)
    mu, stderr, offset, fitted, e_coef = fit_mu(p_layer, g_eff, strain if fit_strain_term else None)
    residual = p_layer - fitted
    total = np.sum((p_layer - p_layer.mean()) ** 2)
    r2 = float(1.0 - np.sum(residual**2) / total) if total > 0 else float('nan')
    notes = []
    if not two['exact']:
        notes.append(
            f'two-point layers are up to {two["offset_A"]:.3f} Å from the gradient extrema (odd N or a fixed phase): '
            'strain-proportional terms can enter; use an even N with phase_origin="auto" or method="interpolate"'
        )
    if supercell.geometry == 'transverse':
        notes.append(f'transverse geometry measures {Component.parse(supercell.component).measures}')
    two_mu = two.pop('mu')
    return Extraction(
        component=supercell.component,
        geometry=supercell.geometry,
        mu_two_point=two_mu,
        mu_fit=mu,
        fit_stderr=stderr,
        offset=offset,
        residual_rms=float(np.sqrt(np.mean(residual**2))),
        r2=r2,
        two_point=two,
        z=z,
        strain=strain,
        strain_gradient=gradient,
        multiplicity=multiplicity,
        polarization=p_layer,
        fitted=fitted,
        strain_coefficient=e_coef,
        notes=notes,
    )


def supercell_cell_polarization(supercell: FlexoSupercell, per_atom_dipoles: np.ndarray) -> np.ndarray:
    """(n_cells, 3) per-cell polarization (e/Å²) from per-atom dipoles (n_atoms, 3, e·Å) and the stored assignment."""
    dipoles = cell_dipoles(per_atom_dipoles, supercell.assignment, supercell.n_cells)
    return cell_polarization(dipoles, supercell.unit_volume)


def extract_from_dipoles(supercell: FlexoSupercell, per_atom_dipoles: np.ndarray, **options) -> Extraction:
    """:func:`extract` from per-atom dipoles (n_atoms, 3) in e·Å (the output of a dipole model / predict step)."""
    return extract(supercell, supercell_cell_polarization(supercell, per_atom_dipoles), **options)
