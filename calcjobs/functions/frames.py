"""Calcfunctions on frame sets: gather labelled frames, merge frame sets, sample perturbed structures."""

from __future__ import annotations

import numpy as np
from aiida import orm
from aiida.engine import calcfunction

from aiida_flexo.data import without_labels
from aiida_flexo.nodes.frames import FramesData


@calcfunction
def gather_frames(**frame_sets: FramesData) -> FramesData:
    """One frame set from several (in the order of their keys); each frame records the key and node it came from.

    Every frame keeps its labels; a label missing in some frames becomes a partial label of the result.
    """
    frames = []
    for key in sorted(frame_sets):
        node = frame_sets[key]
        for atoms in node.get_frames():
            atoms.info['origin'] = key
            atoms.info['origin_uuid'] = node.uuid
            frames.append(atoms)
    return FramesData.from_frames(frames, source='gathered: ' + ', '.join(sorted(frame_sets)))


@calcfunction
def structures_to_frames(**structures: orm.StructureData) -> FramesData:
    """An unlabelled frame set from structures (in the order of their keys)."""
    frames = []
    for key in sorted(structures):
        atoms = structures[key].get_ase()
        atoms.info['origin'] = key
        frames.append(atoms)
    return FramesData.from_frames(frames, source='structures')


@calcfunction
def perturbed_frames(structure: orm.StructureData, parameters: orm.Dict) -> FramesData:
    """Random perturbations of an equilibrium structure (seeded): atomic displacements and small strains.

    ``parameters``: ``n_frames``, ``displacement`` (Å, standard deviation of each Cartesian displacement),
    ``strain`` (maximum absolute component of a random symmetric strain), ``seed``, ``label`` (origin tag).
    """
    p = parameters.get_dict()
    rng = np.random.default_rng(int(p.get('seed', 0)))
    base = structure.get_ase()
    frames = []
    for i in range(int(p['n_frames'])):
        atoms = base.copy()
        strain = rng.uniform(-1.0, 1.0, size=(3, 3)) * float(p.get('strain', 0.0))
        strain = 0.5 * (strain + strain.T)
        atoms.set_cell(np.asarray(base.cell[:]) @ (np.eye(3) + strain), scale_atoms=True)
        atoms.positions += rng.normal(scale=float(p.get('displacement', 0.0)), size=atoms.positions.shape)
        atoms.info['origin'] = f'{p.get("label", "perturbation")}:{i}'
        atoms.info['strain_max'] = float(np.abs(strain).max())
        frames.append(atoms)
    return FramesData.from_frames(frames, source=f'perturbations of {structure.get_formula()}')


@calcfunction
def thin_frames(frames: FramesData, stride: orm.Int, skip: orm.Int) -> FramesData:
    """Every ``stride``-th frame after the first ``skip`` (decorrelation of an MD trajectory); labels dropped."""
    kept = frames.get_frames()[int(skip.value) :: int(stride.value)]
    out = []
    for atoms in kept:
        out.append(without_labels(atoms))
    if not out:
        raise ValueError(f'no frame left after skipping {skip.value} and thinning by {stride.value}')
    return FramesData.from_frames(out, source=f'every {stride.value}th frame of {frames.uuid}')


@calcfunction
def trajectory_to_frames(trajectory: orm.TrajectoryData, skip: orm.Int, origin: orm.Str) -> FramesData:
    """Unlabelled frames from a TrajectoryData (positions and cells), dropping the first ``skip`` steps."""
    frames = []
    for step in range(int(skip.value), trajectory.numsteps):
        atoms = trajectory.get_step_structure(step).get_ase()
        atoms.info['origin'] = f'{origin.value}:{step}'
        frames.append(atoms)
    if not frames:
        raise ValueError(
            f'the trajectory has {trajectory.numsteps} steps, none left after skipping {skip.value}'
        )
    return FramesData.from_frames(frames, source=f'{origin.value} ({trajectory.uuid})')


@calcfunction
def reference_frame(structure: orm.StructureData, name: orm.Str) -> FramesData:
    """The centrosymmetric reference of polarization paths as a frame (λ = 0 of every path from it)."""
    atoms = structure.get_ase()
    atoms.info.update({'origin': f'reference {name.value}', 'path': name.value, 'path_reference': name.value})
    atoms.info['path_fraction'] = 0.0
    return FramesData.from_frames([atoms], source=f'reference {name.value} ({structure.get_formula()})')


@calcfunction
def path_frames(reference: orm.StructureData, target: orm.StructureData, parameters: orm.Dict) -> FramesData:
    """Frames along the path from a centrosymmetric reference to a polar phase (λ > 0), plus perturbations.

    ``parameters``: ``n_points`` (points of the path, λ = 0 and 1 included; λ = 0 is left out here, it is the
    reference frame), ``n_perturbations`` (random perturbations at each λ > 0), ``displacement`` (Å, standard
    deviation of their atomic displacements), ``seed``, ``path`` (name of the path) and ``reference`` (name of the
    reference). Every frame records them in ``info`` (:data:`aiida_flexo.polarization.reference.PATH_KEYS`).
    """
    from aiida_flexo.polarization.reference import interpolate_path

    p = parameters.get_dict()
    rng = np.random.default_rng(int(p.get('seed', 0)))
    frames = []
    for atoms in interpolate_path(reference.get_ase(), target.get_ase(), int(p.get('n_points', 6)))[1:]:
        fraction = float(atoms.info['path_fraction'])
        tags = {'path': p['path'], 'path_reference': p['reference'], 'path_fraction': fraction}
        atoms.info.update(tags, origin=f'{p["path"]}:{fraction:.3f}')
        frames.append(atoms)
        for k in range(int(p.get('n_perturbations', 0))):
            perturbed = atoms.copy()
            perturbed.positions += rng.normal(
                scale=float(p.get('displacement', 0.0)), size=atoms.positions.shape
            )
            perturbed.info.update(tags, origin=f'{p["path"]}:{fraction:.3f}:{k}', path_perturbation=True)
            frames.append(perturbed)
    return FramesData.from_frames(frames, source=f'path {p["path"]} from {p["reference"]}')


#: info entries of a sampled frame that its labelled copy keeps (where it came from; labels come from the engine)
#: sampling record copied onto labelled frames: reference paths, perturbations, and why active learning chose a frame
SAMPLE_INFO_KEYS = (
    'path',
    'path_fraction',
    'path_reference',
    'path_perturbation',
    'strain_max',
    'explored_index',
    'force_std_max_meV_A',
    'dipole_std_eA',
    'teacher_source',
    'temperature_K',
    'structure_index',
)


@calcfunction
def attach_sample_info(labelled: FramesData, sampled: FramesData) -> FramesData:
    """The labelled frames with the sampling record of the frame each was computed from.

    A labelled frame's ``origin`` is ``frame_NNNNN`` (its index in ``sampled``); the sampled frame's ``origin`` is
    kept as ``sample_origin`` and its path entries (:data:`SAMPLE_INFO_KEYS`) are copied, so that the labels of a
    path from a centrosymmetric reference can be put on one branch after labelling.
    """
    sources = sampled.get_frames()
    frames = []
    for atoms in labelled.get_frames():
        origin = str(atoms.info.get('origin', ''))
        if origin.startswith('frame_') and origin[6:].isdigit() and int(origin[6:]) < len(sources):
            source = sources[int(origin[6:])]
            atoms.info.update({k: source.info[k] for k in SAMPLE_INFO_KEYS if k in source.info})
            if 'origin' in source.info:
                atoms.info['sample_origin'] = source.info['origin']
        frames.append(atoms)
    return FramesData.from_frames(
        frames, source=f'{labelled.base.attributes.get("source")} (sampling record)'
    )
