"""Checks of a dipole model beyond the training metrics (the seed's single-atom test and a phase report).

* :func:`single_atom_sensitivity`: in a 3×3×3 supercell of the bulk (BaTiO3 by default), displace one atom of each
  species by small steps along one axis and compare the change of the predicted cell dipole, Δd, with the Born-charge
  expectation Z*_i · u (one column of Z*). The slope Δd/u is the model's effective Z* column; the part of Δd carried
  by the displaced atom itself against its neighbours shows how local the response is.
* :func:`phase_report`: predicted dipoles / polarizations of idealised cubic, tetragonal, orthorhombic and
  rhombohedral BaTiO3 (:func:`aiida_flexo.flexo.structures.batio3_phase`), against reference dipoles when given and
  against the linear estimate Σ Z*_cubic · u from the model's own Born charges at the undistorted cell.

Units: displacements Å, dipoles e·Å, Z* e, polarizations µC/cm².
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from ase import Atoms

from aiida_flexo.flexo.convention import AXES
from aiida_flexo.flexo.structures import PHASE_DIRECTIONS, batio3_phase, cubic_perovskite
from aiida_flexo.units import E_PER_A2_TO_UC_PER_CM2


def _axis(direction: int | str) -> int:
    if isinstance(direction, str):
        if direction.lower() not in AXES:
            raise ValueError(f'direction must be x, y, z or 0, 1, 2, got {direction!r}')
        return AXES.index(direction.lower())
    if direction not in (0, 1, 2):
        raise ValueError(f'direction must be x, y, z or 0, 1, 2, got {direction!r}')
    return int(direction)


def _central_atom(atoms: Atoms, repeat: Sequence[int], n_bulk: int, species: str) -> int:
    """Index of the first atom of ``species`` in the central cell of ``bulk.repeat(repeat)``."""
    centre = [r // 2 for r in repeat]
    cell = (centre[0] * repeat[1] + centre[1]) * repeat[2] + centre[2]
    symbols = atoms.get_chemical_symbols()
    for i in range(cell * n_bulk, (cell + 1) * n_bulk):
        if symbols[i] == species:
            return i
    raise ValueError(f'species {species} not in the bulk cell')


def single_atom_sensitivity(
    model,
    bulk: Atoms | None = None,
    repeat: Sequence[int] = (3, 3, 3),
    steps: Sequence[float] = (-0.04, -0.02, 0.02, 0.04),
    direction: int | str = 'z',
    species: Sequence[str] | None = None,
    born_charges: np.ndarray | str | None = 'model',
) -> dict:
    """Change of the predicted cell dipole when one atom of each species moves by ``steps`` (Å) along ``direction``.

    ``born_charges``: Z* for the expectation, per atom of the supercell or of ``bulk`` (n, 3, 3), ``'model'`` (the
    model's Z* at the undisplaced supercell) or None (no expectation). Returns a JSON-able dict with one entry per
    species: atom index, steps, Δd (e·Å), expected Z*·u, the effective Z* column (slope), the reference column, the
    largest deviation |Δd − Z*·u| and the fraction of Δd carried by the displaced atom's own dipole.
    """
    bulk = cubic_perovskite() if bulk is None else bulk
    repeat = tuple(int(r) for r in repeat)
    axis = _axis(direction)
    steps = np.asarray(steps, dtype=float)
    if np.any(steps == 0) or len(steps) == 0:
        raise ValueError('steps must be non-zero displacements in Å, e.g. -0.04,-0.02,0.02,0.04')
    reference = bulk.repeat(repeat)
    reference.set_constraint()
    if getattr(model, 'reference', False) is None and hasattr(model, 'with_reference'):
        # an unbound synthetic model: bind it to the undisplaced supercell (bulk atoms tiled in order)
        model = model.with_reference(reference, np.tile(np.arange(len(bulk)), int(np.prod(repeat))))
    base = np.asarray(model.per_atom_dipoles(reference), dtype=float)
    if isinstance(born_charges, str) and born_charges == 'model':
        z_ref = np.asarray(model.born_charges(reference), dtype=float)
        z_source = 'model at the undisplaced supercell'
    elif born_charges is None:
        z_ref, z_source = None, None
    else:
        z = np.asarray(born_charges, dtype=float)
        if len(z) == len(bulk):
            z = np.tile(z, (int(np.prod(repeat)), 1, 1))
        if z.shape != (len(reference), 3, 3):
            raise ValueError(f'Born charges must be per bulk atom or per supercell atom, got shape {z.shape}')
        z_ref, z_source = z, 'given'
    chosen = sorted(set(bulk.get_chemical_symbols())) if species is None else list(species)
    rows = []
    for name in chosen:
        index = _central_atom(reference, repeat, len(bulk), name)
        deltas, own = [], []
        for step in steps:
            moved = reference.copy()
            moved.positions[index, axis] += step
            dipoles = np.asarray(model.per_atom_dipoles(moved), dtype=float)
            deltas.append((dipoles - base).sum(axis=0))
            own.append((dipoles - base)[index])
        deltas = np.array(deltas)
        own = np.array(own)
        slope = (deltas * steps[:, None]).sum(axis=0) / np.sum(steps**2)
        own_norm = np.linalg.norm(own, axis=1)
        total_norm = np.linalg.norm(deltas, axis=1)
        row = {
            'species': name,
            'atom_index': int(index),
            'direction': AXES[axis],
            'steps_A': steps.tolist(),
            'delta_dipole_eA': deltas.tolist(),
            'effective_born_column_e': slope.tolist(),
            'own_fraction': float(np.mean(own_norm / np.where(total_norm > 0, total_norm, 1.0))),
            'nonlinearity_eA': float(np.abs(deltas - np.outer(steps, slope)).max()),
        }
        if z_ref is not None:
            column = z_ref[index][:, axis]
            expected = np.outer(steps, column)
            row['expected_dipole_eA'] = expected.tolist()
            row['born_column_e'] = column.tolist()
            row['max_deviation_eA'] = float(np.abs(deltas - expected).max())
            scale = np.abs(expected).max()
            row['relative_deviation'] = float(np.abs(deltas - expected).max() / scale) if scale > 0 else None
        rows.append(row)
    return {
        'supercell': {
            'repeat': list(repeat),
            'n_atoms': len(reference),
            'formula': reference.get_chemical_formula(),
        },
        'born_charges_source': z_source,
        'units': {'steps': 'Å', 'dipole': 'e·Å', 'born_charges': 'e'},
        'species': rows,
    }


def phase_report(
    model,
    phases: Sequence[str] = ('cubic', 'tetragonal', 'orthorhombic', 'rhombohedral'),
    repeat: Sequence[int] = (3, 3, 3),
    reference_dipoles: Mapping[str, Sequence[float]] | None = None,
    structures: Mapping[str, Atoms] | None = None,
    linear_estimate: bool = True,
) -> list[dict]:
    """One row per phase: predicted dipole (e·Å) and polarization (µC/cm²) of the repeated cell.

    ``structures`` overrides the idealised builders (e.g. DFT-relaxed phases); ``reference_dipoles`` (e·Å, for the
    repeated cell) adds the error; ``linear_estimate`` adds Σ Z*·u with the model's Z* at the same cell with Ba, Ti, O
    on their ideal (cubic fractional) sites — the gap to the prediction measures the non-linear response (built-in
    idealised phases only, whose atom order is known).
    """
    repeat = tuple(int(r) for r in repeat)
    rows = []
    for phase in phases:
        cell = (structures or {}).get(phase)
        if cell is None:
            cell = batio3_phase(phase)
        atoms = cell.repeat(repeat)
        volume = abs(atoms.cell.volume)
        dipole = np.asarray(model.per_atom_dipoles(atoms), dtype=float).sum(axis=0)
        polarization = dipole / volume * E_PER_A2_TO_UC_PER_CM2
        direction = np.array(PHASE_DIRECTIONS.get(phase, (0.0, 0.0, 0.0)))
        row = {
            'phase': phase,
            'n_atoms': len(atoms),
            'volume_A3': float(volume),
            'dipole_eA': dipole.tolist(),
            'P_uC_cm2': polarization.tolist(),
            'P_norm_uC_cm2': float(np.linalg.norm(polarization)),
        }
        if np.linalg.norm(direction) > 0 and np.linalg.norm(polarization) > 0:
            cos = float(direction @ polarization / np.linalg.norm(direction) / np.linalg.norm(polarization))
            row['cos_to_ideal_direction'] = cos
        if linear_estimate and phase not in (structures or {}):
            ideal = cubic_perovskite(('Ba', 'Ti'))
            ideal = Atoms(
                cell.get_chemical_symbols(),
                scaled_positions=ideal.get_scaled_positions(),
                cell=cell.cell,
                pbc=True,
            ).repeat(repeat)
            z = np.asarray(model.born_charges(ideal), dtype=float)
            u = np.asarray(atoms.positions) - np.asarray(ideal.positions)
            estimate = np.einsum('iab,ib->a', z, u)
            row['linear_estimate_eA'] = estimate.tolist()
            row['linear_estimate_P_uC_cm2'] = (estimate / volume * E_PER_A2_TO_UC_PER_CM2).tolist()
        if reference_dipoles is not None and phase in reference_dipoles:
            ref = np.asarray(reference_dipoles[phase], dtype=float)
            row['reference_dipole_eA'] = ref.tolist()
            row['error_eA'] = float(np.linalg.norm(dipole - ref))
        rows.append(row)
    return rows
