"""Branch alignment of Berry-phase polarizations along an adiabatic path.

Along a path of structures (e.g. centrosymmetric → polar) each step's polarization is known only modulo its own
lattice of quanta ``e R_i / Ω_i``. The branch is chosen so that the polarization is continuous: each step is moved
by the lattice vector of quanta that brings it closest to the previous step. The spontaneous polarization is the
same-branch difference between the last and the first step (the layout of the problem follows pymatgen's
``analysis.ferroelectricity.polarization``; the code is our own).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np

from aiida_flexo import units
from aiida_flexo.polarization.quanta import (
    SAFE_CHARGE_QUANTUM,
    closest_lattice_vector,
    lattice_shift,
    polarization_quanta,
)


@dataclass
class BranchResult:
    """Polarization along a path on one branch. Everything in e/Å² unless the name says otherwise."""

    polarization: np.ndarray  #: (n_steps, 3) same-branch polarization, e/Å²
    quanta: np.ndarray  #: (n_steps, 3, 3) lattice of polarization quanta per step (rows), e/Å²
    jumps: np.ndarray  #: (n_steps - 1,) |ΔP| between neighbouring steps as a fraction of the smallest quantum
    labels: list[str] = field(default_factory=list)

    @property
    def spontaneous(self) -> np.ndarray:
        """Same-branch difference last − first, e/Å²."""
        return self.polarization[-1] - self.polarization[0]

    def quantum_norms(self, step: int = -1) -> np.ndarray:
        """Length of each lattice vector of quanta of one step, e/Å² (the polar end by default)."""
        return np.linalg.norm(self.quanta[step], axis=1)

    def to_uc_per_cm2(self) -> dict:
        """The result in µC/cm², as plain lists (the ``aiida-flexo polarization --json`` contract)."""
        conv = units.E_PER_A2_TO_UC_PER_CM2
        return {
            'labels': list(self.labels),
            'polarization_uC_cm2': (self.polarization * conv).tolist(),
            'quantum_uC_cm2': (self.quantum_norms(-1) * conv).tolist(),
            'quantum_lattice_uC_cm2': (self.quanta[-1] * conv).tolist(),
            'quanta_uC_cm2': (np.linalg.norm(self.quanta, axis=2) * conv).tolist(),
            'spontaneous_uC_cm2': (self.spontaneous * conv).tolist(),
            'spontaneous_norm_uC_cm2': float(np.linalg.norm(self.spontaneous) * conv),
            'max_jump_fraction_of_quantum': float(self.jumps.max()) if len(self.jumps) else 0.0,
        }


def align_branch(
    dipoles: np.ndarray,
    cells: np.ndarray,
    charge_quantum: float = SAFE_CHARGE_QUANTUM,
    labels: list[str] | None = None,
    max_jump: float = 0.3,
) -> BranchResult:
    """Put the polarizations of a path of structures on one continuous branch.

    Args:
        dipoles: ``(n_steps, 3)`` total cell dipoles (electronic + ionic) in e·Å, physics sign convention.
        cells: ``(n_steps, 3, 3)`` lattice vectors (rows) in Å.
        charge_quantum: charge quantum in e (1 is always safe).
        labels: names of the steps (file names), kept in the result.
        max_jump: warn when two neighbouring steps differ by more than this fraction of the smallest quantum:
            the path is then too coarse for the branch to be trusted.

    The first step is folded to its minimum image around zero; every later step is moved by the lattice vector of
    its own quanta that brings it closest to the previous step.
    """
    dipoles = np.asarray(dipoles, dtype=float).reshape(-1, 3)
    cells = np.asarray(cells, dtype=float).reshape(-1, 3, 3)
    if len(dipoles) != len(cells):
        raise ValueError(f'{len(dipoles)} dipoles but {len(cells)} cells along the path')
    if len(dipoles) < 2:
        raise ValueError(
            'a branch needs at least two steps (e.g. the centrosymmetric and the polar structure)'
        )
    volumes = np.abs(np.linalg.det(cells))
    polarization = dipoles / volumes[:, None]
    quanta = np.stack([polarization_quanta(cell, charge_quantum) for cell in cells])

    aligned = np.empty_like(polarization)
    aligned[0] = polarization[0] - closest_lattice_vector(polarization[0], quanta[0])
    for i in range(1, len(polarization)):
        aligned[i] = polarization[i] - closest_lattice_vector(polarization[i] - aligned[i - 1], quanta[i])

    smallest = np.array([np.linalg.norm(q, axis=1).min() for q in quanta])
    jumps = np.linalg.norm(np.diff(aligned, axis=0), axis=1) / smallest[1:]
    if len(jumps) and jumps.max() > max_jump:
        worst = int(np.argmax(jumps))
        warnings.warn(
            f'polarization jumps by {jumps[worst]:.2f} of a quantum between steps {worst} and {worst + 1}: the '
            'path may be too coarse for a reliable branch; add interpolated structures between them',
            stacklevel=2,
        )
    return BranchResult(
        polarization=aligned,
        quanta=quanta,
        jumps=jumps,
        labels=list(labels) if labels is not None else [str(i) for i in range(len(dipoles))],
    )


def align_to_reference(
    dipoles: np.ndarray,
    references: np.ndarray,
    cells: np.ndarray,
    charge_quanta: np.ndarray | float = SAFE_CHARGE_QUANTUM,
) -> np.ndarray:
    """Move each Berry-phase dipole onto the branch closest to a reference dipole of the same structure.

    The reference (e.g. Born charges times displacements, :func:`aiida_flexo.polarization.perovskite.perovskite_born_dipole`)
    only has to be closer to the right branch than half a quantum: the label ``d`` becomes ``d − q e R*`` with
    ``q e R*`` the lattice vector of quanta closest to ``d − reference``. Labels aligned this way are single-valued
    and can be fitted without folding (``TrainConfig(label_branches='fixed')``).

    Args:
        dipoles: (n, 3) cell dipoles, e·Å (any branch).
        references: (n, 3) reference dipoles, e·Å.
        cells: (n, 3, 3) lattice vectors (rows), Å.
        charge_quanta: charge quantum q per frame (or one for all), e.

    Returns:
        (n, 3) dipoles on the reference's branch, e·Å.
    """
    dipoles = np.asarray(dipoles, dtype=float).reshape(-1, 3)
    references = np.asarray(references, dtype=float).reshape(-1, 3)
    cells = np.asarray(cells, dtype=float).reshape(-1, 3, 3)
    if not len(dipoles) == len(references) == len(cells):
        raise ValueError(
            f'{len(dipoles)} dipoles, {len(references)} references and {len(cells)} cells differ'
        )
    quanta = np.broadcast_to(np.asarray(charge_quanta, dtype=float), (len(dipoles),))
    return np.stack(
        [d - lattice_shift(d - r, cell, q) for d, r, cell, q in zip(dipoles, references, cells, quanta)]
    ).reshape(-1, 3)
