"""Calcfunctions that turn the retrieved files of VASP runs into the pieces of a labelled frame.

Every quantity is in aiida-flexo units (eV, eV/Å, eV/Å³ with ase's stress sign, e·Å, e) and in the atom order of
the structure the caller gave: VASP ran on the species-grouped copy made by :func:`vasp_sort_structure`, and the
``permutation`` it returns maps per-atom outputs back.

Energy: ``energy`` is VASP's ``energy(sigma->0)`` (the extrapolated energy, as ase and GPAW report ``energy``) and
``free_energy`` the Mermin free energy ``TOTEN`` whose derivatives are the forces. Both are read with ase, from the
OUTCAR when present, else from ``vasprun.xml``. This avoids the ``e_0_energy`` trap of MD ``vasprun.xml`` files
written by VASP 5: in each ionic step's ``<energy>`` block, ``e_0_energy`` holds the entropy term −TS (−0.40 eV in
the Pt(111)/water test run, not the −558.54 eV of the OUTCAR) and ``e_wo_entrp`` holds energy(sigma->0), while the
electronic ``<scstep>`` blocks lack the van der Waals (IVDW) correction (−528 eV there). ase reads the free energy of
the ionic block and adds the (sigma->0 − free) difference of the last electronic step, which is right in both
VASP 5 and 6.

Berry phase: :func:`aiida_flexo.polarization.read_berry_phase` on the retrieved OUTCAR (electronic + ionic dipoles
with the physical sign whatever the VASP version; the version is read from the OUTCAR). ``dipole_raw`` is their sum
as VASP folded each, ``dipole`` its minimum image over the lattice of quanta e·R (charge quantum 1 e, always safe;
the GPAW engine stores q = 2 for spin-paired runs with even valence charges, see aiida_flexo.polarization.gpaw).

Born charges and ε∞: aiida-vasp's ``born_charges`` and ``dielectrics`` outputs (parsed from ``vasprun.xml``) when
present, else :func:`aiida_flexo.polarization.read_born_charges` on the OUTCAR (runs that kept only the OUTCAR).
"""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from aiida import orm
from aiida.engine import ExitCode, calcfunction
from ase import Atoms

from aiida_flexo.data.vasp import read_scf_labels, stress_or_none
from aiida_flexo.engines.vasp import kelvin_from_kinetic, sorting_permutation
from aiida_flexo.polarization import VaspOutputError, minimum_image, read_berry_phase, read_born_charges
from aiida_flexo.units import dipole_to_polarization

#: Exit statuses of the calcfunctions (the WorkChain maps them to its own exit codes).
EXIT_NO_OUTPUT_FILE = 310
EXIT_NO_BERRY_PHASE = 311
EXIT_UNREADABLE = 312
EXIT_NO_BORN_CHARGES = 313


# ------------------------------------------------------------------------------------------- plain readers
@contextmanager
def retrieved_files(retrieved: orm.FolderData, names: tuple[str, ...]) -> Iterator[Path]:
    """A temporary folder holding copies of those of ``names`` that ``retrieved`` has."""
    present = set(retrieved.base.repository.list_object_names())
    with tempfile.TemporaryDirectory(prefix='flexo-vasp-') as tmp:
        folder = Path(tmp)
        for name in names:
            if name in present:
                with (
                    retrieved.base.repository.open(name, 'rb') as source,
                    open(folder / name, 'wb') as target,
                ):
                    shutil.copyfileobj(source, target)
        yield folder


_RE_TEMPERATURE = re.compile(r'\(temperature\s+([-+\d.Ee]+)\s*K\)')


def read_md_frames(folder: Path) -> tuple[list[Atoms], np.ndarray, str]:
    """The MD steps of one VASP run: frames (with energy, free energy, forces, stress), temperatures (K), source.

    Frames come from ``vasprun.xml`` when it parses, else from the OUTCAR (complete ionic steps only, so a run
    killed at the wall-time limit keeps its finished steps). Temperatures: VASP's own, from the OUTCAR's
    ``(temperature ... K)`` lines, else from the ionic kinetic energy of ``vasprun.xml`` with 3N − 3 degrees of
    freedom (what VASP uses without constraints).
    """
    import xml.etree.ElementTree as ET

    import ase.io

    frames: list[Atoms] = []
    source = ''
    vasprun, outcar = folder / 'vasprun.xml', folder / 'OUTCAR'
    if vasprun.is_file():
        try:
            frames = list(ase.io.read(vasprun, format='vasp-xml', index=':'))
            source = 'vasprun.xml'
        except Exception:  # noqa: BLE001 - truncated XML: fall back to the OUTCAR
            frames = []
    if not frames and outcar.is_file():
        try:
            frames = list(ase.io.read(outcar, format='vasp-out', index=':'))
            source = 'OUTCAR'
        except Exception as exc:  # noqa: BLE001
            raise VaspOutputError(f'OUTCAR: cannot read the MD steps ({exc})') from exc
    if not frames:
        raise VaspOutputError('no readable vasprun.xml or OUTCAR with MD steps in the retrieved files')
    temperatures = None
    if outcar.is_file():
        found = [float(t) for t in _RE_TEMPERATURE.findall(outcar.read_text(errors='replace'))]
        if len(found) >= len(frames):
            temperatures = np.array(found[: len(frames)])
    if temperatures is None and vasprun.is_file():
        try:
            root = ET.parse(vasprun).getroot()
            kinetic = [
                float(c.find("energy/i[@name='kinetic']").text)
                for c in root.findall('calculation')
                if c.find("energy/i[@name='kinetic']") is not None
            ]
        except ET.ParseError:
            kinetic = []
        if len(kinetic) >= len(frames):
            temperatures = kelvin_from_kinetic(np.array(kinetic[: len(frames)]), 3 * len(frames[0]) - 3)
    if temperatures is None:
        temperatures = np.full(len(frames), np.nan)
    return frames, np.asarray(temperatures, dtype=float), source


def _unsort(values: np.ndarray, permutation: np.ndarray) -> np.ndarray:
    """Per-atom values (axis 0) of the species-grouped structure back in the caller's atom order."""
    out = np.empty_like(values)
    out[permutation] = values
    return out


# ------------------------------------------------------------------------------------------- calcfunctions
@calcfunction
def vasp_sort_structure(structure: orm.StructureData) -> dict[str, orm.Data]:
    """The structure with the atoms of each species contiguous (VASP's POSCAR), and the permutation used.

    ``sorted = structure[permutation]`` (stable: species in order of first appearance, atoms in their order).
    """
    atoms = structure.get_ase()
    permutation = sorting_permutation(atoms.get_chemical_symbols())
    grouped = orm.StructureData(ase=atoms[permutation])
    perm = orm.ArrayData()
    perm.set_array('permutation', permutation)
    return {'structure': grouped, 'permutation': perm}


@calcfunction
def vasp_scf_labels(retrieved: orm.FolderData, permutation: orm.ArrayData) -> dict[str, orm.Data] | ExitCode:
    """``properties`` (energy, free energy in eV; stress in eV/Å³) and ``forces`` (eV/Å) of a single-point run."""
    perm = permutation.get_array('permutation')
    with retrieved_files(retrieved, ('OUTCAR', 'vasprun.xml')) as folder:
        try:
            labels = read_scf_labels(folder)
        except VaspOutputError as exc:
            return ExitCode(EXIT_UNREADABLE, str(exc))
    if len(labels['forces']) != len(perm):
        return ExitCode(
            EXIT_UNREADABLE, f'{labels["source"]} has {len(labels["forces"])} atoms, expected {len(perm)}'
        )
    forces = orm.ArrayData()
    forces.set_array('forces', _unsort(labels['forces'], perm))
    properties = {
        'energy': labels['energy'],
        'free_energy': labels['free_energy'],
        'stress': None if labels['stress'] is None else labels['stress'].tolist(),
        'max_force': float(np.linalg.norm(labels['forces'], axis=1).max()),
        'source': labels['source'],
        'units': {'energy': 'eV', 'free_energy': 'eV', 'stress': 'eV/Å³', 'forces': 'eV/Å'},
    }
    return {'properties': orm.Dict(properties), 'forces': forces}


@calcfunction
def vasp_berry_phase(retrieved: orm.FolderData) -> dict[str, orm.Data] | ExitCode:
    """``polarization``: the cell dipole (e·Å, physics sign) of an LCALCPOL run, its parts and its charge quantum."""
    names = tuple(retrieved.base.repository.list_object_names())
    if 'OUTCAR' not in names:
        return ExitCode(
            EXIT_NO_OUTPUT_FILE, 'the VASP run retrieved no OUTCAR, so there is no Berry phase to read'
        )
    with retrieved_files(retrieved, ('OUTCAR', 'CONTCAR', 'POSCAR')) as folder:
        try:
            result = read_berry_phase(folder / 'OUTCAR')
        except VaspOutputError as exc:
            status = EXIT_NO_BERRY_PHASE if 'LCALCPOL' in str(exc) else EXIT_UNREADABLE
            return ExitCode(status, str(exc).replace(str(folder), 'retrieved'))
    quantum = float(result.charge_quantum)
    raw = np.asarray(result.dipole, dtype=float)
    folded = minimum_image(raw, result.cell, quantum)
    version = result.vasp_version
    return {
        'polarization': orm.Dict(
            {
                'dipole': folded.tolist(),
                'dipole_raw': raw.tolist(),
                'dipole_electronic': np.asarray(result.electronic_dipole).tolist(),
                'dipole_ionic': np.asarray(result.ionic_dipole).tolist(),
                'spin_dipoles': None
                if result.spin_dipoles is None
                else np.asarray(result.spin_dipoles).tolist(),
                'charge_quantum': quantum,
                'polarization_C_per_m2': dipole_to_polarization(folded, result.volume).tolist(),
                'volume': result.volume,
                'cell': result.cell.tolist(),
                'zval': dict(result.zval),
                'vasp_version': None if version is None else '.'.join(map(str, version)),
                'sign_convention': 'physics (from - to + charge); VASP < 6.3 printed -d, corrected',
                'units': {
                    'dipole': 'e·Å',
                    'charge_quantum': 'e',
                    'polarization_C_per_m2': 'C/m²',
                    'volume': 'Å³',
                },
            }
        )
    }


@calcfunction
def vasp_born_charges(
    retrieved: orm.FolderData, permutation: orm.ArrayData, **parsed: orm.ArrayData
) -> dict[str, orm.Data] | ExitCode:
    """``born_charges``: Z*_i,αβ = ∂d_α/∂r_iβ (e), ε∞ and the acoustic-sum-rule residual Σ_i Z*_i.

    ``parsed`` may hold aiida-vasp's ``born_charges`` and ``dielectrics`` outputs (from ``vasprun.xml``); without
    them the retrieved OUTCAR is read.
    """
    perm = permutation.get_array('permutation')
    born = epsilon = None
    source = ''
    if 'born_charges' in parsed and 'dielectrics' in parsed:
        born_node, diel = parsed['born_charges'], parsed['dielectrics']
        if 'born_charges' in born_node.get_arraynames() and 'epsilon' in diel.get_arraynames():
            born = np.asarray(born_node.get_array('born_charges'), dtype=float)
            epsilon = np.asarray(diel.get_array('epsilon'), dtype=float)
            source = 'aiida-vasp (vasprun.xml)'
    if born is None:
        with retrieved_files(retrieved, ('OUTCAR', 'CONTCAR', 'POSCAR')) as folder:
            if not (folder / 'OUTCAR').is_file():
                return ExitCode(
                    EXIT_NO_OUTPUT_FILE, 'no vasprun.xml Born charges and no OUTCAR to read them from'
                )
            try:
                result = read_born_charges(folder / 'OUTCAR')
            except VaspOutputError as exc:
                return ExitCode(EXIT_NO_BORN_CHARGES, str(exc).replace(str(folder), 'retrieved'))
        born, epsilon, source = result.born_charges, result.epsilon_inf, 'OUTCAR (aiida_flexo.polarization)'
    if born.shape != (len(perm), 3, 3):
        return ExitCode(EXIT_UNREADABLE, f'Born charges of shape {born.shape}, expected ({len(perm)}, 3, 3)')
    node = orm.ArrayData()
    node.set_array('born_charges', _unsort(born, perm))
    node.set_array('epsilon_inf', epsilon)
    node.set_array('asr_residual', born.sum(axis=0))
    node.base.attributes.set('source', source)
    node.base.attributes.set('units', {'born_charges': 'e', 'epsilon_inf': '1', 'asr_residual': 'e'})
    return {'born_charges': node}


@calcfunction
def vasp_md_trajectory(
    permutation: orm.ArrayData, timestep: orm.Float, **segments: orm.FolderData
) -> dict[str, orm.Data] | ExitCode:
    """``trajectory`` (TrajectoryData) and ``md`` (Dict summary) of an MD run, stitched over restarted segments.

    ``segments`` are the retrieved folders of consecutive runs, keyed ``segment_0``, ``segment_1``, ... Arrays:
    positions, cells, forces (eV/Å), ``energy`` (sigma->0) and ``free_energy`` (eV), ``stress`` (eV/Å³, NaN where
    not computed), ``temperature`` (K); times in fs.
    """
    perm = permutation.get_array('permutation')
    frames: list[Atoms] = []
    temperatures: list[float] = []
    sources = []
    for key in sorted(segments, key=lambda k: int(k.rsplit('_', 1)[-1])):
        with retrieved_files(segments[key], ('vasprun.xml', 'OUTCAR')) as folder:
            try:
                seg_frames, seg_t, source = read_md_frames(folder)
            except VaspOutputError as exc:
                return ExitCode(EXIT_UNREADABLE, f'{key}: {exc}')
        if frames and seg_frames and np.allclose(frames[-1].positions, seg_frames[0].positions, atol=1e-6):
            seg_frames, seg_t = seg_frames[1:], seg_t[1:]  # a restart from the last finished step repeats it
        frames.extend(seg_frames)
        temperatures.extend(seg_t.tolist())
        sources.append(source)
    n = len(perm)
    if any(len(f) != n for f in frames):
        return ExitCode(EXIT_UNREADABLE, f'MD frames do not all have {n} atoms')
    symbols_sorted = frames[0].get_chemical_symbols()
    symbols = [''] * n
    for k, i in enumerate(perm):
        symbols[i] = symbols_sorted[k]
    positions = np.stack([_unsort(f.positions, perm) for f in frames])
    cells = np.stack([np.asarray(f.cell[:], dtype=float) for f in frames])
    forces = np.stack([_unsort(f.get_forces(), perm) for f in frames])
    stress = np.stack(
        [s if (s := stress_or_none(f)) is not None else np.full((3, 3), np.nan) for f in frames]
    )
    energy = np.array([f.get_potential_energy() for f in frames], dtype=float)
    free_energy = np.array([f.calc.results.get('free_energy', np.nan) for f in frames], dtype=float)
    steps = np.arange(len(frames))
    trajectory = orm.TrajectoryData()
    trajectory.set_trajectory(
        symbols=symbols,
        positions=positions,
        cells=cells,
        stepids=steps,
        times=steps * float(timestep.value),
        pbc=(True, True, True),
    )
    for name, values in (
        ('forces', forces),
        ('energy', energy),
        ('free_energy', free_energy),
        ('stress', stress),
        ('temperature', np.asarray(temperatures, dtype=float)),
    ):
        trajectory.set_array(name, values)
    trajectory.base.attributes.set(
        'units',
        {
            'positions': 'Å',
            'forces': 'eV/Å',
            'energy': 'eV',
            'free_energy': 'eV',
            'stress': 'eV/Å³',
            'temperature': 'K',
            'times': 'fs',
        },
    )
    summary = {
        'n_steps': len(frames),
        'n_segments': len(segments),
        'sources': sources,
        'temperature_mean': float(np.nanmean(temperatures)) if temperatures else None,
        'temperature_max': float(np.nanmax(temperatures)) if temperatures else None,
        'energy_first': float(energy[0]),
        'energy_last': float(energy[-1]),
    }
    return {'trajectory': trajectory, 'md': orm.Dict(summary)}


@calcfunction
def vasp_labelled_frames(structure: orm.StructureData, **pieces: orm.Data) -> dict[str, orm.Data]:
    """``frames`` (``flexo.frames``): the labelled frame(s) of a VASP labelling run, in the caller's atom order.

    ``pieces``: ``properties`` + ``forces`` (single point), ``polarization``, ``born_charges``, or ``trajectory``
    (+ ``interval``, an Int: keep every interval-th MD step).
    """
    from aiida_flexo.nodes.frames import FramesData

    if 'trajectory' in pieces:
        traj = pieces['trajectory']
        interval = int(pieces['interval'].value) if 'interval' in pieces else 1
        symbols = traj.symbols
        frames = []
        for i in range(0, traj.numsteps, interval):
            atoms = Atoms(symbols, positions=traj.get_positions()[i], cell=traj.get_cells()[i], pbc=True)
            atoms.info['energy'] = float(traj.get_array('energy')[i])
            atoms.info['energy_free'] = float(traj.get_array('free_energy')[i])
            atoms.info['temperature'] = float(traj.get_array('temperature')[i])
            atoms.info['md_step'] = i
            stress = traj.get_array('stress')[i]
            if np.all(np.isfinite(stress)):
                atoms.info['stress'] = stress
            atoms.arrays['forces'] = traj.get_array('forces')[i]
            frames.append(atoms)
        return {'frames': FramesData.from_frames(frames, source='VASP MD (flexo.vasp.label)')}
    atoms = structure.get_ase()
    if 'properties' in pieces:
        props = pieces['properties'].get_dict()
        atoms.info['energy'] = props['energy']
        atoms.info['energy_free'] = props['free_energy']
        if props.get('stress') is not None:
            atoms.info['stress'] = np.asarray(props['stress'])
        atoms.arrays['forces'] = pieces['forces'].get_array('forces')
    if 'polarization' in pieces:
        pol = pieces['polarization'].get_dict()
        atoms.info['dipole'] = np.asarray(pol['dipole'])
        atoms.info['charge_quantum'] = float(pol['charge_quantum'])
    if 'born_charges' in pieces:
        atoms.arrays['born_charges'] = pieces['born_charges'].get_array('born_charges')
        atoms.info['epsilon_inf'] = pieces['born_charges'].get_array('epsilon_inf').tolist()
    return {'frames': FramesData.from_frames([atoms], source='VASP (flexo.vasp.label)')}
