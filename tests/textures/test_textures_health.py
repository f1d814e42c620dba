"""Sanity checks of annealed superlattices and of polarization fields (aiida_flexo.textures.health)."""

from __future__ import annotations

import numpy as np
import pytest

from aiida_flexo.textures.health import (
    IMPLAUSIBLE_P_C_PER_M2,
    OFF_SITE_A,
    displacement_summary,
    implausible_cells,
    off_site_warning,
    site_displacements,
)
from aiida_flexo.textures.superlattice import build_superlattice


@pytest.fixture
def atoms():
    return build_superlattice(2, 1, 3, ('PbTiO3', 'SrTiO3')).atoms


def test_rigid_translation_and_wrapping_are_no_displacement(atoms):
    moved = atoms.copy()
    moved.translate([0.7, -0.4, 1.3])
    moved.wrap()  # atoms cross the cell boundary: minimum image
    np.testing.assert_allclose(site_displacements(moved, atoms), 0.0, atol=1e-10)
    summary = displacement_summary(moved, atoms)
    assert summary['rms_displacement_A'] == pytest.approx(0.0, abs=1e-10)
    assert summary['atoms_off_site'] == 0


def test_one_atom_off_its_site_is_counted(atoms):
    moved = atoms.copy()
    positions = moved.positions
    positions[5] += [0.0, 0.0, 1.5]
    moved.positions = positions
    summary = displacement_summary(moved, atoms)
    n = len(atoms)
    # the mean shift 1.5/n is removed from every atom
    assert summary['max_displacement_A'] == pytest.approx(1.5 * (1 - 1 / n))
    assert summary['atoms_off_site'] == 1
    assert summary['off_site_A'] == OFF_SITE_A
    assert displacement_summary(moved, atoms, off_site_A=2.0)['atoms_off_site'] == 0
    warning = off_site_warning(summary['atoms_off_site'], n, reference='start')
    assert warning.startswith(f'WARNING: 1 atom(s) ({1 / n:.1%}) more than 1.0 Å from their start')
    with pytest.raises(ValueError, match='same atoms in the same order'):
        site_displacements(moved, atoms.positions[:-1])


def test_implausible_cells_are_located():
    P = np.zeros((3, 4, 2, 3))
    P[..., 2] = 0.8  # PbTiO3-like
    P[1, 2, 1] = [IMPLAUSIBLE_P_C_PER_M2, 1.0, 0.0]
    np.testing.assert_array_equal(implausible_cells(P), [[1, 2, 1]])
    assert len(implausible_cells(P, limit=0.5)) == 24
    with pytest.raises(ValueError, match=r'\(Nx, Ny, L, 3\)'):
        implausible_cells(P[..., :2])
