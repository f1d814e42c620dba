"""Labelled frames: one in-memory representation (ase ``Atoms``) and extxyz exchange.

A *frame* is an ``ase.Atoms`` with its labels in fixed places and units (ase units):

==================  =========  ============  =====================================================================
label               where      shape         meaning and unit
==================  =========  ============  =====================================================================
``energy``          info       ()            total energy, eV
``forces``          arrays     (n, 3)        forces, eV/Å
``stress``          info       (3, 3)        stress, eV/Å³, ase sign convention (positive = tensile)
``dipole``          info       (3,)          Berry-phase cell dipole (electronic + ionic), e·Å, physics sign
``charge_quantum``  info       ()            charge quantum q (e) of the dipole lattice q·e·R (1 is always safe)
``born_charges``    arrays     (n, 3, 3)     Born effective charges Z*_i,αβ = ∂d_α/∂r_iβ, e
``polarizability``  info       (3, 3)        electronic polarizability as given by the source (optional)
==================  =========  ============  =====================================================================

On read, the spellings of other tools are accepted: ``total_energy`` for ``energy``; ``polarization`` (the cell
dipole in e·Å, as in allegro-pol's BaTiO3 data) for ``dipole``; ``born_charge`` (9 numbers per atom, row-major)
for ``born_charges``; labels that ase moved into a ``SinglePointCalculator`` (energy, forces, stress, dipole,
polarization) are taken from there. Stress may be given as 9 or 6 (Voigt xx yy zz yz xz xy) numbers.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.stress import voigt_6_to_full_3x3_stress

from aiida_flexo.atomic import write_text
from aiida_flexo.polarization.quanta import SAFE_CHARGE_QUANTUM

#: label -> (per 'frame' or 'atom', shape per frame/atom, unit)
LABELS: dict[str, tuple[str, tuple[int, ...], str]] = {
    'energy': ('frame', (), 'eV'),
    'forces': ('atom', (3,), 'eV/Å'),
    'stress': ('frame', (3, 3), 'eV/Å³'),
    'dipole': ('frame', (3,), 'e·Å'),
    'charge_quantum': ('frame', (), 'e'),
    'born_charges': ('atom', (3, 3), 'e'),
    'polarizability': ('frame', (3, 3), 'as given'),
}
UNITS: dict[str, str] = {key: unit for key, (_, _, unit) in LABELS.items()}
FRAME_LABELS = tuple(k for k, (kind, _, _) in LABELS.items() if kind == 'frame')
ATOM_LABELS = tuple(k for k, (kind, _, _) in LABELS.items() if kind == 'atom')


def without_labels(atoms: Atoms) -> Atoms:
    """A copy of ``atoms`` with no calculator and none of the :data:`LABELS` (a structure to label again)."""
    plain = atoms.copy()
    plain.calc = None
    for key in ATOM_LABELS:
        plain.arrays.pop(key, None)
    for key in FRAME_LABELS:
        plain.info.pop(key, None)
    return plain


_INFO_ALIASES = {'total_energy': 'energy', 'polarization': 'dipole', 'free_energy': 'energy'}
_ARRAY_ALIASES = {'born_charge': 'born_charges', 'force': 'forces'}


class FramesError(ValueError):
    """A frame file or frame set is not usable (the message names the file, the frame and what to do)."""


def _as_stress(value) -> np.ndarray:
    value = np.asarray(value, dtype=float).reshape(-1)
    if value.size == 9:
        return value.reshape(3, 3)
    if value.size == 6:
        return voigt_6_to_full_3x3_stress(value)
    raise FramesError(f'stress must have 6 (Voigt) or 9 components, got {value.size}')


def normalize_frame(atoms: Atoms, where: str = 'frame') -> Atoms:
    """A copy of ``atoms`` with every known label moved to its canonical place, name, shape and dtype.

    Unknown ``info`` entries (metadata such as the frame's origin) are kept as they are.
    """
    out = Atoms(
        numbers=atoms.numbers.copy(),
        positions=np.asarray(atoms.positions, dtype=float).copy(),
        cell=np.asarray(atoms.cell[:], dtype=float).copy(),
        pbc=atoms.pbc.copy(),
    )
    info = dict(atoms.info)
    arrays = {k: v for k, v in atoms.arrays.items() if k not in ('numbers', 'positions')}
    if atoms.calc is not None:
        for key, value in getattr(atoms.calc, 'results', {}).items():
            if key in ('forces', 'born_charge', 'born_charges'):
                arrays.setdefault(key, value)
            else:
                info.setdefault(key, value)
    for alias, key in _INFO_ALIASES.items():
        if alias in info:
            value = info.pop(alias)
            info.setdefault(key, value)
    for alias, key in _ARRAY_ALIASES.items():
        if alias in arrays:
            value = arrays.pop(alias)
            arrays.setdefault(key, value)
    n = len(atoms)
    for key in FRAME_LABELS:
        if key not in info:
            continue
        _, shape, _ = LABELS[key]
        value = info.pop(key)
        try:
            if key == 'stress':
                out.info[key] = _as_stress(value)
            elif key in ('energy', 'charge_quantum'):
                out.info[key] = float(np.asarray(value, dtype=float).reshape(()))
            else:
                out.info[key] = np.asarray(value, dtype=float).reshape(shape)
        except (ValueError, TypeError) as exc:
            raise FramesError(f'{where}: label "{key}" has the wrong shape or type ({exc})') from exc
    for key in ATOM_LABELS:
        if key not in arrays:
            continue
        _, shape, _ = LABELS[key]
        value = np.asarray(arrays.pop(key), dtype=float)
        try:
            out.arrays[key] = value.reshape((n, *shape))
        except ValueError as exc:
            raise FramesError(
                f'{where}: label "{key}" has {value.size} numbers, expected {n}×{np.prod(shape)}'
            ) from exc
    if 'dipole' in out.info:
        out.info.setdefault('charge_quantum', SAFE_CHARGE_QUANTUM)
    for key, value in info.items():
        out.info[key] = value
    for key, value in arrays.items():
        out.arrays[key] = np.asarray(value)
    return out


def check_periodic(atoms: Atoms, where: str) -> None:
    """Raise unless ``atoms`` is periodic in 3D with a non-singular cell."""
    if not all(atoms.pbc) or abs(atoms.cell.volume) < 1e-6:
        raise FramesError(
            f'{where}: the structure is not periodic in 3D (pbc={list(map(bool, atoms.pbc))}, volume='
            f'{abs(atoms.cell.volume):.3g} Å³); polarization quanta and periodic neighbour lists need a 3D periodic '
            'cell: set three lattice vectors and pbc="T T T"'
        )


#: a 3D periodic cell with less volume per atom (Å³) is flattened or collapsed: solids have more than ~5 Å³ per
#: atom, and the neighbour list of such a cell needs unbounded memory (a flattened 135-atom cell asked for 245 GB)
MIN_VOLUME_PER_ATOM = 0.5


def check_structure(atoms: Atoms, where: str = 'structure') -> None:
    """Raise :class:`FramesError` for positions or a cell no model can work on: NaN or infinite positions or cell
    vectors, or a flattened or collapsed 3D periodic cell (the neighbour list would hang or allocate without
    bound). Call it before any neighbour list."""
    positions = np.asarray(atoms.positions, dtype=float)
    if not np.all(np.isfinite(positions)):
        bad = sorted({int(i) for i in np.argwhere(~np.isfinite(positions))[:, 0]})[:5]
        raise FramesError(f'{where}: non-finite atomic positions (atoms {bad}); fix the structure file')
    cell = np.asarray(atoms.cell[:], dtype=float)
    if not np.all(np.isfinite(cell)):
        raise FramesError(f'{where}: non-finite cell vectors; fix the structure file')
    if not all(atoms.pbc):
        return
    volume = abs(float(np.linalg.det(cell)))
    if volume < 1e-3 or volume < MIN_VOLUME_PER_ATOM * len(atoms):
        raise FramesError(
            f'{where}: the periodic cell is degenerate (flattened or collapsed: volume {volume:.3g} Å³, '
            f'{volume / max(len(atoms), 1):.3g} Å³ per atom); give three independent cell vectors of the real cell'
        )


def check_finite_labels(atoms: Atoms, where: str = 'frame') -> None:
    """Raise :class:`FramesError` naming the first label of a normalized frame that holds a NaN or infinity."""
    for key, (kind, _, unit) in LABELS.items():
        if not has_label(atoms, key):
            continue
        value = np.asarray(get_label(atoms, key), dtype=float)
        if np.all(np.isfinite(value)):
            continue
        detail = ''
        if kind == 'atom':
            bad = sorted({int(i) for i in np.argwhere(~np.isfinite(value))[:, 0]})[:5]
            detail = f' (atoms {bad})'
        raise FramesError(
            f'{where}: label "{key}" ({unit}) is NaN or infinite{detail}; relabel the frame or drop it'
        )


def has_label(atoms: Atoms, key: str) -> bool:
    """Whether a normalized frame carries ``key``."""
    kind = LABELS[key][0]
    return key in (atoms.arrays if kind == 'atom' else atoms.info)


def get_label(atoms: Atoms, key: str) -> np.ndarray | float:
    """The value of a label of a normalized frame."""
    return atoms.arrays[key] if LABELS[key][0] == 'atom' else atoms.info[key]


def check_frames(
    frames: Sequence[Atoms],
    require: Iterable[str] = (),
    source: str = 'frames',
    species: Iterable[str] | None = None,
) -> None:
    """Validate normalized frames: 3D periodic, finite positions, cell and labels, required labels present, species
    known.

    Raises:
        FramesError: naming the source, the frame index and what is missing, with the fix.
    """
    if len(frames) == 0:
        raise FramesError(f'{source}: no frames')
    require = tuple(require)
    unknown = [key for key in require if key not in LABELS]
    if unknown:
        raise FramesError(f'unknown label(s) {unknown}; known labels: {sorted(LABELS)}')
    known_species = set(species) if species is not None else None
    for i, atoms in enumerate(frames):
        where = f'{source}, frame {i}'
        check_periodic(atoms, where)
        check_structure(atoms, where)
        check_finite_labels(atoms, where)
        for key in require:
            if not has_label(atoms, key):
                raise FramesError(
                    f'{where}: missing label "{key}" ({UNITS[key]}); label the frame (aiida-flexo label) or '
                    f'drop it, or train without this target'
                )
        if known_species is not None:
            extra = set(atoms.get_chemical_symbols()) - known_species
            if extra:
                raise FramesError(
                    f'{where}: species {sorted(extra)} unknown to the model (it knows {sorted(known_species)}); '
                    'retrain the model with frames that contain them'
                )


def read_frames(path: str | Path, index: str | int | slice = ':', require: Iterable[str] = ()) -> list[Atoms]:
    """Read labelled frames from an extxyz (or any ase-readable) file and normalize them.

    Args:
        path: the file.
        index: ase index expression (``':'`` for all frames).
        require: labels every frame must carry (e.g. ``('dipole',)``); missing ones raise :class:`FramesError`.
    """
    from ase.io import read

    path = Path(path)
    if not path.is_file():
        raise FramesError(f'{path}: no such file')
    try:
        raw = read(path, index=index)
    except Exception as exc:  # noqa: BLE001 - ase raises many types
        raise FramesError(f'{path}: could not be read as extxyz ({type(exc).__name__}: {exc})') from exc
    raw = raw if isinstance(raw, list) else [raw]
    frames = [normalize_frame(atoms, where=f'{path}, frame {i}') for i, atoms in enumerate(raw)]
    check_frames(frames, require=require, source=str(path))
    return frames


def _format_value(value) -> str:
    if isinstance(value, (bool, np.bool_)):
        return 'T' if value else 'F'
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return repr(float(value))
    if isinstance(value, str):
        return '"' + value.replace('"', "'") + '"'
    array = np.asarray(value)
    if array.dtype.kind in 'fiub':
        flat = [_format_value(x) for x in array.reshape(-1)]
        return '"' + ' '.join(flat) + '"'
    return '"' + str(value).replace('"', "'") + '"'


def write_frames(path: str | Path, frames: Sequence[Atoms]) -> Path:
    """Write normalized frames to extxyz with canonical label names and full float precision.

    Tensors are flattened row-major (stress, polarizability: 9 numbers; born_charges: 9 columns per atom). The file
    reads back bit-identically with :func:`read_frames` (and is ordinary extxyz for ase, nequip and ovito).
    """
    path = Path(path)
    lines: list[str] = []
    for atoms in frames:
        columns: list[tuple[str, str, np.ndarray]] = [
            ('species', 'S', np.array(atoms.get_chemical_symbols())[:, None]),
            ('pos', 'R', np.asarray(atoms.positions, dtype=float)),
        ]
        for key, value in atoms.arrays.items():
            if key in ('numbers', 'positions'):
                continue
            value = np.asarray(value)
            kind = {'f': 'R', 'i': 'I', 'u': 'I', 'b': 'L'}.get(value.dtype.kind, 'S')
            columns.append((key, kind, value.reshape(len(atoms), -1)))
        props = ':'.join(f'{name}:{kind}:{data.shape[1]}' for name, kind, data in columns)
        header = [
            'Lattice=' + _format_value(np.asarray(atoms.cell[:], dtype=float)),
            f'Properties={props}',
        ]
        for key, value in atoms.info.items():
            if key in ('Lattice', 'Properties', 'pbc'):
                continue
            header.append(f'{key}={_format_value(value)}')
        header.append('pbc=' + _format_value(' '.join('T' if p else 'F' for p in atoms.pbc)))
        lines.append(str(len(atoms)))
        lines.append(' '.join(header))
        for i in range(len(atoms)):
            cells = []
            for _, kind, data in columns:
                for x in data[i]:
                    if kind == 'R':
                        cells.append(repr(float(x)))
                    elif kind == 'L':
                        cells.append('T' if x else 'F')
                    else:
                        cells.append(str(x))
            lines.append(' '.join(cells))
    write_text(path, '\n'.join(lines) + '\n')
    return path


def frames_hash(frames: Sequence[Atoms]) -> str:
    """SHA-256 of the structures and labels of a frame set (stable across extxyz round trips)."""
    digest = hashlib.sha256()
    for atoms in frames:
        for array in (atoms.numbers, atoms.positions, np.asarray(atoms.cell[:]), atoms.pbc):
            digest.update(np.ascontiguousarray(array, dtype=float).tobytes())
        for key in sorted(LABELS):
            if has_label(atoms, key):
                digest.update(key.encode())
                digest.update(np.ascontiguousarray(get_label(atoms, key), dtype=float).tobytes())
    return digest.hexdigest()


def species_of(frames: Sequence[Atoms]) -> list[str]:
    """Sorted chemical symbols present in a frame set."""
    return sorted({s for atoms in frames for s in atoms.get_chemical_symbols()})
