"""Sanity checks of an annealed superlattice and of its polarization field.

A potential that does not hold the lattice shows up as atoms leaving their sites; a dipole model outside its
training data shows up as cells with a polarization no perovskite has. Both are reported by ``flexo.textures`` and
``benchmarks/texture_route.py`` so that a map is never read without them.
"""

from __future__ import annotations

import numpy as np
from ase import Atoms
from ase.geometry import find_mic

#: an atom this far (Å) from its reference site means the lattice was not held (melted or broken)
OFF_SITE_A = 1.0
#: |P| (C/m²) beyond any perovskite (PbTiO3 ≈ 0.8–1.0, BiFeO3 ≈ 1.0): a cell above it is a model failure
IMPLAUSIBLE_P_C_PER_M2 = 3.0


def site_displacements(atoms: Atoms, reference: Atoms | np.ndarray) -> np.ndarray:
    """(n, 3) displacements (Å) of ``atoms`` from ``reference`` (same atoms, same order; Atoms or positions),
    minimum image in the cell of ``atoms``, with the mean (rigid) shift removed."""
    positions = reference.positions if isinstance(reference, Atoms) else np.asarray(reference, dtype=float)
    if positions.shape != atoms.positions.shape:
        raise ValueError(
            f'the reference has {len(positions)} positions, the structure {len(atoms)} atoms: compare the same '
            'atoms in the same order'
        )
    u, _ = find_mic(atoms.positions - positions, atoms.cell, pbc=True)
    return u - u.mean(axis=0)


def displacement_summary(atoms: Atoms, reference: Atoms | np.ndarray, off_site_A: float = OFF_SITE_A) -> dict:
    """RMS and largest displacement (Å) from ``reference`` and the number of atoms more than ``off_site_A`` away."""
    norms = np.linalg.norm(site_displacements(atoms, reference), axis=1)
    return {
        'rms_displacement_A': float(np.sqrt(np.mean(norms**2))),
        'max_displacement_A': float(norms.max()),
        'atoms_off_site': int((norms > off_site_A).sum()),
        'off_site_A': float(off_site_A),
    }


def off_site_warning(
    count: int, n_atoms: int, off_site_A: float = OFF_SITE_A, reference: str = 'site'
) -> str:
    """The warning line for ``count`` of ``n_atoms`` atoms more than ``off_site_A`` Å from their ``reference``."""
    return (
        f'WARNING: {count} atom(s) ({count / n_atoms:.1%}) more than {off_site_A:.1f} Å from their {reference}: '
        'local defects, or (when many) a potential that does not hold the lattice'
    )


def implausible_cells(P: np.ndarray, limit: float = IMPLAUSIBLE_P_C_PER_M2) -> np.ndarray:
    """Indices (k, 4) of the cells of a field ``P`` (Nx, Ny, L, 3; C/m²) whose |P| exceeds ``limit``."""
    P = np.asarray(P, dtype=float)
    if P.ndim != 4 or P.shape[-1] != 3:
        raise ValueError(f'P must have the shape (Nx, Ny, L, 3), got {P.shape}')
    return np.argwhere(np.linalg.norm(P, axis=-1) > limit)


#: a stage holds its temperature when the mean over its second half is within this fraction of its target ...
STAGE_TOLERANCE = 0.10
#: ... or within this many K: 10 % of a 1 K target is below the thermal noise of any finite cell
STAGE_TOLERANCE_FLOOR_K = 10.0


def stage_temperatures(temperatures: np.ndarray, targets: np.ndarray) -> list[dict]:
    """Per stage of an MD run (consecutive frames with one target temperature): the target (K), the mean
    instantaneous temperature over the second half of the stage's frames (K; the first half is the thermostat
    bringing the cell from the previous stage), its deviation, and whether it is within the tolerance."""
    temperatures = np.asarray(temperatures, dtype=float)
    targets = np.asarray(targets, dtype=float)
    if temperatures.shape != targets.shape or temperatures.ndim != 1:
        raise ValueError(
            'temperatures and targets must be 1D arrays of the same length (one value per frame)'
        )
    stages = []
    start = 0
    for end in range(1, len(targets) + 1):
        if end < len(targets) and targets[end] == targets[start]:
            continue
        window = temperatures[start:end][(end - start) // 2 :]
        target = float(targets[start])
        mean = float(np.mean(window))
        allowed = max(STAGE_TOLERANCE * target, STAGE_TOLERANCE_FLOOR_K)
        stages.append(
            {
                'target_K': target,
                'mean_K': mean,
                'deviation_K': mean - target,
                'allowed_K': allowed,
                'n_frames': int(len(window)),
                'holds': bool(abs(mean - target) <= allowed),
            }
        )
        start = end
    return stages


def anneal_check(
    temperatures: np.ndarray, targets: np.ndarray, final: Atoms, start: Atoms, off_site_A: float = OFF_SITE_A
) -> dict:
    """Does an anneal hold? Each stage's temperature (:func:`stage_temperatures`) and every atom of the final
    structure within ``off_site_A`` of its start site (:func:`displacement_summary`). ``problems`` lists, in
    words and numbers, what does not hold; ``holds`` is True when nothing does."""
    stages = stage_temperatures(temperatures, targets)
    moved = displacement_summary(final, start, off_site_A)
    problems = [
        f'stage at {s["target_K"]:g} K ran at {s["mean_K"]:.1f} K (second half; allowed ±{s["allowed_K"]:.1f} K)'
        for s in stages
        if not s['holds']
    ]
    if moved['atoms_off_site']:
        problems.append(
            f'{moved["atoms_off_site"]} of {len(final)} atoms ended more than {off_site_A:g} Å from their start '
            f'site (largest {moved["max_displacement_A"]:.2f} Å): the lattice did not hold'
        )
    return {'stages': stages, **moved, 'problems': problems, 'holds': not problems}
