"""The centrosymmetric reference of Berry-phase dipole labels: paths from it, its half-quantum offset, and labels
put on the branch that is continuous from it.

A Berry-phase dipole is known modulo its lattice of quanta ``q e R`` (:mod:`aiida_flexo.polarization.quanta`). A
centrosymmetric structure maps onto itself under inversion, so its dipole ``D`` obeys ``D ≡ −D``: along every lattice
vector it sits at 0 or ½ of a quantum. That half-quantum vector ``f`` (fractions of ``q e R_i``, each 0 or ½) is the
*reference offset* of the labels of that cell: a model whose cell dipole is a sum of local (atom- and bond-centred)
terms gives exactly zero for the centrosymmetric structure, so it must be compared with ``label − f·q·R``. ``f`` is a
property of the reference structure and of the cell (a 2×2×2 supercell has 8× the dipole of its unit cell), never a
free parameter.

Frames on a path from the reference to a polar phase (``info['path']``, ``info['path_fraction']`` λ ∈ [0, 1],
``info['path_reference']`` the reference's name; λ = 0 is the reference itself) are put on the branch continuous from
the reference: the same rule as ``aiida-flexo polarization`` (:func:`aiida_flexo.polarization.align_branch`). The
labels then become single-valued, so a model can be fitted to them without folding, and the last frame of each path
gives the spontaneous polarization of its phase (same branch as the reference, the physical value).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import numpy as np
from ase import Atoms

from aiida_flexo import units
from aiida_flexo.polarization.quanta import lattice_shift

#: info keys of a path frame
PATH_KEYS = ('path', 'path_fraction', 'path_reference', 'path_perturbation')
#: how far (fraction of a quantum, per lattice vector) a reference dipole may sit from 0 or ½
REFERENCE_TOLERANCE = 0.05
#: info['dipole_branch'] of labels aligned by :func:`align_to_references`
REFERENCE_BRANCH = 'reference'
#: a frame off the paths takes the branch of the nearest path frame within this RMS displacement, Å
NEAREST_PATH_FRAME_RMS = 0.35


def interpolate_path(reference: Atoms, target: Atoms, n_points: int) -> list[Atoms]:
    """Structures along the straight path from ``reference`` (λ = 0) to ``target`` (λ = 1), both included.

    Positions are interpolated in fractional coordinates (each atom along its minimum-image displacement), the
    lattice vectors linearly: the path of a Berry-phase branch calculation. ``info['path_fraction']`` holds λ.

    Raises:
        ValueError: the two structures differ in their atoms (count, species or order) or ``n_points < 2``.
    """
    if n_points < 2:
        raise ValueError(f'a path needs at least 2 points (reference and target), got {n_points}')
    if reference.get_chemical_symbols() != target.get_chemical_symbols():
        raise ValueError(
            f'the reference {reference.get_chemical_formula()} and the phase {target.get_chemical_formula()} '
            'must have the same atoms in the same order to be joined by a path; build the phase from the '
            'reference (same supercell, same atom order)'
        )
    start = reference.get_scaled_positions(wrap=False)
    step = target.get_scaled_positions(wrap=False) - start
    step -= np.rint(step)
    cell0, cell1 = np.asarray(reference.cell[:]), np.asarray(target.cell[:])
    frames = []
    for fraction in np.linspace(0.0, 1.0, n_points):
        atoms = reference.copy()
        atoms.calc = None
        atoms.set_cell(cell0 + fraction * (cell1 - cell0), scale_atoms=False)
        atoms.set_scaled_positions(start + fraction * step)
        atoms.info['path_fraction'] = float(fraction)
        frames.append(atoms)
    return frames


def centrosymmetric_offset(
    dipole: np.ndarray, cell: np.ndarray, charge_quantum: float, tolerance: float = REFERENCE_TOLERANCE
) -> np.ndarray:
    """The half-quantum offset ``f`` (3,), each 0 or ½, of the dipole (e·Å) of a centrosymmetric structure.

    Raises:
        ValueError: the dipole is more than ``tolerance`` of a quantum from every half-quantum vector: the
            structure is not centrosymmetric, or its label is not converged.
    """
    fractions = (
        np.linalg.solve(np.asarray(cell, dtype=float).T, np.asarray(dipole, dtype=float)) / charge_quantum
    )
    doubled = 2.0 * fractions
    distance = np.abs(doubled - np.rint(doubled)) / 2.0
    if distance.max() > tolerance:
        raise ValueError(
            f'the reference dipole sits at {np.round(np.mod(fractions, 1.0), 3).tolist()} of a quantum along the '
            f'lattice vectors, {distance.max():.3f} away from 0 or ½: the reference frame is not centrosymmetric '
            '(or its Berry phase is not converged); give the undistorted centrosymmetric structure as reference'
        )
    return np.mod(np.rint(doubled), 2.0) / 2.0


def offset_dipole(offset: np.ndarray, cell: np.ndarray, charge_quantum: float) -> np.ndarray:
    """The dipole ``f · q e R`` (3,), e·Å, of a half-quantum offset ``f`` in a cell (rows, Å)."""
    return charge_quantum * np.asarray(offset, dtype=float) @ np.asarray(cell, dtype=float)


def _quantum(atoms: Atoms) -> float:
    return float(atoms.info.get('charge_quantum', 1.0))


def _dipole(atoms: Atoms) -> np.ndarray:
    return np.asarray(atoms.info['dipole'], dtype=float)


def is_path_frame(atoms: Atoms) -> bool:
    """Whether a frame lies on a path from a reference (``path_reference`` and ``path_fraction`` in its info)."""
    return 'path_reference' in atoms.info and 'path_fraction' in atoms.info


def has_reference_frame(frames: Sequence[Atoms]) -> bool:
    """Whether the frames include a labelled reference (a path frame at λ = 0, not perturbed)."""
    return any(
        is_path_frame(a) and float(a.info['path_fraction']) == 0.0 and not a.info.get('path_perturbation')
        for a in frames
    )


def align_to_references(frames: Sequence[Atoms]) -> tuple[list[Atoms], dict]:
    """Copies of labelled frames with every path frame's ``dipole`` on the branch continuous from its reference.

    For each reference (λ = 0, unperturbed) the offset ``f`` is :func:`centrosymmetric_offset` of its label and its
    label is put at ``f·q·R`` exactly-on-branch; along each path the unperturbed frames (in order of λ) are moved by
    the lattice vector of quanta that brings them closest to the previous one, and a perturbed frame
    (``path_perturbation``) to the branch of the unperturbed frame of its path nearest in λ. A frame off the paths with
    the reference's atoms (MD or perturbations of a phase) takes the branch of the nearest aligned path frame (RMS
    minimum-image displacement) when that is within :data:`NEAREST_PATH_FRAME_RMS`. Aligned frames get
    ``info['dipole_branch'] = 'reference'`` and ``info['reference_offset'] = f``; other frames are returned
    unchanged (their labels stay multivalued).

    Returns:
        The frames (same order) and a summary per reference: its offset and, per path, λ, the aligned dipoles
        (e·Å, relative to the reference: ``label − f·q·R``), the largest jump between neighbouring points (fraction
        of a quantum) and the index (``end_frame``) and spontaneous polarization (C/m²) of the end point.
    """
    out = []
    for atoms in frames:
        copy = atoms.copy()
        copy.calc = atoms.calc
        out.append(copy)
    by_reference: dict[str, list[int]] = defaultdict(list)
    for index, atoms in enumerate(out):
        if is_path_frame(atoms) and 'dipole' in atoms.info:
            by_reference[str(atoms.info['path_reference'])].append(index)
    summary: dict = {}
    for name, indices in sorted(by_reference.items()):
        anchors = [
            i
            for i in indices
            if float(out[i].info['path_fraction']) == 0.0 and not out[i].info.get('path_perturbation')
        ]
        if not anchors:
            continue
        anchor = out[anchors[0]]
        cell, quantum = np.asarray(anchor.cell[:]), _quantum(anchor)
        try:
            offset = centrosymmetric_offset(_dipole(anchor), cell, quantum)
        except ValueError as exc:
            raise ValueError(f'reference {name!r} (frame {anchors[0]}): {exc}') from exc
        target = offset_dipole(offset, cell, quantum)
        anchor_dipole = _dipole(anchor) - lattice_shift(_dipole(anchor) - target, cell, quantum)
        paths: dict[str, list[int]] = defaultdict(list)
        for i in indices:
            paths[str(out[i].info.get('path', name))].append(i)
        report = {'offset_fraction': offset.tolist(), 'frame': anchors[0], 'paths': {}}
        for path, members in sorted(paths.items()):
            plain = sorted(
                (i for i in members if not out[i].info.get('path_perturbation')),
                key=lambda i: float(out[i].info['path_fraction']),
            )
            previous, aligned = anchor_dipole, {}
            for i in plain:
                atoms = out[i]
                d = _dipole(atoms)
                previous = d - lattice_shift(d - previous, np.asarray(atoms.cell[:]), _quantum(atoms))
                aligned[i] = previous
            for i in members:
                if i in aligned:
                    continue
                atoms = out[i]
                fraction = float(atoms.info['path_fraction'])
                nearest = min(
                    plain, key=lambda j: abs(float(out[j].info['path_fraction']) - fraction), default=None
                )
                base = aligned[nearest] if nearest is not None else anchor_dipole
                d = _dipole(atoms)
                aligned[i] = d - lattice_shift(d - base, np.asarray(atoms.cell[:]), _quantum(atoms))
            for i, dipole in aligned.items():
                out[i].info['dipole'] = dipole
                out[i].info['dipole_branch'] = REFERENCE_BRANCH
                out[i].info['reference_offset'] = offset.tolist()
            report['paths'][path] = _path_report(out, plain, offset)
        on_paths = [i for i in indices if 'reference_offset' in out[i].info]
        report['nearby_frames'] = _align_nearby(out, anchor, on_paths)
        summary[name] = report
    return out, summary


def _rms_displacement(a: Atoms, b: Atoms) -> float:
    """RMS minimum-image displacement (Å) between two structures with the same atoms (fractional, in a's cell)."""
    step = a.get_scaled_positions(wrap=False) - b.get_scaled_positions(wrap=False)
    step -= np.rint(step)
    return float(np.sqrt(np.mean(np.sum((step @ np.asarray(a.cell[:])) ** 2, axis=1))))


def _align_nearby(frames: list[Atoms], anchor: Atoms, aligned: Sequence[int]) -> int:
    """Put off-path frames with the reference's atoms on the branch of the nearest aligned path frame."""
    symbols = anchor.get_chemical_symbols()
    moved = 0
    for atoms in frames:
        if is_path_frame(atoms) or 'dipole' not in atoms.info or atoms.get_chemical_symbols() != symbols:
            continue
        if atoms.info.get('dipole_branch') == REFERENCE_BRANCH:
            continue
        distances = [_rms_displacement(atoms, frames[i]) for i in aligned]
        if not distances or min(distances) > NEAREST_PATH_FRAME_RMS:
            continue
        nearest = frames[aligned[int(np.argmin(distances))]]
        d = _dipole(atoms)
        atoms.info['dipole'] = d - lattice_shift(
            d - _dipole(nearest), np.asarray(atoms.cell[:]), _quantum(atoms)
        )
        atoms.info['dipole_branch'] = REFERENCE_BRANCH
        atoms.info['reference_offset'] = list(nearest.info['reference_offset'])
        moved += 1
    return moved


def _path_report(frames: Sequence[Atoms], plain: Sequence[int], offset: np.ndarray) -> dict:
    """λ, dipoles relative to the reference (e·Å), the largest jump and the end point's polarization (C/m²)."""
    relative, jumps = [], []
    for k, i in enumerate(plain):
        atoms = frames[i]
        cell, quantum = np.asarray(atoms.cell[:]), _quantum(atoms)
        relative.append(_dipole(atoms) - offset_dipole(offset, cell, quantum))
        if k:
            smallest = quantum * np.linalg.norm(cell, axis=1).min()
            jumps.append(float(np.linalg.norm(relative[-1] - relative[-2]) / smallest))
    report = {
        'path_fraction': [float(frames[i].info['path_fraction']) for i in plain],
        'dipole_eA': [d.tolist() for d in relative],
        'max_jump_fraction_of_quantum': max(jumps, default=0.0),
    }
    if plain:
        report['end_frame'] = int(plain[-1])
        report['spontaneous_polarization_C_m2'] = units.dipole_to_polarization(
            relative[-1], frames[plain[-1]].get_volume()
        ).tolist()
    return report
