"""Convergence of μ in the supercell length N and in the strain amplitude.

The helpers take a callable that does build -> relax -> predict -> extract for one value (e.g. a closure over
:func:`aiida_flexo.flexo.run.compute_coefficient`, or :func:`aiida_flexo.flexo.run.coefficient_runner`), so they work
with synthetic models, the GNN + MLIP, or a function that submits AiiDA processes. The callable returns anything
with ``mu_two_point``, ``mu_fit`` and ``fit_stderr`` in e/Å (a :class:`FlexoResult` or an :class:`Extraction`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
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
