"""GPAW's Berry-phase conventions, turned into cell dipoles (e·Å, physics sign) with their charge quantum.

``gpaw.berryphase.polarization_phase`` returns, per lattice direction ``c``, phases ``φ_c`` (radians) such that the
cell dipole is

    d = Σ_c (φ_c / 2π) a_c            (e·Å, a_c the lattice vectors in Å)

i.e. ``φ_c = 2π Ω P·b_c/(2π)``: the polarization phase of GPAW's ``borncharges`` module. The electronic phase
already carries the physics sign (electrons count as negative charge) and, for spin-paired calculations, the factor
2 of the spin degeneracy. Each band's Berry phase is defined modulo 2π, so the spin-paired electronic dipole is
defined modulo ``2 e R``; the ionic dipole ``Σ_i Z_i r_i`` (``Z_i`` the PAW valence charge, ``setup.Nv``) changes by
``Z_i e R`` when an atom is wrapped into the cell. Hence the charge quantum stored with every GPAW dipole:

* ``q = 2`` for spin-paired, collinear runs where every valence charge is even (Ba 10, Ti 12, O 6, Si 4, Sr 10,
  Pb 14): the dipole is defined modulo ``2 e R``;
* ``q = 1`` otherwise (spin-polarised or non-collinear runs, or any odd valence charge, e.g. H).

Folding a *residual* with ``q = 1`` stays safe (while the residual is below half of ``1 e R``); the stored
``charge_quantum`` is the exact, coarser lattice of the GPAW dipole.

GPAW's own atomic phase uses the wrapped scaled positions of its calculator; here the ionic part is recomputed from
the positions of the structure as given (unwrapped), so that a finite-difference series stays continuous when an
atom crosses the cell boundary. The total is then folded to the minimum image over the lattice ``q e R``
(:func:`aiida_flexo.polarization.minimum_image`), i.e. into the Wigner–Seitz cell of the quanta around zero.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from aiida_flexo.polarization.quanta import minimum_image


@dataclass(frozen=True)
class GpawDipole:
    """A Berry-phase cell dipole from GPAW (all vectors Cartesian, e·Å).

    Attributes:
        dipole: electronic + ionic, folded to the minimum image over ``charge_quantum * e * R``.
        dipole_raw: electronic + ionic before folding (the value to difference for Born charges, folded after).
        electronic: electronic part from GPAW's electronic phases (physics sign, spin factor included).
        ionic: ``Σ_i Z_i r_i`` with the positions as given.
        charge_quantum: q in e (2 or 1, see the module docstring).
    """

    dipole: np.ndarray
    dipole_raw: np.ndarray
    electronic: np.ndarray
    ionic: np.ndarray
    charge_quantum: float

    def as_dict(self) -> dict[str, list[float] | float]:
        return {
            'dipole': self.dipole.tolist(),
            'dipole_raw': self.dipole_raw.tolist(),
            'dipole_electronic': self.electronic.tolist(),
            'dipole_ionic': self.ionic.tolist(),
            'charge_quantum': self.charge_quantum,
        }


def phase_to_dipole(phase_c: Sequence[float], cell: np.ndarray) -> np.ndarray:
    """Cartesian dipole ``Σ_c (φ_c / 2π) a_c`` (e·Å) of GPAW polarization phases ``φ_c`` (rad) in a cell (rows, Å)."""
    phase_c = np.asarray(phase_c, dtype=float).reshape(3)
    return (phase_c / (2 * np.pi)) @ np.asarray(cell, dtype=float)


def ionic_dipole(positions: np.ndarray, valence_charges: Sequence[float]) -> np.ndarray:
    """``Σ_i Z_i r_i`` (e·Å) with the positions as given (Å) and PAW valence charges ``Z_i`` (e)."""
    positions = np.asarray(positions, dtype=float).reshape(-1, 3)
    charges = np.asarray(valence_charges, dtype=float).reshape(-1)
    if len(charges) != len(positions):
        raise ValueError(f'{len(positions)} positions but {len(charges)} valence charges')
    return charges @ positions


def gpaw_charge_quantum(valence_charges: Sequence[float], nspins: int = 1, collinear: bool = True) -> float:
    """The charge quantum q (e) of a GPAW Berry-phase dipole: 2 when spin-paired with all valence charges even."""
    charges = np.asarray(valence_charges, dtype=float)
    even = bool(np.all(np.abs(charges - 2 * np.round(charges / 2)) < 1e-8))
    return 2.0 if (nspins == 1 and collinear and even) else 1.0


def gpaw_dipole(
    electronic_phase_c: Sequence[float],
    cell: np.ndarray,
    positions: np.ndarray,
    valence_charges: Sequence[float],
    nspins: int = 1,
    collinear: bool = True,
) -> GpawDipole:
    """The folded cell dipole from GPAW's electronic phases and the (unwrapped) ionic positions.

    Args:
        electronic_phase_c: ``polarization_phase(...)['electronic_phase_c']`` (rad, per lattice direction).
        cell: lattice vectors (rows, Å).
        positions: Cartesian positions (Å) as given in the structure.
        valence_charges: PAW valence charge of each atom (``[setup.Nv for setup in calc.setups]``), e.
        nspins, collinear: of the calculation (they set the charge quantum).
    """
    cell = np.asarray(cell, dtype=float)
    electronic = phase_to_dipole(electronic_phase_c, cell)
    ionic = ionic_dipole(positions, valence_charges)
    raw = electronic + ionic
    quantum = gpaw_charge_quantum(valence_charges, nspins, collinear)
    return GpawDipole(
        dipole=minimum_image(raw, cell, quantum),
        dipole_raw=raw,
        electronic=electronic,
        ionic=ionic,
        charge_quantum=quantum,
    )
