"""Units of aiida-flexo: the one place where conversion factors live.

Inside the code every quantity is in the units of this table (ase's units), and conversions happen only at the
edges (input files, CLI output, reports) through the helpers below:

==========================  ===================  =====================================================
quantity                    unit inside          edge unit
==========================  ===================  =====================================================
length, position            Å
energy / force / stress     eV, eV/Å, eV/Å³      stress also in GPa
dipole (cell or atom)       e·Å                  polarization P = d / Ω
polarization                e/Å²                 C/m² and µC/cm² (1 e/Å² = 16.02176634 C/m²)
Born effective charge Z*    e
strain gradient             1/Å                  1/m
flexo coefficient μ         e/Å                  nC/m (1 e/Å = 1.602176634 nC/m)
==========================  ===================  =====================================================

``e`` is the elementary charge (positive); dipoles follow the physics sign convention (from − to + charge).
Durations given as text (``max_time`` of trainings: ``'90'``, ``'20m'``, ``'4h'``, ``'02:00:00'``) are read into
seconds by :func:`parse_duration`, for the CLI and the WorkChains alike.
"""

from __future__ import annotations

import re

import numpy as np

#: Elementary charge in coulomb (exact, SI 2019).
ELEMENTARY_CHARGE_C = 1.602176634e-19
#: One ångström in metre.
ANGSTROM_M = 1.0e-10
#: One e/Å² in C/m².
E_PER_A2_TO_C_PER_M2 = ELEMENTARY_CHARGE_C / ANGSTROM_M**2
#: One C/m² in µC/cm².
C_PER_M2_TO_UC_PER_CM2 = 100.0
#: One e/Å² in µC/cm².
E_PER_A2_TO_UC_PER_CM2 = E_PER_A2_TO_C_PER_M2 * C_PER_M2_TO_UC_PER_CM2
#: One e/Å in nC/m (unit of a flexoelectric coefficient).
E_PER_A_TO_NC_PER_M = ELEMENTARY_CHARGE_C / ANGSTROM_M * 1.0e9
#: One eV/Å³ in GPa.
EV_PER_A3_TO_GPA = ELEMENTARY_CHARGE_C / ANGSTROM_M**3 * 1.0e-9
#: One 1/Å in 1/m.
PER_A_TO_PER_M = 1.0 / ANGSTROM_M


def dipole_to_polarization(dipole_eA: np.ndarray, volume_A3: float | np.ndarray) -> np.ndarray:
    """Polarization in C/m² from a dipole in e·Å and the cell volume in Å³."""
    volume = np.asarray(volume_A3, dtype=float)
    if np.any(volume <= 0):
        raise ValueError(f'cell volume must be positive, got {volume} Å³')
    return np.asarray(dipole_eA, dtype=float) / volume[..., None] * E_PER_A2_TO_C_PER_M2


def c_per_m2_to_uc_per_cm2(value: np.ndarray | float) -> np.ndarray:
    """Convert a polarization in C/m² to µC/cm²."""
    return np.asarray(value, dtype=float) * C_PER_M2_TO_UC_PER_CM2


def e_per_a_to_nc_per_m(value: np.ndarray | float) -> np.ndarray:
    """Convert a flexoelectric coefficient from e/Å (internal) to nC/m (edge unit)."""
    return np.asarray(value, dtype=float) * E_PER_A_TO_NC_PER_M


def ev_per_a3_to_gpa(value: np.ndarray | float) -> np.ndarray:
    """Convert a stress in eV/Å³ to GPa."""
    return np.asarray(value, dtype=float) * EV_PER_A3_TO_GPA


def parse_duration(text: str | None) -> float | None:
    """Seconds from ``'3600'``, ``'90s'``, ``'30m'``, ``'2h'``, ``'1d'`` or ``'[DD:]HH:MM:SS'``."""
    if text is None or str(text).strip() == '':
        return None
    text = str(text).strip()
    if ':' in text:
        parts = [float(p) for p in text.split(':')]
        if len(parts) not in (3, 4):
            raise ValueError(f'duration {text!r}: use HH:MM:SS or DD:HH:MM:SS')
        factors = (86400, 3600, 60, 1)[-len(parts) :]
        return float(sum(p * f for p, f in zip(parts, factors)))
    match = re.fullmatch(r'([0-9.]+)\s*([smhd]?)', text)
    if not match:
        raise ValueError(f'duration {text!r}: use seconds, or a number with s/m/h/d, or HH:MM:SS')
    return float(match.group(1)) * {'': 1, 's': 1, 'm': 60, 'h': 3600, 'd': 86400}[match.group(2)]
