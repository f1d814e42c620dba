"""Per-element reference energies between two energy scales (a DFT code's and a pretrained potential's).

Total energies of different DFT codes, pseudopotentials and functionals differ by a constant per element (the
energy of the isolated pseudo-atom): Quantum ESPRESSO's BaTiO3 energies sit ~740 eV/atom below SevenNet's VASP
scale. Before fine-tuning, :func:`fit_reference_energies` finds the per-element constants δ_Z that best map the
model's energies onto the labels,

    E_DFT(frame) ≈ E_model(frame) + Σ_Z n_Z(frame) δ_Z        (least squares over the training frames),

and the fine-tuning adds δ_Z to the model's own per-element atomic energy, so the network weights start on the
right scale and only learn the physics. Frames of one composition fix only Σ_Z n_Z δ_Z: the constants are then
taken with the smallest spread around one common per-atom shift (minimum-norm solution), which changes no
prediction for that composition; the rank of the fit is reported.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ReferenceFit:
    """Result of :func:`fit_reference_energies` (energies in eV).

    Attributes:
        species: element symbols, in the order of ``deltas``.
        deltas: δ_Z, eV per atom of each element (added to the model's atomic energies).
        rank: rank of the frame × element count matrix (1 for frames of a single composition).
        rmse_before_eV_atom: RMS of (E_DFT − E_model)/N over the frames before the shift.
        rmse_after_eV_atom: the same after the shift (what the fine-tuning still has to learn).
    """

    species: tuple[str, ...]
    deltas: tuple[float, ...]
    rank: int
    rmse_before_eV_atom: float
    rmse_after_eV_atom: float

    def as_dict(self) -> dict:
        return {
            'per_element_eV': dict(zip(self.species, self.deltas)),
            'rank': self.rank,
            'n_species': len(self.species),
            'rmse_before_eV_atom': self.rmse_before_eV_atom,
            'rmse_after_eV_atom': self.rmse_after_eV_atom,
            'note': (
                'E_DFT ≈ E_model + Σ n_Z δ_Z, least squares on the training frames'
                + (
                    '; the frames span fewer compositions than elements, so only combinations of δ_Z are fixed '
                    '(minimum spread around a common per-atom shift)'
                    if self.rank < len(self.species)
                    else ''
                )
            ),
        }


def fit_reference_energies(
    counts: np.ndarray, dft_energies: Sequence[float], model_energies: Sequence[float], species: Sequence[str]
) -> ReferenceFit:
    """Per-element constants δ_Z (eV/atom) with E_DFT ≈ E_model + counts · δ.

    Args:
        counts: (n_frames, n_species) atoms of each species per frame.
        dft_energies: labels, eV.
        model_energies: the pretrained model's energies of the same frames, eV.
        species: element symbols of the columns of ``counts``.
    """
    counts = np.asarray(counts, dtype=float)
    residual = np.asarray(dft_energies, dtype=float) - np.asarray(model_energies, dtype=float)
    if counts.ndim != 2 or counts.shape != (len(residual), len(species)):
        raise ValueError(f'counts must be (n_frames, n_species) = ({len(residual)}, {len(species)})')
    if not np.all(np.isfinite(residual)):
        raise ValueError('non-finite energies: cannot fit reference energies')
    n_atoms = counts.sum(axis=1)
    common = residual.sum() / n_atoms.sum()  # one shift per atom
    spread, *_ = np.linalg.lstsq(counts, residual - common * n_atoms, rcond=None)
    deltas = common + spread
    rank = int(np.linalg.matrix_rank(counts))
    after = residual - counts @ deltas
    return ReferenceFit(
        species=tuple(species),
        deltas=tuple(float(d) for d in deltas),
        rank=rank,
        rmse_before_eV_atom=float(np.sqrt(np.mean((residual / n_atoms) ** 2))),
        rmse_after_eV_atom=float(np.sqrt(np.mean((after / n_atoms) ** 2))),
    )
