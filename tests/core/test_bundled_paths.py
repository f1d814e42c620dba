"""The bundled GPAW path frames of BaTiO3: a centrosymmetric reference per cell, paths to tetragonal phases polarized
along z and along x, and the spontaneous polarization they give (symmetry and supercell checks on real DFT)."""

from __future__ import annotations

import numpy as np
import pytest

from aiida_flexo.data import read_frames
from aiida_flexo.polarization.reference import align_to_references
from aiida_flexo.resources import BTO_GPAW_PATH_FILE, bundled_path


@pytest.fixture(scope='module')
def aligned():
    frames = read_frames(bundled_path(BTO_GPAW_PATH_FILE), require=('dipole', 'energy', 'forces'))
    return frames, *align_to_references(frames)


def test_every_path_frame_is_aligned_to_its_reference(aligned):
    frames, out, summary = aligned
    assert sorted(summary) == ['cubic_1', 'cubic_2']
    assert all(a.info.get('dipole_branch') == 'reference' for a in out), 'every bundled frame lies on a path'
    for report in summary.values():
        for path, record in report['paths'].items():
            # neighbouring points closer than half a quantum: the branch is unambiguous (5-atom paths: 0.035; the
            # 40-atom paths have 2 steps of 0.33, and end at 0.67 of a quantum, where folding would flip P)
            assert record['max_jump_fraction_of_quantum'] < 0.4, path


def test_spontaneous_polarization_obeys_symmetry_and_the_supercell(aligned):
    _, _, summary = aligned
    ps = {
        path: np.asarray(record['spontaneous_polarization_C_m2'])
        for report in summary.values()
        for path, record in report['paths'].items()
        if '->' in path
    }
    p_z, p_x = ps['cubic_1->tet_z_1'], ps['cubic_1->tet_x_1']
    # tetragonal BaTiO3 polarized along +z: a positive P_z of a few tenths of C/m² (PBE: ~0.3–0.45) and nothing else
    assert 0.2 < p_z[2] < 0.6 and np.abs(p_z[:2]).max() < 1e-3
    # the same phase turned to +x has the turned polarization
    np.testing.assert_allclose(p_x, p_z[[2, 0, 1]], atol=2e-3)
    # the 2×2×2 supercell of the same phase (equivalent k-point sampling) has the same polarization
    np.testing.assert_allclose(ps['cubic_2->tet_z_2'], p_z, atol=0.01)
    np.testing.assert_allclose(ps['cubic_2->tet_x_2'], p_x, atol=0.01)
