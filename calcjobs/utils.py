"""Conversions between ase objects and AiiDA nodes used by the CalcJobs and calcfunctions."""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from aiida import orm
from ase import Atoms

from aiida_flexo.serialization import jsonable  # noqa: F401 (the AiiDA layer imports it from here)


def structure_to_extxyz(structure: orm.StructureData) -> str:
    """A StructureData as extxyz text (full precision, through aiida_flexo.data.write_frames)."""
    import tempfile

    from aiida_flexo.data import write_frames

    with tempfile.TemporaryDirectory() as tmp:
        path = write_frames(Path(tmp) / 'structure.xyz', [structure.get_ase()])
        return path.read_text()


def singlefile_from_text(text: str, filename: str) -> orm.SinglefileData:
    return orm.SinglefileData(io.BytesIO(text.encode()), filename=filename)


def trajectory_from_frames(frames: Sequence[Atoms]) -> orm.TrajectoryData:
    """TrajectoryData with positions and cells of ``frames`` (and energies/forces when present, and with a committee
    potential the arrays ``force_std_max_meV_A`` and ``force_std_mean_meV_A``: its force deviation per frame)."""
    trajectory = orm.TrajectoryData()
    positions = np.array([a.positions for a in frames])
    cells = np.array([np.asarray(a.cell[:]) for a in frames])
    trajectory.set_trajectory(
        symbols=frames[0].get_chemical_symbols(),
        positions=positions,
        cells=cells,
        stepids=np.arange(len(frames)),
    )
    energies, forces = [], []
    for atoms in frames:
        results = getattr(atoms.calc, 'results', {}) if atoms.calc is not None else {}
        energies.append(results.get('energy', np.nan))
        forces.append(results.get('forces', np.full((len(atoms), 3), np.nan)))
    if not np.all(np.isnan(energies)):
        trajectory.set_array('energies', np.array(energies, dtype=float))
    if not np.all(np.isnan(np.array(forces))):
        trajectory.set_array('forces', np.array(forces, dtype=float))
    deviations = [a.info.get('force_std_max_meV_A') for a in frames]
    if all(d is not None for d in deviations):  # a committee potential: its force deviation per frame
        trajectory.set_array('force_std_max_meV_A', np.array(deviations, dtype=float))
        trajectory.set_array(
            'force_std_mean_meV_A', np.array([a.info['force_std_mean_meV_A'] for a in frames])
        )
    return trajectory


def md_trajectory_from_frames(frames: Sequence[Atoms]) -> orm.TrajectoryData:
    """:func:`trajectory_from_frames` of MD frames written by :func:`aiida_flexo.mlip.run_md`, plus the arrays
    ``md_steps`` (global MD step of each frame), ``target_temperatures`` (K, the schedule's) and ``temperatures``
    (K, instantaneous, from the momenta) when the frames carry them."""
    trajectory = trajectory_from_frames(frames)
    steps = [a.info.get('md_step') for a in frames]
    if all(step is not None for step in steps):
        trajectory.set_array('md_steps', np.array(steps, dtype=int))
    targets = [a.info.get('target_temperature_K') for a in frames]
    if all(target is not None for target in targets):
        trajectory.set_array('target_temperatures', np.array(targets, dtype=float))
    if all(a.has('momenta') for a in frames):
        trajectory.set_array('temperatures', np.array([a.get_temperature() for a in frames], dtype=float))
    return trajectory


def read_ase_trajectory(content: bytes) -> list[Atoms]:
    """Frames of an ase ``.traj`` file given as bytes."""
    import tempfile

    from ase.io import read

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / 'file.traj'
        path.write_bytes(content)
        return read(path, index=':', format='traj')


def read_extxyz_text(text: str) -> list[Atoms]:
    """Frames of an extxyz text (normalized labels)."""
    import tempfile

    from aiida_flexo.data import read_frames

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / 'file.xyz'
        path.write_text(text)
        return read_frames(path)
