"""The flexo.frames node: exact round trips and the `aiida-flexo frames` CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from aiida_flexo.cli import main
from aiida_flexo.data import frames_hash, read_frames, write_frames
from aiida_flexo.resources import bundled_path

pytestmark = [pytest.mark.aiida, pytest.mark.backend]

BATIO3 = bundled_path('BaTiO3_qe_berry_bec.xyz')


@pytest.fixture(scope='module')
def batio3_frames():
    return read_frames(BATIO3)


def test_round_trip_extxyz_node_extxyz(batio3_frames, tmp_path):
    from aiida.orm import load_node

    from aiida_flexo.nodes.frames import FramesData

    node = FramesData.from_frames(batio3_frames, source=BATIO3.name).store()
    loaded = load_node(node.pk)
    assert isinstance(loaded, FramesData)
    assert loaded.n_frames == 59
    assert set(loaded.labels) >= {'energy', 'forces', 'stress', 'dipole', 'born_charges', 'charge_quantum'}
    assert loaded.base.attributes.get('species') == ['Ba', 'O', 'Ti']
    again = loaded.get_frames()
    assert len(again) == 59
    for a, b in zip(batio3_frames, again):
        assert np.array_equal(a.numbers, b.numbers)
        assert np.array_equal(a.positions, b.positions)
        assert np.array_equal(a.cell[:], b.cell[:])
        assert np.array_equal(a.arrays['forces'], b.arrays['forces'])
        assert np.array_equal(a.arrays['born_charges'], b.arrays['born_charges'])
        for key in ('energy', 'stress', 'dipole', 'charge_quantum', 'polarizability'):
            assert np.array_equal(a.info[key], b.info[key]), key
        assert a.info['original_dataset_index'] == b.info['original_dataset_index']
    assert loaded.frames_hash == frames_hash(batio3_frames)
    exported = read_frames(loaded.write_extxyz(tmp_path / 'out.xyz'))
    assert frames_hash(exported) == frames_hash(batio3_frames)


def test_partial_labels_are_kept_per_frame(batio3_frames):
    from aiida_flexo.nodes.frames import FramesData

    frames = [f.copy() for f in batio3_frames[:3]]
    for f, g in zip(frames, batio3_frames[:3]):
        f.info.update(g.info)
    del frames[1].arrays['born_charges']
    node = FramesData.from_frames(frames).store()
    assert 'born_charges' in node.base.attributes.get('partial_labels')
    assert 'born_charges' not in node.labels
    back = node.get_frames()
    assert 'born_charges' in back[0].arrays and 'born_charges' not in back[1].arrays
    assert np.array_equal(back[2].arrays['born_charges'], batio3_frames[2].arrays['born_charges'])


def test_cli_import_and_export(tmp_path, batio3_frames):
    small = write_frames(tmp_path / 'small.xyz', batio3_frames[:4])
    runner = CliRunner()
    result = runner.invoke(main, ['frames', 'import', str(small), '--require', 'dipole', '--json'])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data['n_frames'] == 4 and data['frames_hash'] == frames_hash(batio3_frames[:4])
    out = tmp_path / 'exported.xyz'
    result = runner.invoke(main, ['frames', 'export', str(data['pk']), str(out)])
    assert result.exit_code == 0, result.output
    assert frames_hash(read_frames(out)) == data['frames_hash']
    # --max-force leaves out the frames with a larger force component, and says which
    largest = [float(np.abs(f.arrays['forces']).max()) for f in batio3_frames[:4]]
    limit = float(np.median(largest))
    args = ['frames', 'export', str(data['pk']), str(out), '--max-force', str(limit), '--overwrite']
    result = runner.invoke(main, args)
    assert result.exit_code == 0, result.output
    dropped = [i for i, f in enumerate(largest) if f > limit]
    assert dropped and f'left out (force above {limit} eV/Å): {dropped}' in result.output
    kept = read_frames(out)
    assert len(kept) == 4 - len(dropped)
    assert frames_hash(kept) == frames_hash([batio3_frames[i] for i in range(4) if i not in dropped])


def test_cli_import_missing_label(tmp_path, batio3_frames):
    frames = [f.copy() for f in batio3_frames[:2]]
    for frame in frames:
        del frame.info['dipole']
    path = write_frames(tmp_path / 'nolabels.xyz', frames)
    result = CliRunner().invoke(main, ['frames', 'import', str(path), '--require', 'dipole'])
    assert result.exit_code != 0
    assert 'nolabels.xyz, frame 0: missing label "dipole"' in result.output
