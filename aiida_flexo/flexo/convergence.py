"""Convergence of μ in the supercell length N and in the strain amplitude.

The helpers take a callable that does build -> relax -> predict -> extract for one value (e.g. a closure over
:func:`aiida_flexo.flexo.run.compute_coefficient`, or :func:`aiida_flexo.flexo.run.coefficient_runner`), so they work
with synthetic models, the GNN + MLIP, or a function that submits AiiDA processes. The callable returns anything
with ``mu_two_point``, ``mu_fit`` and ``fit_stderr`` in e/Å (a :class:`FlexoResult` or an :class:`Extraction`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from aiida_flexo.flexo.convention import mu_to_nc_per_m


@dataclass
class ConvergenceScan:
    """μ (nC/m) against one parameter ('repeat' or 'max_strain')."""

    parameter: str
    values: list[float]
    mu_two_point: list[float] = field(default_factory=list)  #: nC/m
    mu_fit: list[float] = field(default_factory=list)  #: nC/m
    fit_stderr: list[float] = field(default_factory=list)  #: nC/m
    bec_mu_fit: list[float | None] = field(default_factory=list)  #: nC/m, when the runs had a BEC route
    wall_s: list[float] = field(default_factory=list)

    def change(self, estimator: str = 'fit') -> float:
        """|μ(last) − μ(previous)| / |μ(last)| of ``'fit'`` or ``'two_point'`` (nan with fewer than two values)."""
        series = self.mu_fit if estimator == 'fit' else self.mu_two_point
        if len(series) < 2 or series[-1] == 0:
            return float('nan')
        return float(abs(series[-1] - series[-2]) / abs(series[-1]))

    def converged(self, rtol: float = 0.02, estimator: str = 'fit') -> bool:
        """True when the last two values agree within ``rtol`` (relative)."""
        change = self.change(estimator)
        return bool(np.isfinite(change) and change <= rtol)

    def to_dict(self) -> dict:
        return {
            'parameter': self.parameter,
            'values': list(self.values),
            'mu_nC_per_m': {
                'two_point': self.mu_two_point,
                'fit': self.mu_fit,
                'fit_stderr': self.fit_stderr,
            },
            'bec_mu_fit_nC_per_m': self.bec_mu_fit,
            'relative_change_last': {'fit': self.change('fit'), 'two_point': self.change('two_point')},
            'wall_s': self.wall_s,
        }


def scan(compute: Callable, values: Iterable, parameter: str) -> ConvergenceScan:
    """Run ``compute(value)`` for each value and tabulate μ (two-point, fit, stderr; BEC fit when present)."""
    values = list(values)
    if not values:
        raise ValueError(f'give at least one {parameter} value to scan')
    table = ConvergenceScan(
        parameter=parameter, values=[float(v) if parameter != 'repeat' else int(v) for v in values]
    )
    for value in values:
        start = time.perf_counter()
        result = compute(value)
        table.wall_s.append(time.perf_counter() - start)
        table.mu_two_point.append(mu_to_nc_per_m(result.mu_two_point))
        table.mu_fit.append(mu_to_nc_per_m(result.mu_fit))
        table.fit_stderr.append(mu_to_nc_per_m(result.fit_stderr))
        bec = getattr(result, 'bec', None)
        table.bec_mu_fit.append(None if bec is None else mu_to_nc_per_m(bec.mu_fit))
    return table


def mu_vs_repeat(compute: Callable[[int], object], repeats: Iterable[int]) -> ConvergenceScan:
    """μ against the number N of unit cells along the gradient axis; ``compute(N)`` runs one supercell."""
    repeats = [int(n) for n in repeats]
    return scan(compute, repeats, 'repeat')


def mu_vs_strain(compute: Callable[[float], object], max_strains: Iterable[float]) -> ConvergenceScan:
    """μ against the maximum strain (linear response: μ must not depend on it); ``compute(ε_max)`` runs one."""
    return scan(compute, [float(s) for s in max_strains], 'max_strain')


#: finite-size forms μ(N) = μ∞ + a · N^-p tried by :func:`extrapolate`, by name → exponent p
FINITE_SIZE_FORMS = {'1/N^2': 2.0, '1/N': 1.0}
#: floor of a point's standard error relative to the spread of μ over N (no point may carry infinite weight)
STDERR_FLOOR = 1e-3


@dataclass
class FormFit:
    """One finite-size form fitted to μ(N): μ∞ (nC/m), slope a (nC/m · N^p), standard error of μ∞, χ²."""

    form: str
    mu_inf: float
    slope: float
    stderr: float
    chi2: float

    def to_dict(self) -> dict:
        return {
            'form': self.form,
            'mu_inf_nC_per_m': self.mu_inf,
            'slope': self.slope,
            'stderr_nC_per_m': self.stderr,
            'chi2': self.chi2,
        }


@dataclass
class Extrapolation:
    """μ∞, the large-N limit of μ(N), with an error bar and how it was built.

    ``error`` (nC/m, one standard deviation) combines in quadrature: the standard error of μ∞ in the chosen form
    (``fit_stderr``: from the per-N fit errors, or from the scatter about the form when that is larger), the
    extrapolation uncertainty (``form_spread``: the distance of the other forms' μ∞ from the chosen one, weighted by
    how well the data allow each form (Akaike weights); the full distance with two lengths) and a committee/seed
    spread given by the caller (``spread``).
    """

    form: str
    mu_inf: float
    error: float
    fit_stderr: float
    form_spread: float
    spread: float
    repeats: list[int]
    mu: list[float]
    fits: list[FormFit]
    chosen_by: str

    @property
    def distance_from_limit(self) -> float:
        """|μ(N_max) − μ∞| / |μ∞|: how far the longest supercell is from converged (nan when μ∞ = 0)."""
        if abs(self.mu_inf) <= max(self.error, 1e-12):  # zero within its error: no relative distance
            return float('nan')
        return float(abs(self.mu[int(np.argmax(self.repeats))] - self.mu_inf) / abs(self.mu_inf))

    def summary(self) -> str:
        n_max = max(self.repeats)
        distance = self.distance_from_limit
        where = (
            f'N = {n_max} is {100 * distance:.1f} % from it'
            if np.isfinite(distance)
            else 'zero within its error'
        )
        return (
            f'μ∞ = {self.mu_inf:+.4f} ± {self.error:.4f} nC/m (form μ∞ + a{self.form[1:]}, {self.chosen_by}; '
            f'fit {self.fit_stderr:.4f}, extrapolation {self.form_spread:.4f}, spread {self.spread:.4f}); {where}'
        )

    def to_dict(self) -> dict:
        return {
            'form': f'mu(N) = mu_inf + a{self.form[1:]}',
            'mu_inf_nC_per_m': self.mu_inf,
            'error_nC_per_m': self.error,
            'error_parts_nC_per_m': {
                'fit_stderr': self.fit_stderr,
                'extrapolation': self.form_spread,
                'spread': self.spread,
            },
            'chosen_by': self.chosen_by,
            'repeats': list(self.repeats),
            'mu_nC_per_m': list(self.mu),
            'distance_from_limit': (
                self.distance_from_limit if np.isfinite(self.distance_from_limit) else None
            ),  # None: μ∞ is zero within its error
            'forms': [fit.to_dict() for fit in self.fits],
        }


def _fit_form(form: str, power: float, n: np.ndarray, mu: np.ndarray, sigma: np.ndarray) -> FormFit:
    """Weighted least squares of μ = μ∞ + a N^-p; the stderr of μ∞ is the larger of the propagated point errors
    and the scatter about the line (reduced χ² > 1), as for a fit with estimated errors."""
    x = n ** (-power)
    design = np.stack([np.ones_like(x), x], axis=1) / sigma[:, None]
    target = mu / sigma
    coef, *_ = np.linalg.lstsq(design, target, rcond=None)
    covariance = np.linalg.inv(design.T @ design)
    residual = target - design @ coef
    chi2 = float(residual @ residual)
    dof = len(n) - 2
    scale = max(1.0, chi2 / dof) if dof > 0 else 1.0
    return FormFit(form, float(coef[0]), float(coef[1]), float(np.sqrt(covariance[0, 0] * scale)), chi2)


def extrapolate(
    repeats: Iterable[int],
    mu: Iterable[float],
    mu_stderr: Iterable[float] | None = None,
    spread: float = 0.0,
    forms: Iterable[str] = tuple(FINITE_SIZE_FORMS),
) -> Extrapolation:
    """The large-N limit μ∞ of μ(N) (nC/m) with an error bar.

    Each form of :data:`FINITE_SIZE_FORMS` (μ∞ + a/N², the discretisation error of a sine field sampled by cells,
    and μ∞ + a/N, a slower drift such as long-range relaxation) is fitted by weighted least squares (weights
    1/stderr² of each μ(N), floored at :data:`STDERR_FLOOR` × the range of μ). With three or more N the form with
    the lower χ² is taken (the data say which); with two, a/N² (the form of the estimator's own error) and the
    other form enters the error bar as the extrapolation uncertainty.

    Args:
        repeats: N of each run (at least two distinct values).
        mu: μ(N), nC/m.
        mu_stderr: the fit's standard error of each μ(N), nC/m (default: equal weights).
        spread: a committee/seed spread of μ (nC/m) to add in quadrature.

    Raises:
        ValueError: fewer than two distinct N, non-finite μ, or an unknown form.
    """
    n = np.asarray(list(repeats), dtype=float)
    values = np.asarray(list(mu), dtype=float)
    forms = list(forms)
    if len(n) != len(values):
        raise ValueError(f'{len(n)} supercell lengths but {len(values)} values of μ')
    if len(np.unique(n)) < 2:
        raise ValueError(
            f'μ∞ needs μ at two or more supercell lengths N (got N = {sorted(set(n.astype(int).tolist()))}): '
            'add values to --repeats'
        )
    if not np.all(np.isfinite(values)):
        raise ValueError(f'μ(N) has non-finite values ({values.tolist()}): a run failed; rerun it')
    unknown = [f for f in forms if f not in FINITE_SIZE_FORMS]
    if unknown or not forms:
        raise ValueError(f'unknown finite-size form(s) {unknown}: choose from {list(FINITE_SIZE_FORMS)}')
    floor = STDERR_FLOOR * max(float(np.ptp(values)), float(np.abs(values).max()), 1e-12)
    sigma = np.full_like(values, floor)
    if mu_stderr is not None:
        sigma = np.maximum(np.abs(np.asarray(list(mu_stderr), dtype=float)), floor)
    fits = [_fit_form(form, FINITE_SIZE_FORMS[form], n, values, sigma) for form in forms]
    lengths = len(np.unique(n))
    if lengths >= 3 and len(fits) > 1:
        chosen = min(fits, key=lambda fit: fit.chi2)
        chosen_by = f'lowest χ² of {len(fits)} forms over {lengths} lengths'
        # Akaike weights of the forms (same parameter count), χ² rescaled by the best form's reduced χ² when the
        # scatter exceeds the given errors: a form the data exclude adds nothing, an equally good one its distance
        scale = max(1.0, chosen.chi2 / (len(n) - 2))
        weights = np.array([np.exp(-0.5 * (fit.chi2 - chosen.chi2) / scale) for fit in fits])
        deviations = np.array([fit.mu_inf - chosen.mu_inf for fit in fits])
        form_spread = float(np.sqrt(np.sum(weights * deviations**2) / np.sum(weights)))
    else:
        chosen = fits[0]
        chosen_by = 'two lengths: the first form, the others as the extrapolation error'
        form_spread = max((abs(fit.mu_inf - chosen.mu_inf) for fit in fits), default=0.0)
    error = float(np.sqrt(chosen.stderr**2 + form_spread**2 + float(spread) ** 2))
    return Extrapolation(
        form=chosen.form,
        mu_inf=chosen.mu_inf,
        error=error,
        fit_stderr=chosen.stderr,
        form_spread=float(form_spread),
        spread=float(spread),
        repeats=[int(v) for v in n],
        mu=[float(v) for v in values],
        fits=fits,
        chosen_by=chosen_by,
    )


def committee_extrapolation(
    repeats: Iterable[int],
    member_mu: Sequence[Sequence[float]],
    mu_stderr: Iterable[float] | None = None,
    spread: float = 0.0,
) -> tuple[Extrapolation, list[Extrapolation]]:
    """μ∞ of a committee (or seeds) of dipole models measured on the same relaxed supercells.

    ``member_mu`` (k members × n lengths, nC/m). Each member is extrapolated on its own; the result is the
    extrapolation of the members' mean μ(N) with the standard deviation of the members' μ∞ (ddof = 1) added in
    quadrature to ``spread``. Returns (the committee's :class:`Extrapolation`, one per member).
    """
    table = np.asarray(member_mu, dtype=float)
    if table.ndim != 2 or table.shape[0] < 1:
        raise ValueError(f'member_mu must be (members, lengths), got shape {table.shape}')
    repeats = list(repeats)
    stderr = None if mu_stderr is None else list(mu_stderr)
    members = [extrapolate(repeats, row, stderr) for row in table]
    member_spread = float(np.std([m.mu_inf for m in members], ddof=1)) if len(members) > 1 else 0.0
    total_spread = float(np.hypot(member_spread, spread))
    return extrapolate(repeats, table.mean(axis=0), stderr, spread=total_spread), members
