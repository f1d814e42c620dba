"""Labelled frames: canonical labels, extxyz round trips and clear errors."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from ase.calculators.singlepoint import SinglePointCalculator

from aiida_flexo.data import (
    FramesError,
    check_frames,
    frames_hash,
    make_split,
    read_frames,
    write_frames,
)
from aiida_flexo.resources import bundled_path

BATIO3 = bundled_path('BaTiO3_qe_berry_bec.xyz')


@pytest.fixture(scope='module')
def batio3_frames():
    return read_frames(BATIO3, require=('dipole', 'born_charges', 'forces', 'energy', 'stress'))


def test_bundled_batio3_labels(batio3_frames):
    assert len(batio3_frames) == 59
    frame = batio3_frames[0]
    assert len(frame) == 135 and frame.get_chemical_formula() == 'Ba27O81Ti27'
    # 'polarization' of the allegro-pol file is the cell dipole (e·Å); it lands in info['dipole']
    assert frame.info['dipole'] == pytest.approx(
        [-0.5800513756117027, -0.2845173032951891, -1.7292171587538014]
    )
    assert frame.info['energy'] == pytest.approx(-100941.53172529273)
    assert frame.info['charge_quantum'] == 1.0
    assert frame.info['stress'].shape == (3, 3) and np.allclose(frame.info['stress'], frame.info['stress'].T)
    assert frame.arrays['born_charges'].shape == (135, 3, 3)
    # first Ba: Z*_xx = 2.66974552, row-major 3×3 from 9 numbers
    assert frame.arrays['born_charges'][0, 0, 0] == pytest.approx(2.66974552)
    assert frame.arrays['born_charges'][0, 1, 1] == pytest.approx(2.66830194)
    assert frame.arrays['forces'][0] == pytest.approx([-0.04813763, -0.01811785, -0.10923565])
    # the acoustic sum rule holds in the DFT data
    assert np.abs(frame.arrays['born_charges'].sum(axis=0)).max() < 1e-6


def test_extxyz_round_trip_is_exact(tmp_path, batio3_frames):
    path = write_frames(tmp_path / 'copy.xyz', batio3_frames)
    again = read_frames(path)
    assert frames_hash(again) == frames_hash(batio3_frames)
    for a, b in zip(batio3_frames, again):
        assert np.array_equal(a.positions, b.positions)
        assert np.array_equal(a.arrays['born_charges'], b.arrays['born_charges'])
        assert np.array_equal(a.info['stress'], b.info['stress'])
        assert a.info['original_dataset_index'] == b.info['original_dataset_index']


def test_labels_from_a_singlepoint_calculator_and_voigt_stress():
    atoms = bulk('Si', 'diamond', a=5.43)
    calc = SinglePointCalculator(
        atoms, energy=-10.0, forces=np.zeros((2, 3)), stress=np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    )
    atoms.calc = calc
    atoms.info['dipole'] = [0.0, 0.0, 0.1]
    check_frames([atoms])  # periodic
    from aiida_flexo.data import normalize_frame

    frame = normalize_frame(atoms)
    assert frame.info['energy'] == -10.0
    # Voigt order xx yy zz yz xz xy
    assert (
        frame.info['stress'][1, 2] == 4.0
        and frame.info['stress'][0, 2] == 5.0
        and frame.info['stress'][0, 1] == 6.0
    )


def test_missing_label_names_file_and_frame(tmp_path, batio3_frames):
    frames = [f.copy() for f in batio3_frames[:3]]
    for f, g in zip(frames, batio3_frames[:3]):
        f.info.update(g.info)
    del frames[2].info['dipole']
    path = write_frames(tmp_path / 'partial.xyz', frames)
    with pytest.raises(FramesError, match=r'partial.xyz, frame 2: missing label "dipole"'):
        read_frames(path, require=('dipole',))


def test_non_periodic_structure_is_rejected(tmp_path):
    molecule = Atoms('H2O', positions=[[0, 0, 0], [0.96, 0, 0], [-0.24, 0.93, 0]])
    with pytest.raises(FramesError, match='not periodic in 3D'):
        check_frames([molecule], source='water.xyz')


def test_unknown_species_and_unknown_label(batio3_frames):
    with pytest.raises(FramesError, match=r"species \['Ba'\] unknown"):
        check_frames(batio3_frames[:1], species=['O', 'Ti'])
    with pytest.raises(FramesError, match='unknown label'):
        check_frames(batio3_frames[:1], require=('magnetization',))


def test_unreadable_file(tmp_path):
    path = tmp_path / 'broken.xyz'
    path.write_text('3\nnot a header\nH 0 0\n')
    with pytest.raises(FramesError, match='broken.xyz'):
        read_frames(path)
    with pytest.raises(FramesError, match='no such file'):
        read_frames(tmp_path / 'missing.xyz')


def test_split_is_reproducible_and_disjoint(tmp_path):
    split = make_split(59, seed=3)
    assert (len(split.train), len(split.val), len(split.test)) == (47, 6, 6)
    assert not set(split.train) & set(split.test) and not set(split.val) & set(split.test)
    assert sorted(split.train + split.val + split.test) == list(range(59))
    assert make_split(59, seed=3) == split and make_split(59, seed=4) != split
    from aiida_flexo.data import Split

    assert Split.from_json(split.to_json(tmp_path / 'split.json')) == split
    with pytest.raises(ValueError, match='sum'):
        make_split(10, fractions=(0.5, 0.5, 0.5))
    with pytest.raises(ValueError, match='too few'):
        make_split(2, fractions=(0.0, 0.5, 0.5))
