"""Interfaces shared between the science-core packages (structural typing, no implementation).

A dipole model (the GNN of :mod:`aiida_flexo.gnn`, a fixed-charge or linear Born-charge model, ...) and a
potential (an ase ``Calculator``, e.g. the Allegro calculator of :mod:`aiida_flexo.mlip`) are used by
:mod:`aiida_flexo.flexo` and :mod:`aiida_flexo.textures` only through these methods.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np
from ase import Atoms


@runtime_checkable
class DipoleModel(Protocol):
    """Anything that predicts per-atom dipoles of a periodic structure."""

    def per_atom_dipoles(self, atoms: Atoms) -> np.ndarray:
        """Per-atom dipoles p_j, shape (n_atoms, 3), e·Å. Their sum is the cell dipole."""
        ...

    def born_charges(self, atoms: Atoms) -> np.ndarray:
        """Born effective charges Z*_i,αβ = ∂d_α/∂r_iβ, shape (n_atoms, 3, 3), e."""
        ...
