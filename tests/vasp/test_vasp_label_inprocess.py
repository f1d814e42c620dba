"""``flexo.vasp.label`` in-process: inputs rejected before any VASP run, and the MD calcfunctions on a vasprun.xml."""

from __future__ import annotations

import numpy as np
import pytest
from vasp_replay_helpers import REPLAY_ROOT, replay_options, structure_from_file

pytestmark = pytest.mark.aiida


def builder_for(code, family, structure, cases, overrides=None):
    from aiida_flexo.workflows.vasp_label import VaspLabelWorkChain

    return VaspLabelWorkChain.get_builder_from_protocol(
        code, structure, 'fast', overrides=overrides, potential_family=family, options=replay_options(*cases)
    )


def vasp_calcs(node):
    from aiida.orm import CalcJobNode

    return [n for n in node.called_descendants if isinstance(n, CalcJobNode)]


def test_bad_structures_and_missing_potentials_fail_before_running(replay_code, fake_potcar_family):
    from aiida import orm
    from aiida.engine import run_get_node
    from ase import Atoms

    def label(code, family, structure, cases, overrides=None):
        return run_get_node(builder_for(code, family, structure, cases, overrides))[1]

    molecule = orm.StructureData(
        ase=Atoms('CO', positions=[[0, 0, 0], [0, 0, 1.13]], cell=[8, 8, 8], pbc=False)
    )
    node = label(replay_code, fake_potcar_family, molecule, [])
    assert node.exit_status == 301 and 'pbc' in node.exit_message
    xenon = orm.StructureData(
        ase=Atoms('XeO', positions=[[0, 0, 0], [1.5, 1.5, 1.5]], cell=[4, 4, 4], pbc=True)
    )
    node = label(replay_code, fake_potcar_family, xenon, [])
    assert (
        node.exit_status == 302 and "['Xe']" in node.exit_message and fake_potcar_family in node.exit_message
    )
    from aiida_flexo.engines.inputs import InputsError
    from aiida_flexo.workflows.vasp_label import VaspLabelWorkChain

    with pytest.raises(InputsError, match='ultra'):
        VaspLabelWorkChain.get_builder_from_protocol(
            replay_code, xenon, 'ultra', potential_family=fake_potcar_family
        )
    builder = VaspLabelWorkChain.get_builder_from_protocol(
        replay_code, xenon, potential_family=fake_potcar_family
    )
    builder.engine_inputs = orm.Dict({'protocol': 'ultra'})
    node = run_get_node(builder)[1]
    assert node.exit_status == 300 and 'ultra' in node.exit_message
    assert not vasp_calcs(node)


def test_md_trajectory_of_a_vasp6_nose_hoover_run(aiida_profile):
    """Si64, MDALGO = 2 (VASP 6.3.2): the recorded run kept only vasprun.xml, and aiida-vasp 5.1 reads the run
    status from the OUTCAR alone, so this record is tested at the calcfunction level (the retrieved folder)."""
    import gzip

    from aiida import orm

    from aiida_flexo.calcjobs.functions.vasp_outputs import vasp_labelled_frames, vasp_md_trajectory

    xml = gzip.decompress(
        (REPLAY_ROOT / 'recorded' / 'aimd' / 'Si64_vasp6.3.2' / 'vasprun.xml.gz').read_bytes()
    )
    retrieved = orm.FolderData()
    retrieved.base.repository.put_object_from_bytes(xml, 'vasprun.xml')
    permutation = orm.ArrayData()
    permutation.set_array('permutation', np.arange(64))
    result = vasp_md_trajectory(permutation, orm.Float(3.0), segment_0=retrieved)
    traj = result['trajectory']
    assert traj.numsteps == 10 and traj.get_positions().shape == (10, 64, 3)
    assert np.allclose(traj.get_array('energy')[:3], [-338.31623, -337.60381, -335.62031], atol=1e-5)
    assert traj.get_array('temperature')[0] == pytest.approx(2000.0, abs=1.0)
    assert np.allclose(traj.get_array('times'), 3.0 * np.arange(10))
    structure = structure_from_file(REPLAY_ROOT / 'recorded' / 'aimd' / 'Si64_vasp6.3.2' / 'POSCAR')
    frames = vasp_labelled_frames(structure, trajectory=traj, interval=orm.Int(2))['frames']
    assert frames.n_frames == 5 and {'energy', 'forces', 'stress'} <= set(frames.labels)  # every 2nd step
    assert result['md'].get_dict()['n_steps'] == 10
