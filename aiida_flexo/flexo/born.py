"""Born effective charges Z*_ref for the Born-charge (BEC) baseline of a flexo supercell.

Sources (all give Z*_i,αβ = ∂d_α/∂r_iβ in e):

* a file: the JSON written by ``aiida-flexo born-charges --json`` (keys ``born_charges``, ``symbols``), a ``.npy``
  array, a VASP OUTCAR or vasprun.xml of a DFPT run (:func:`aiida_flexo.polarization.read_born_charges`), or an
  extxyz file of frames with per-atom ``born_charges`` (supercells of the bulk, e.g. the bundled BaTiO3 frames: Z*
  are averaged per basis site over the cells and the frames, :func:`born_charges_per_basis`);
* an array per bulk atom (n_bulk, 3, 3), per unit-cell basis atom, or per supercell atom;
* a dipole model at the reference structure (``model.born_charges(reference)``).

The acoustic sum rule Σ_i Z*_i = 0 matters here: a residual makes a rigid translation polarize the crystal, and the
displacement field u(z) is in phase with the strain gradient, so the residual would leak into μ. It is removed
(spread evenly over the atoms) unless ``enforce_asr=False``; the residual is reported.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from ase import Atoms

from aiida_flexo.flexo.supercell import FlexoSupercell


@dataclass
class BornChargeSet:
    """Z* (e) for every atom of a supercell plus where they came from."""

    born_charges: np.ndarray  #: (n_atoms, 3, 3) e
    source: str
    asr_residual: np.ndarray  #: (3, 3) e, Σ Z* per unit cell before enforcing
    asr_enforced: bool

    def to_dict(self) -> dict:
        return {
            'source': self.source,
            'asr_residual_per_cell_e': np.asarray(self.asr_residual).tolist(),
            'asr_enforced': self.asr_enforced,
        }


def read_born_charges_file(
    path: str | Path, unit: Atoms | None = None
) -> tuple[np.ndarray, list[str] | None]:
    """Z* array and symbols (if known) from a file (see module docstring). ``unit`` is needed for extxyz frames."""
    path = Path(path)
    if not path.exists():
        raise ValueError(f'Born-charge file {path} does not exist')
    name = path.name.lower()
    if name.endswith('.json'):
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise ValueError(f'{path}: not valid JSON ({exc})') from exc
        if isinstance(data, dict) and 'born_charges' in data:
            return np.asarray(data['born_charges'], dtype=float), data.get('symbols')
        if isinstance(data, list):
            return np.asarray(data, dtype=float), None
        raise ValueError(
            f'{path}: no "born_charges" key; write the file with `aiida-flexo born-charges OUTCAR --json` or give '
            'a JSON with {"born_charges": [[[...]]], "symbols": [...]}'
        )
    if name.endswith('.npy'):
        return np.load(path), None
    if name.endswith(('.xyz', '.extxyz')):
        from aiida_flexo.data import read_frames

        frames = read_frames(path, index=':', require=('born_charges',))
        if unit is None:
            frame = frames[0]
            return np.asarray(frame.arrays['born_charges']), frame.get_chemical_symbols()
        per_frame = [born_charges_per_basis(frame, unit) for frame in frames]
        return np.mean(per_frame, axis=0), unit.get_chemical_symbols()
    from aiida_flexo.polarization import read_born_charges

    result = read_born_charges(path)
    return np.asarray(result.born_charges), list(result.symbols)


def born_charges_per_basis(frame: Atoms, unit: Atoms, tol: float = 0.3) -> np.ndarray:
    """Average the per-atom Z* of a supercell frame of the bulk onto the basis sites of ``unit`` (n_basis, 3, 3).

    The frame atoms are mapped onto the basis sites by :func:`aiida_flexo.flexo.structures.map_frame_to_basis`
    (fractional coordinates, so a tetragonal frame maps onto a cubic unit); thermal displacements average out and
    the Z* are those of the frame's phase.
    """
    from aiida_flexo.flexo.structures import map_frame_to_basis

    if 'born_charges' not in frame.arrays:
        raise ValueError('the frame has no per-atom "born_charges" array')
    site, _, _ = map_frame_to_basis(frame, unit, tol)
    sums = np.zeros((len(unit), 3, 3))
    np.add.at(sums, site, np.asarray(frame.arrays['born_charges'], dtype=float))
    return sums / np.bincount(site, minlength=len(unit))[:, None, None]


def supercell_born_charges(
    source: str | Path | np.ndarray,
    supercell: FlexoSupercell,
    *,
    model=None,
    enforce_asr: bool = True,
) -> BornChargeSet:
    """Z* for every atom of ``supercell`` (n_atoms, 3, 3) from a file, an array, or ``'model'`` (needs ``model``).

    Arrays per bulk atom, per basis atom of the orthogonal unit cell, or per supercell atom are recognised by their
    length; symbols in a file must match the bulk cell's.
    """
    n_atoms = len(supercell.reference)
    n_bulk = int(supercell.bulk_index.max()) + 1
    symbols: list[str] | None = None
    if isinstance(source, str) and source == 'model':
        if model is None:
            raise ValueError(
                'Born charges "model" need a dipole model (its born_charges at the reference structure)'
            )
        charges = np.asarray(model.born_charges(supercell.reference), dtype=float)
        label = f'dipole model at the reference supercell ({type(model).__name__})'
    elif isinstance(source, (str, Path)):
        charges, symbols = read_born_charges_file(source, unit=supercell.unit)
        label = str(source)
    else:
        charges = np.asarray(source, dtype=float)
        label = 'array'
    if charges.ndim != 3 or charges.shape[1:] != (3, 3):
        raise ValueError(f'Born charges must have shape (n, 3, 3), got {charges.shape}')
    ref_symbols = supercell.reference.get_chemical_symbols()
    if len(charges) == n_atoms:
        full = charges
        expected = ref_symbols
    elif len(charges) == len(supercell.unit):
        full = charges[supercell.basis_index]
        expected = supercell.unit.get_chemical_symbols()
    elif len(charges) == n_bulk:
        full = charges[supercell.bulk_index]
        expected = [None] * n_bulk
        for i, b in enumerate(supercell.bulk_index):
            expected[b] = ref_symbols[i]
    else:
        raise ValueError(
            f'{label}: {len(charges)} Born-charge tensors fit neither the bulk cell ({n_bulk} atoms), its orthogonal '
            f'unit cell ({len(supercell.unit)}) nor the supercell ({n_atoms}): give Z* for the bulk cell you built '
            'the supercell from'
        )
    if symbols is not None and list(symbols) != list(expected):
        raise ValueError(
            f'{label}: the Born charges are for {list(symbols)} but the structure has {list(expected)}: give Z* '
            'computed for the same cell with the atoms in the same order'
        )
    n_cells = supercell.n_cells
    residual = full.sum(axis=0) / n_cells
    if enforce_asr:
        full = full - full.sum(axis=0) / n_atoms
    return BornChargeSet(born_charges=full, source=label, asr_residual=residual, asr_enforced=enforce_asr)
