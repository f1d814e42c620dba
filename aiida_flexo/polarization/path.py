"""A path of Berry-phase runs (e.g. centrosymmetric → polar), read and put on one branch."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from aiida_flexo.polarization.branches import BranchResult, align_branch
from aiida_flexo.polarization.quanta import SAFE_CHARGE_QUANTUM
from aiida_flexo.polarization.vasp import read_berry_phase


def path_from_outcars(
    paths: Sequence[str | Path], charge_quantum: float = SAFE_CHARGE_QUANTUM
) -> BranchResult:
    """Read Berry-phase OUTCARs along a path (in path order) and align them on one branch.

    Raises ``ValueError`` when the steps differ in composition (they must be one path of the same crystal).
    """
    results = [read_berry_phase(p) for p in paths]
    formulas = {r.atoms.get_chemical_formula(mode='hill') for r in results}
    if len(formulas) > 1:
        detail = ', '.join(f'{r.source}: {r.atoms.get_chemical_formula(mode="hill")}' for r in results)
        raise ValueError(f'the steps of a polarization path must have one composition, got {detail}')
    dipoles = np.array([r.dipole for r in results])
    cells = np.array([r.cell for r in results])
    return align_branch(dipoles, cells, charge_quantum, labels=[r.source for r in results])
