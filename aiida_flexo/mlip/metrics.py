"""Errors of a potential against labelled frames (the numbers ``aiida-flexo mlip eval`` prints).

Conventions: force errors are over all Cartesian components of all atoms (meV/Å); energy errors are per frame,
divided by the number of atoms (meV/atom); stress errors are over the nine components of each frame's tensor
(GPa). These match nequip's ``forces_mae``, ``per_atom_energy_mae`` and ``stress_mae``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator

from aiida_flexo.data import FramesError, has_label
from aiida_flexo.units import EV_PER_A3_TO_GPA


def predictions(calculator: Calculator, frames: Sequence[Atoms]) -> list[dict]:
    """Energy (eV), forces (eV/Å) and stress (3×3 eV/Å³) predicted for each frame."""
    from aiida_flexo.mlip.calculator import predict

    return [predict(calculator, atoms) for atoms in frames]


def error_metrics(
    calculator: Calculator, frames: Sequence[Atoms], source: str = 'frames'
) -> dict[str, float | int | None]:
    """MAE and RMSE of energy, forces and stress of ``calculator`` on labelled ``frames``.

    Returns:
        ``force_mae_meV_A``, ``force_rmse_meV_A``, ``energy_mae_meV_atom``, ``energy_rmse_meV_atom``,
        ``stress_mae_GPa``, ``stress_rmse_GPa`` (``None`` when no frame has a stress label), ``n_frames``,
        ``n_atoms`` (total) and ``n_stress_frames``.
    """
    if len(frames) == 0:
        raise FramesError(f'{source}: no frames to evaluate')
    for i, atoms in enumerate(frames):
        for key in ('energy', 'forces'):
            if not has_label(atoms, key):
                raise FramesError(
                    f'{source}, frame {i}: missing label "{key}"; evaluation needs energy and forces'
                )
    force_err: list[np.ndarray] = []
    energy_err: list[float] = []
    stress_err: list[np.ndarray] = []
    for atoms, pred in zip(frames, predictions(calculator, frames)):
        n = len(atoms)
        force_err.append((pred['forces'] - atoms.arrays['forces']).reshape(-1))
        energy_err.append((pred['energy'] - atoms.info['energy']) / n)
        if has_label(atoms, 'stress') and pred['stress'] is not None:
            stress_err.append((pred['stress'] - atoms.info['stress']).reshape(-1))
    force = np.concatenate(force_err) * 1e3
    energy = np.asarray(energy_err) * 1e3
    result: dict[str, float | int | None] = {
        'force_mae_meV_A': float(np.mean(np.abs(force))),
        'force_rmse_meV_A': float(np.sqrt(np.mean(force**2))),
        'energy_mae_meV_atom': float(np.mean(np.abs(energy))),
        'energy_rmse_meV_atom': float(np.sqrt(np.mean(energy**2))),
        'stress_mae_GPa': None,
        'stress_rmse_GPa': None,
        'n_frames': len(frames),
        'n_atoms': int(sum(len(a) for a in frames)),
        'n_stress_frames': len(stress_err),
    }
    if stress_err:
        stress = np.concatenate(stress_err) * EV_PER_A3_TO_GPA
        result['stress_mae_GPa'] = float(np.mean(np.abs(stress)))
        result['stress_rmse_GPa'] = float(np.sqrt(np.mean(stress**2)))
    return result
