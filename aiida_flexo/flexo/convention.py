"""The flexoelectric index convention of aiida-flexo: the one place where it is defined.

Every μ in the code, the files and the reports is the **type-II** tensor

    P_i = μ_ijkl ∂ε_jk/∂x_l            (summed over j, k, l; ε symmetric, so μ_ijkl = μ_ikjl)

with 1-based component strings as in papers: ``'3333'`` is μ_3333 (i=j=k=l=z). Inside the code indices are 0-based
(x=0, y=1, z=2); μ is in e/Å and the edges report nC/m (1 e/Å = 1.602176634 nC/m, :mod:`aiida_flexo.units`).

What a periodic supercell with a displacement field along one axis L (the gradient axis l) can measure:

==============  ==================  ==========================================  ================================
geometry        component (ijkl)    displacement field                          measured quantity
==============  ==================  ==========================================  ================================
longitudinal    LLLL  e.g. '3333'   u_L = A f(x_L)                              μ_LLLL
shear           TTLL = TLTL         u_T = A f(x_L)                              μ_TTLL  (P_T = 2 μ_TTLL ∂ε_TL/∂x_L)
                e.g. '1133','1313'
transverse      LTTL  e.g. '3113'   u_T = ε_max f(x_L) (x_T − x_T,centre)       μ_LTTL + μ_LLTT  (see below)
==============  ==================  ==========================================  ================================

``f`` is sine or cosine. The transverse field ε_TT(x_L) alone is incompatible with periodic boundaries; the
bending-like field above is what can be built (it is the Si setup of the seed paper: 7×1×28, cosine strain along
a). It also carries the shear strain ε_TL = ½ (x_T − x_T,c) ∂ε_TT/∂x_L, whose gradient along T is ½ ∂ε_TT/∂x_L, so
the polarization P_L = (μ_LTTL + μ_LLTT) ∂ε_TT/∂x_L: the transverse geometry measures that sum (in type-I language,
2 μ^I_LT,LT), and the results say so.

Other orderings. Many papers write the same tensor in the order (polarization, gradient, strain pair), e.g.
Hong & Vanderbilt's μ_{αλ,βγ}: there μ_1122 is the *transverse* coefficient and μ_1212 the shear. In the
convention here those are μ_1221 and μ_1122 = μ_1212. Use :func:`from_pgs_order` to convert a label written in
that order (the seed's Si "μ3311", P_3 from ∂ε_11/∂x_3, is ``from_pgs_order('3311') == '3113'`` here).
For cubic crystals :func:`cubic_voigt` names the three independent constants: μ_11 = μ_1111, μ_12 = μ_1221
(transverse), μ_44 = μ_1122 = μ_1212 (shear).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from aiida_flexo.units import E_PER_A2_TO_C_PER_M2, E_PER_A_TO_NC_PER_M, PER_A_TO_PER_M

#: The convention as one line (stored with every result).
CONVENTION = 'type-II: P_i = mu_ijkl * d(eps_jk)/d(x_l); 1-based indices (1=x, 2=y, 3=z); mu in nC/m'

#: Axis names, 0-based.
AXES = 'xyz'

#: Geometries a supercell builder knows.
GEOMETRIES = ('longitudinal', 'transverse', 'shear')


@dataclass(frozen=True)
class Component:
    """One component μ_ijkl of the type-II flexoelectric tensor (indices 0-based inside)."""

    i: int
    j: int
    k: int
    l: int  # noqa: E741 (the field's name for the gradient index)

    @classmethod
    def parse(cls, text: str | Component) -> Component:
        """Parse ``'3333'``, ``'mu3311'``, ``'μ_3113'`` or ``'zzzz'`` (1-based digits or x/y/z letters)."""
        if isinstance(text, Component):
            return text
        raw = str(text)
        cleaned = raw.strip().lower().replace('μ', '').replace('mu', '').replace('_', '').replace(',', '')
        if len(cleaned) != 4:
            raise ValueError(
                f'flexoelectric component {raw!r} must have four indices, e.g. "3333" (1-based) or "zzzz" '
                f'({CONVENTION})'
            )
        indices = []
        for char in cleaned:
            if char in '123':
                indices.append(int(char) - 1)
            elif char in AXES:
                indices.append(AXES.index(char))
            else:
                raise ValueError(
                    f'flexoelectric component {raw!r}: index {char!r} is not 1, 2, 3 or x, y, z ({CONVENTION})'
                )
        return cls(*indices)

    @property
    def label(self) -> str:
        """1-based label, e.g. ``'3333'``."""
        return ''.join(str(n + 1) for n in (self.i, self.j, self.k, self.l))

    @property
    def name(self) -> str:
        """``'mu_3333'``."""
        return f'mu_{self.label}'

    @property
    def geometry(self) -> str:
        """``'longitudinal'``, ``'transverse'`` or ``'shear'``; ValueError for a component no supercell measures."""
        i, j, k, g = self.i, self.j, self.k, self.l
        if i == j == k == g:
            return 'longitudinal'
        if i != g and {j, k} == {i, g}:
            return 'shear'
        if i == g and j == k and j != i:
            return 'transverse'
        raise ValueError(
            f'component {self.label} has no strain-gradient supercell: measurable are longitudinal LLLL (e.g. 3333), '
            f'transverse LTTL (e.g. 3113) and shear TTLL = TLTL (e.g. 1133); components with three different '
            f'indices vanish in cubic crystals ({CONVENTION})'
        )

    @property
    def gradient_axis(self) -> int:
        """Axis l along which the strain varies (the long axis of the supercell), 0-based."""
        return self.l

    @property
    def polarization_axis(self) -> int:
        """Axis i of the polarization that is read, 0-based."""
        return self.i

    @property
    def strain_pair(self) -> tuple[int, int]:
        """(j, k) of the strain component ε_jk, 0-based."""
        return (self.j, self.k)

    @property
    def displacement_axis(self) -> int:
        """Direction of the imposed displacement u: L (longitudinal), T = i (shear), T = j (transverse)."""
        geometry = self.geometry
        if geometry == 'longitudinal':
            return self.l
        if geometry == 'shear':
            return self.i
        return self.j

    @property
    def transverse_axis(self) -> int | None:
        """Axis T of the bending-like field (transverse geometry only)."""
        return self.j if self.geometry == 'transverse' else None

    @property
    def strain_multiplicity(self) -> int:
        """How many terms of Σ_jk carry this ε_jk (2 for j ≠ k: ε_jk = ε_kj), so P_i = μ · multiplicity · ∂ε_jk/∂x_l."""
        return 1 if self.j == self.k else 2

    @property
    def measures(self) -> str:
        """What the supercell of this component measures, in this convention."""
        if self.geometry == 'transverse':
            other = Component(self.i, self.i, self.j, self.j)
            return f'{self.name} + {other.name} (bending-like field; see aiida_flexo.flexo.convention)'
        if self.geometry == 'shear':
            return f'{self.name} (= mu_{Component(self.i, self.l, self.i, self.l).label}; P_i = 2 mu d(eps_il)/dx_l)'
        return self.name

    def permuted(self, axes: tuple[int, int, int]) -> Component:
        """The same component after relabelling axis a -> axes[a] (e.g. (2, 1, 0) swaps x and z)."""
        return Component(axes[self.i], axes[self.j], axes[self.k], axes[self.l])

    def __str__(self) -> str:
        return self.label


def parse_component(text: str | Component) -> Component:
    """Parse a component label (see :meth:`Component.parse`)."""
    return Component.parse(text)


def from_pgs_order(label: str) -> str:
    """Convert a label written as (polarization, gradient, strain pair) — Hong–Vanderbilt's μ_{αλ,βγ} — to ijkl here.

    ``from_pgs_order('3311')`` (P_3 from ∂ε_11/∂x_3, the seed's Si transverse coefficient) is ``'3113'``.
    """
    c = Component.parse(label)
    p, g, s1, s2 = c.i, c.j, c.k, c.l
    return Component(p, s1, s2, g).label


def cubic_voigt(component: str | Component) -> str:
    """Name of a component among the three independent constants of a cubic crystal: '11', '12', '44' or '0'."""
    c = Component.parse(component)
    i, j, k, g = c.i, c.j, c.k, c.l
    if i == j == k == g:
        return '11'
    if i == g and j == k:
        return '12'
    if (i == j and k == g) or (i == k and j == g):
        return '44'
    return '0'


def mu_to_nc_per_m(mu_e_per_A: float | np.ndarray) -> float | np.ndarray:
    """μ in e/Å (internal) to nC/m (edge unit)."""
    value = np.asarray(mu_e_per_A, dtype=float) * E_PER_A_TO_NC_PER_M
    return float(value) if value.ndim == 0 else value


def nc_per_m_to_mu(mu_nc_per_m: float | np.ndarray) -> float | np.ndarray:
    """μ in nC/m to e/Å (internal)."""
    value = np.asarray(mu_nc_per_m, dtype=float) / E_PER_A_TO_NC_PER_M
    return float(value) if value.ndim == 0 else value


def gradient_to_per_m(gradient_per_A: np.ndarray | float) -> np.ndarray:
    """Strain gradient in 1/Å (internal) to 1/m."""
    return np.asarray(gradient_per_A, dtype=float) * PER_A_TO_PER_M


def polarization_to_c_per_m2(p_e_per_A2: np.ndarray | float) -> np.ndarray:
    """Polarization in e/Å² (internal) to C/m²."""
    return np.asarray(p_e_per_A2, dtype=float) * E_PER_A2_TO_C_PER_M2
