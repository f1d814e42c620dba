"""flexo.label with the open engine GPAW through the daemon: real DFT on tiny cells, a failed frame reported."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import bulk
from tests_helpers import GPAW_REASON, gpaw_available

pytestmark = [
    pytest.mark.aiida,
    pytest.mark.daemon,
    pytest.mark.slow,
    pytest.mark.skipif(not gpaw_available(), reason=GPAW_REASON),
]


ENGINE_INPUTS = {
    'protocol': 'fast',
    'cutoff': 250.0,
    'kpoints': [
        3,
        3,
        3,
    ],  # odd: Γ-centred, keeps the symmetry of diamond (even MP meshes do not in the fcc cell)
    'berry_phase': True,
    'born_charges': {'enabled': False, 'atoms': [0], 'directions': 'z', 'scheme': 'central'},
}


def test_label_sic_and_report_a_failed_frame(flexo_code, submit_and_await):

    from aiida_flexo.nodes.frames import FramesData
    from aiida_flexo.polarization import minimum_image
    from aiida_flexo.workflows.label import LabelWorkChain

    silicon = bulk('SiC', 'zincblende', a=4.36)  # Si at the origin, C at (1/4, 1/4, 1/4)
    displaced = silicon.copy()
    displaced.positions[0, 2] += 0.05
    polonium = bulk('Po', 'sc', a=3.35)  # gpaw-data has no PAW setup for Po: this frame must fail, clearly
    frames = FramesData.from_frames([silicon, displaced, polonium], source='test').store()
    builder = LabelWorkChain.get_builder_from_protocol(
        flexo_code,
        frames,
        engine='gpaw',
        protocol='fast',
        overrides={'engine_inputs': ENGINE_INPUTS},
        born_charges_frames=[1],
        options={
            'resources': {'num_machines': 1, 'num_mpiprocs_per_machine': 1},
            'max_wallclock_seconds': 900,
        },
    )
    node = submit_and_await(builder, timeout=900)
    assert node.is_finished_ok, (node.exit_status, node.exit_message)
    labelled = node.outputs.labelled.get_frames()
    assert len(labelled) == 2
    assert [f.info['origin'] for f in labelled] == ['frame_00000', 'frame_00001']
    for frame in labelled:
        assert np.isfinite(frame.info['energy']) and frame.arrays['forces'].shape == (2, 3)
        assert frame.info['stress'].shape == (3, 3)
        assert frame.info['charge_quantum'] == 2.0  # spin-paired, even valence charges
    ideal, moved = labelled
    # forces sum to zero; moving an atom +z brings a restoring force (relative to the ideal cell, whose residual
    # forces of ~0.02 eV/Å come from the coarse real-space grid at this low cutoff) and a dipole change along z
    for frame in labelled:
        assert np.abs(frame.arrays['forces'].sum(axis=0)).max() < 1e-3
    assert moved.arrays['forces'][0, 2] - ideal.arrays['forces'][0, 2] < -0.1
    residual = minimum_image(moved.info['dipole'] - ideal.info['dipole'], moved.cell[:], 2.0)
    # Z*(Si in SiC) ≈ 2.7 e: Δd_z ≈ 2.7 e × 0.05 Å, and no transverse change (cubic symmetry)
    assert 0.08 < residual[2] < 0.18 and np.allclose(residual[:2], 0.0, atol=2e-3)
    # Born charges asked on frame 1 only (one atom, z): partial, so in the results, not in the frame
    calcs = [n for n in node.called_descendants if n.process_label == 'GpawCalculation']
    with_born = [c for c in calcs if c.inputs.parameters['born_charges']['enabled']]
    assert len(with_born) == 1 and with_born[0].inputs.structure.get_ase().positions[0, 2] == pytest.approx(
        displaced.positions[0, 2]
    )
    z = np.array(with_born[0].outputs.results['born_charges'][0], dtype=float)
    assert 2.0 < z[2, 2] < 3.3  # Z*(Si in SiC) = 2.55 (VASP DFPT, tests/fixtures); low cutoff and k-mesh here
    failed = node.outputs.failed.get_list()
    assert [f['index'] for f in failed] == [2]
    assert failed[0]['exit_status'] == 312 and 'Po' in failed[0]['message']


def test_label_cli_submits_and_exports(flexo_code, started_daemon_client, tmp_path):
    import json
    import time

    from aiida import orm
    from ase.io import write
    from click.testing import CliRunner

    from aiida_flexo.cli import main
    from aiida_flexo.data import read_frames

    path = tmp_path / 'sic.xyz'
    write(path, [bulk('SiC', 'zincblende', a=4.36)], format='extxyz')
    runner = CliRunner()
    bad = runner.invoke(main, ['label', str(path), '--engine', 'vasp'])
    assert bad.exit_code != 0 and 'needs --code' in bad.output
    bad = runner.invoke(main, ['label', str(path), '--born-charges-frames', '3'])
    assert bad.exit_code != 0 and 'out of range' in bad.output
    result = runner.invoke(main, ['label', str(path), '--protocol', 'fast', '--json'])
    assert result.exit_code == 0, result.output
    node = orm.load_node(json.loads(result.output)['pk'])
    deadline = time.monotonic() + 600
    while not node.is_terminated and time.monotonic() < deadline:
        time.sleep(1)
    assert node.is_finished_ok, (node.exit_status, node.exit_message)
    out = tmp_path / 'labelled.xyz'
    exported = runner.invoke(main, ['frames', 'export', str(node.outputs.labelled.pk), str(out)])
    assert exported.exit_code == 0, exported.output
    (frame,) = read_frames(out, require=('energy', 'forces', 'stress', 'dipole'))
    assert frame.get_chemical_formula() == 'CSi'
