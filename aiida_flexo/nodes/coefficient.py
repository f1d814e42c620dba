"""``flexo.coefficient``: one flexoelectric coefficient with its uncertainty, queryable by its attributes.

Attributes (all plain numbers/strings): ``component`` (e.g. '3333', in the convention of
:mod:`aiida_flexo.flexo.convention`), ``convention``, ``formula``, ``mu_two_point_nC_per_m``, ``mu_fit_nC_per_m``,
``mu_fit_stderr_nC_per_m``, ``residual_C_m2``, ``repeat``, ``max_strain``, ``fixed_species``, ``relaxed``, and for
the Born-charge route ``bec_mu_two_point_nC_per_m`` and ``bec_mu_fit_nC_per_m``.
"""

from __future__ import annotations

from aiida.orm import Dict


class FlexoCoefficientData(Dict):
    """A flexoelectric coefficient μ (nC/m) from the two-point difference and the fit, with the fit's error."""

    @property
    def component(self) -> str:
        return str(self.base.attributes.get('component'))

    @property
    def mu_two_point(self) -> float:
        """μ from the antisymmetric two-point difference at the gradient extrema, nC/m."""
        return float(self.base.attributes.get('mu_two_point_nC_per_m'))

    @property
    def mu_fit(self) -> float:
        """μ from the least-squares fit over all cells, nC/m."""
        return float(self.base.attributes.get('mu_fit_nC_per_m'))

    @property
    def mu_fit_stderr(self) -> float:
        """Standard error of the fitted μ, nC/m."""
        return float(self.base.attributes.get('mu_fit_stderr_nC_per_m'))

    def __str__(self) -> str:
        return (
            f'μ{self.component} = {self.mu_fit:.4f} ± {self.mu_fit_stderr:.4f} nC/m (fit), '
            f'{self.mu_two_point:.4f} nC/m (two-point)'
        )
