"""Cut-outs keep the supercell's local environments; the verification verdict; diverse selection of uncertain frames."""

from __future__ import annotations

import math

import numpy as np
import pytest
from ase.build import bulk

from aiida_flexo.active import (
    CutoutError,
    cut_block,
    flexo_cutouts,
    grid_cutouts,
    select_diverse,
    verification_summary,
)
from aiida_flexo.active.verify import summary_lines
from aiida_flexo.flexo.structures import builtin
from aiida_flexo.flexo.supercell import build_supercell


def _pairs(atoms, indices):
    """All displacement vectors r_j - r_i (Å) between the given atoms, unwrapped (no minimum image)."""
    pos = atoms.positions[indices]
    return pos[None, :, :] - pos[:, None, :]


@pytest.fixture(scope='module')
def relaxed_like():
    """A 1×1×8 BaTiO3 '3333' supercell with random 0.05 Å displacements on top of its strain field."""
    supercell = build_supercell(builtin('BaTiO3'), '3333', 8, 0.01, 'Ba')
    atoms = supercell.atoms.copy()
    atoms.positions += np.random.default_rng(3).normal(scale=0.05, size=atoms.positions.shape)
    return supercell, atoms


def test_block_of_an_ideal_supercell_is_the_repeated_unit_cell():
    unit = bulk('Si', 'diamond', a=5.43, cubic=True)  # 8 atoms
    repeat = (2, 2, 3)
    supercell = unit.repeat(repeat)
    n = len(unit)
    # ase repeats the unit cell with the last axis fastest after the atoms: cell index of atom k
    grid = np.array([(i, j, k) for i in range(2) for j in range(2) for k in range(3)])
    cell_index = np.repeat(grid, n, axis=0)
    block = cut_block(supercell, cell_index, repeat, (1, 0, 2), (1, 2, 2))  # wraps across the c boundary
    expected = unit.repeat((1, 2, 2))
    assert len(block) == len(expected) == 32
    assert np.allclose(block.cell.array, expected.cell.array)
    # the same crystal: every atom of the block sits on a site of the expected structure (up to a translation)
    shift = block.positions[0] - expected.positions[0]
    frac = (block.positions - shift) @ np.linalg.inv(expected.cell.array)
    sites = expected.get_scaled_positions()
    distance = np.abs(((frac[:, None, :] - sites[None]) + 0.5) % 1.0 - 0.5).sum(axis=2).min(axis=1)
    assert distance.max() < 1e-8
    assert block.info['cutout_size'] == [1, 2, 2]


def test_flexo_cutouts_keep_the_local_environment(relaxed_like):
    supercell, atoms = relaxed_like
    blocks = flexo_cutouts(supercell, atoms, cells_along_gradient=3, count=2)
    assert len(blocks) == 2 and all(len(b) == 15 for b in blocks)
    for block in blocks:
        index = block.info['supercell_index']
        # all interatomic vectors inside the block are those of the supercell, up to whole supercell periods
        inside = _pairs(block, np.arange(len(block)))
        original = _pairs(atoms, index)
        period = atoms.cell.array[2]
        difference = (inside - original) @ np.linalg.inv(atoms.cell.array)
        assert np.allclose(difference, np.round(difference), atol=1e-9)
        # and closer than half the block: the block is compact (no atom left on the far side of the wrap)
        assert np.abs(inside[..., 2]).max() < block.cell.array[2, 2]
        assert np.allclose(block.cell.array[2], period * 3 / 8)
        assert sorted(block.get_chemical_symbols()) == sorted(['Ba'] * 3 + ['Ti'] * 3 + ['O'] * 9)
    # the first block starts where |strain gradient| is largest; the second half a supercell further on
    cells = supercell.cell_index[:, 2]
    first = cells[np.argmax(np.abs(supercell.strain_gradient))]
    assert blocks[0].info['cutout_start'][2] == first
    assert blocks[1].info['cutout_start'][2] == (first + 4) % 8
    assert abs(blocks[0].info['strain_gradient_per_A']) == pytest.approx(
        np.abs(supercell.strain_gradient).max()
    )


def test_cutouts_refuse_what_dft_cannot_take(relaxed_like):
    supercell, atoms = relaxed_like
    with pytest.raises(CutoutError, match='max_atoms = 10'):
        flexo_cutouts(supercell, atoms, cells_along_gradient=3, max_atoms=10)
    with pytest.raises(CutoutError, match='between 1 and the supercell length 8'):
        flexo_cutouts(supercell, atoms, cells_along_gradient=9)
    with pytest.raises(CutoutError, match='relaxed_structure of the same'):
        flexo_cutouts(supercell, atoms[:-1])
    with pytest.raises(CutoutError, match='three integers'):
        grid_cutouts(atoms, np.zeros((len(atoms), 3), int), (1, 1, 8), (1, 1), [(0, 0, 0)])


def test_superlattice_cutout_across_the_interface():
    from aiida_flexo.textures.superlattice import assign_cells, build_superlattice

    lattice = build_superlattice(2, 2, 2, seed='uniform')
    atoms = lattice.atoms
    grid = lattice.grid_shape
    cell_index, _ = assign_cells(atoms, tuple(grid))
    (block,) = grid_cutouts(
        atoms, cell_index, grid, (1, 1, 2), [(0, 0, 1)]
    )  # layers 1 (PbTiO3) and 2 (SrTiO3)
    assert sorted(block.get_chemical_symbols()) == sorted(['Pb', 'Sr', 'Ti', 'Ti'] + ['O'] * 6)
    distances = block.get_all_distances(mic=True)
    assert distances[np.triu_indices(len(block), 1)].min() > 1.6  # no atoms on top of each other


def test_verification_summary_ratios_and_verdict():
    held_out = {
        'mlip': {'force_mae_meV_A': 30.0, 'energy_mae_meV_atom': 1.0},
        'dipole': {'dipole_mae_eA': 0.05},
    }
    verified = {
        'mlip': {'force_mae_meV_A': 45.0, 'energy_mae_meV_atom': 0.5},
        'dipole': {'dipole_mae_eA': 0.2},
    }
    summary = verification_summary(verified, held_out, {'max_ratio': 3.0}, n_frames=2)
    assert summary['metrics']['force_mae_meV_A']['ratio'] == pytest.approx(1.5)
    assert summary['metrics']['dipole_mae_eA']['ratio'] == pytest.approx(4.0)
    assert not summary['trusted'] and len(summary['failures']) == 1
    assert 'dipole MAE 0.2 e·Å is 4.00× the held-out' in summary['failures'][0]
    lines = summary_lines(summary)
    assert lines[0] == 'force MAE 45 meV/Å on 2 DFT frames (held-out 30, ×1.50)'
    assert lines[-1].startswith('NOT TRUSTED')
    absolute = verification_summary(
        verified, held_out, {'max_force_mae_meV_A': 40.0, 'max_dipole_mae_eA': 1.0}
    )
    assert absolute['failures'] == ['force MAE 45 meV/Å > max_force_mae_meV_A = 40 meV/Å']
    assert verification_summary(verified, held_out, {})['trusted']
    broken = verification_summary({'dipole': {'dipole_mae_eA': math.nan}}, held_out, {})
    assert not broken['trusted'] and 'not finite' in broken['failures'][0]


@pytest.mark.parametrize(
    ('thresholds', 'message'),
    [({'max_ratio': 0}, 'positive'), ({'max_ratio': -1.0}, 'positive'), ({'max_foo': 1.0}, 'unknown')],
)
def test_verification_thresholds_are_checked(thresholds, message):
    with pytest.raises(ValueError, match=message):
        verification_summary({}, {}, thresholds)


def test_select_diverse_skips_neighbours_and_respects_the_floor():
    scores = [10.0, 9.5, 9.0, 1.0, 8.0, 0.5]
    groups = ['md300', 'md300', 'md600', 'md600', 'md300', 'md300']
    steps = [100, 101, 50, 500, 400, 10]
    chosen = select_diverse(scores, k=4, floor=0.8, groups=groups, steps=steps, min_separation=10)
    assert chosen == [0, 2, 4, 3]  # frame 1 is one step from frame 0; frame 5 is below the floor
    assert select_diverse(scores, k=2, floor=0.8, groups=groups, steps=steps, min_separation=10) == [0, 2]
    features = np.array([[0.0], [5.0], [0.1], [9.0], [5.05], [3.0]])
    assert select_diverse(scores, k=6, floor=0.0, features=features, min_distance=0.5) == [0, 1, 3, 5]
    with pytest.raises(ValueError, match='not finite'):
        select_diverse([1.0, math.nan], k=1)


@pytest.mark.aiida
def test_verification_cutouts_of_a_superlattice_and_of_a_small_cell(aiida_profile):
    from aiida import orm

    from aiida_flexo.calcjobs.functions.verify import cutouts_of
    from aiida_flexo.textures.superlattice import build_superlattice

    lattice = build_superlattice(2, 2, 2, seed='uniform')  # 2×2 in plane, 4 layers: 80 atoms
    structure = orm.StructureData(ase=lattice.atoms)
    blocks = cutouts_of(structure, {'grid': list(lattice.grid_shape), 'size': [1, 1, 2], 'count': 2})
    # blocks start at layers 0 and 2: PbTiO3/PbTiO3 and SrTiO3/SrTiO3; 10 atoms each
    assert [sorted(set(b.get_chemical_symbols()) - {'Ti', 'O'}) for b in blocks] == [['Pb'], ['Sr']]
    with pytest.raises(CutoutError, match='no supercell record or grid'):
        cutouts_of(structure, {})
    small = orm.StructureData(ase=builtin('BaTiO3'))
    (whole,) = cutouts_of(small, {})
    assert len(whole) == 5
