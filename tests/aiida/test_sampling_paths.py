"""flexo.sampling with centrosymmetric references: the paths to each phase, their record through labelling, and a
reference that no phase matches refused before any work."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms

pytestmark = [pytest.mark.aiida]


def _perovskite(shift: float = 0.0, axis: int = 2) -> Atoms:
    atoms = Atoms(
        'BaTiO3',
        scaled_positions=[[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]],
        cell=[4.0, 4.0, 4.0],
        pbc=True,
    )
    atoms.positions[1, axis] += shift
    return atoms


def _builder(flexo_code, structures, references, path):
    from aiida import orm

    from aiida_flexo.workflows.sampling import SamplingWorkChain

    builder = SamplingWorkChain.get_builder_from_protocol(
        flexo_code,
        {k: orm.StructureData(ase=v) for k, v in structures.items()},
        sampler='gpaw',  # no temperatures: no MD, the engine is not run
        protocol='fast',
        overrides={'temperatures': [], 'perturbations': {'n_frames': 0}, 'path': path},
    )
    builder.references = {k: orm.StructureData(ase=v) for k, v in references.items()}
    return builder


def test_paths_from_a_reference_to_each_phase(flexo_code):
    from aiida.engine import run_get_node

    from aiida_flexo.calcjobs.functions.frames import attach_sample_info, gather_frames
    from aiida_flexo.nodes.frames import FramesData

    structures = {'cubic': _perovskite(), 'tet_z': _perovskite(0.1, 2), 'tet_x': _perovskite(0.1, 0)}
    path = {'n_points': 3, 'n_perturbations': 1, 'displacement': 0.02, 'seed': 0}
    _, node = run_get_node(_builder(flexo_code, structures, {'cubic': _perovskite()}, path))
    assert node.is_finished_ok, (node.exit_status, node.exit_message)
    frames = node.outputs.frames.get_frames()
    # the reference once, then per path (no path from the reference to itself) λ = ½ and 1, each with a perturbation
    assert len(frames) == 1 + 2 * 2 * 2
    reference = [a for a in frames if a.info['path_fraction'] == 0.0]
    assert len(reference) == 1 and reference[0].info['path_reference'] == 'cubic'
    ends = {
        a.info['path']: a
        for a in frames
        if a.info['path_fraction'] == 1.0 and not a.info.get('path_perturbation')
    }
    assert sorted(ends) == ['cubic->tet_x', 'cubic->tet_z']
    np.testing.assert_allclose(ends['cubic->tet_z'].positions, structures['tet_z'].positions, atol=1e-9)
    assert sum(bool(a.info.get('path_perturbation')) for a in frames) == 4

    # labelling keeps the sampling record (frame_NNNNN is the index in the sampled set)
    labelled = []
    for index in (0, 3):
        atoms = frames[index].copy()
        atoms.info = {'dipole': np.zeros(3), 'energy': -1.0}
        labelled.append(FramesData.from_frames([atoms], source='engine'))
    gathered = gather_frames(frame_00000=labelled[0], frame_00003=labelled[1])
    kept = attach_sample_info(gathered, node.outputs.frames).get_frames()
    for atoms, index in zip(kept, (0, 3)):
        for key in ('path', 'path_fraction', 'path_reference'):
            assert atoms.info[key] == frames[index].info[key]
        assert atoms.info['origin'] == f'frame_{index:05d}'


def test_a_reference_without_its_phase_is_refused(flexo_code):
    from aiida.engine import run_get_node

    other = _perovskite().repeat((1, 1, 2))
    _, node = run_get_node(
        _builder(flexo_code, {'tet_z': _perovskite(0.1)}, {'double': other}, {'n_points': 3})
    )
    assert node.exit_status == 402
    assert 'same atoms in the same order' in node.exit_message and 'double' in node.exit_message


def test_a_non_polar_crystal_is_its_own_reference(flexo_code):
    """Diamond Si: the reference is the phase itself, so its frame is sampled and no path (nothing to join)."""
    from aiida.engine import run_get_node

    from aiida_flexo.flexo.structures import builtin

    silicon = builtin('Si-conventional')
    _, node = run_get_node(_builder(flexo_code, {'Si': silicon}, {'Si_ideal': silicon}, {'n_points': 3}))
    assert node.is_finished_ok, (node.exit_status, node.exit_message)
    frames = node.outputs.frames.get_frames()
    assert len(frames) == 1
    assert frames[0].info['path_reference'] == 'Si_ideal' and frames[0].info['path_fraction'] == 0.0
    np.testing.assert_allclose(frames[0].positions, silicon.positions, atol=1e-12)
