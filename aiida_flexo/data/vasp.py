"""Labelled frames from VASP runs a user already has (no AiiDA): energy, forces, stress, Berry phase, Born charges.

One run folder (or its OUTCAR) gives one frame in the conventions of :mod:`aiida_flexo.data.frames`:

* ``energy`` (eV) is VASP's ``energy(sigma->0)`` and the forces (eV/Å) and stress (eV/Å³, ase sign) those of the
  last ionic step, read with ase from the OUTCAR, else from ``vasprun.xml`` (this avoids the ``e_0_energy`` trap of
  VASP 5 MD ``vasprun.xml`` files, see :mod:`aiida_flexo.calcjobs.functions.vasp_outputs`);
* ``dipole`` (e·Å, physics sign whatever the VASP version, electronic + ionic, minimum image over the lattice of
  quanta e·R) and ``charge_quantum`` (1 e) when the run has LCALCPOL output;
* ``born_charges`` (e) when the run has LEPSILON/LCALCEPS output.

The same readers serve the ``flexo.vasp.label`` calcfunctions, so a frame read here equals the one the WorkChain
would have stored for the same files.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms

from aiida_flexo.polarization.quanta import minimum_image
from aiida_flexo.polarization.vasp import VaspOutputError, read_berry_phase, read_born_charges


def stress_or_none(atoms: Atoms) -> np.ndarray | None:
    """The stress (eV/Å³, ase sign) of an ase frame read from VASP, or None when the run has none (ISIF = 0)."""
    try:
        stress = atoms.get_stress(voigt=False)
    except Exception:  # noqa: BLE001 - ISIF = 0 runs have no stress
        return None
    return None if stress is None else np.asarray(stress, dtype=float)


def read_scf_labels(folder: Path) -> dict[str, Any]:
    """Energy, free energy (eV), forces (eV/Å), stress (eV/Å³, ase sign, or None) of the last ionic step.

    Reads ``OUTCAR`` or ``OUTCAR.gz`` (ase ``vasp-out``) when present, else ``vasprun.xml`` (ase ``vasp-xml``);
    ``atoms`` is the structure of that step.

    Raises:
        VaspOutputError: neither file is present or readable.
    """
    import ase.io

    for name, fmt in (('OUTCAR', 'vasp-out'), ('OUTCAR.gz', 'vasp-out'), ('vasprun.xml', 'vasp-xml')):
        path = folder / name
        if not path.is_file():
            continue
        try:
            atoms = ase.io.read(path, format=fmt, index=-1)
            energy = float(atoms.get_potential_energy())
            free_energy = float(atoms.calc.results.get('free_energy', energy))
            forces = np.asarray(atoms.get_forces(), dtype=float)
        except Exception as exc:  # noqa: BLE001
            raise VaspOutputError(
                f'{name}: cannot read the energy and forces ({exc}); the run may be truncated'
            ) from exc
        return {
            'energy': energy,
            'free_energy': free_energy,
            'forces': forces,
            'stress': stress_or_none(atoms),
            'symbols': atoms.get_chemical_symbols(),
            'atoms': atoms,
            'source': name,
        }
    raise VaspOutputError(
        'the retrieved files have neither an OUTCAR nor a vasprun.xml to read the energy from'
    )


def _run_folder(path: str | Path) -> Path:
    path = Path(path)
    if path.is_dir():
        return path
    if path.is_file() and path.name in ('OUTCAR', 'OUTCAR.gz', 'vasprun.xml'):
        return path.parent
    raise VaspOutputError(
        f'{path}: not a VASP run folder, OUTCAR or vasprun.xml; give the folder of a finished run (with its OUTCAR)'
    )


def read_vasp_frame(path: str | Path, require: Sequence[str] = ()) -> Atoms:
    """One labelled frame from a finished VASP run (a folder, or its OUTCAR / vasprun.xml).

    Args:
        path: the run folder or one of its output files.
        require: labels the frame must carry (``dipole``, ``born_charges``, ``stress``); a run without one is an
            error naming the INCAR tag that produces it.

    Raises:
        VaspOutputError: the run is missing, truncated or lacks a required label.
    """
    folder = _run_folder(path)
    labels = read_scf_labels(folder)
    atoms = labels['atoms']
    frame = Atoms(atoms.get_chemical_symbols(), positions=atoms.positions, cell=atoms.cell[:], pbc=True)
    frame.info['energy'] = labels['energy']
    frame.arrays['forces'] = labels['forces']
    if labels['stress'] is not None:
        frame.info['stress'] = labels['stress']
    elif 'stress' in require:
        raise VaspOutputError(f'{folder}: no stress in the run; rerun with ISIF >= 2 to label the stress')
    outcars = [folder / n for n in ('OUTCAR', 'OUTCAR.gz') if (folder / n).is_file()]
    if outcars:
        try:
            berry = read_berry_phase(outcars[0])
        except VaspOutputError as exc:
            if 'dipole' in require or 'LCALCPOL' not in str(exc):
                raise
        else:
            # as the flexo.vasp.label calcfunction stores it (vasp_berry_phase): folded with the run's own quantum
            frame.info['dipole'] = minimum_image(berry.dipole, berry.cell, berry.charge_quantum)
            frame.info['charge_quantum'] = float(berry.charge_quantum)
            if berry.vasp_version is not None:
                frame.info['vasp_version'] = '.'.join(map(str, berry.vasp_version))
    if 'dipole' in require and 'dipole' not in frame.info:
        raise VaspOutputError(
            f'{folder}: no OUTCAR, so no Berry-phase dipole; keep the OUTCAR of LCALCPOL runs'
        )
    born = None
    for source in [p for p in (folder / 'vasprun.xml', *outcars) if p.is_file()]:
        try:
            born = read_born_charges(source)
        except VaspOutputError:
            continue
        if born.symbols and list(born.symbols) != frame.get_chemical_symbols():
            raise VaspOutputError(f'{source}: the Born charges are for other atoms than the structure')
        frame.arrays['born_charges'] = np.asarray(born.born_charges, dtype=float)
        break
    if born is None and 'born_charges' in require:
        raise VaspOutputError(
            f'{folder}: no Born effective charges in the run; rerun with LEPSILON = .TRUE. (or LCALCEPS = .TRUE.)'
        )
    frame.info['source'] = str(folder)
    return frame


def read_vasp_frames(paths: Sequence[str | Path], require: Sequence[str] = ()) -> list[Atoms]:
    """:func:`read_vasp_frame` of each run, in the order given."""
    return [read_vasp_frame(path, require) for path in paths]
