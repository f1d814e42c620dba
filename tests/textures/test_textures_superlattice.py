"""Superlattice builder: composition, stacking, atom count, B-centred assignment, seeds, errors."""

from collections import Counter

import numpy as np
import pytest

from aiida_flexo.textures.superlattice import (
    BASIS_FRACTIONAL,
    MATERIALS,
    SUBSTRATES,
    Perovskite,
    assign_cells,
    build_superlattice,
)


def test_composition_and_atom_count():
    n_side, m, n = 3, 8, 4
    sl = build_superlattice(m, n, n_side)  # (PbTiO3)8/(SrTiO3)4 on SrTiO3
    atoms = sl.atoms
    assert len(atoms) == 5 * n_side**2 * (m + n)
    counts = Counter(atoms.get_chemical_symbols())
    assert counts == {'Pb': 9 * m, 'Sr': 9 * n, 'Ti': 9 * (m + n), 'O': 3 * 9 * (m + n)}
    assert sl.grid_shape == (3, 3, 12)
    assert sl.a_inplane == SUBSTRATES['SrTiO3']
    assert np.allclose(atoms.cell.array, np.diag([3 * 3.905, 3 * 3.905, m * 4.152 + n * 3.905]))
    assert atoms.pbc.all()


def test_layer_stacking_and_interfaces():
    sl = build_superlattice(2, 3, 2, ('BaTiO3', 'SrTiO3'), a_inplane=3.95, c_out_of_plane={'BaTiO3': 4.1})
    assert sl.layer_materials == ['BaTiO3', 'BaTiO3', 'SrTiO3', 'SrTiO3', 'SrTiO3']
    assert sl.layer_heights.tolist() == [4.1, 4.1, 3.905, 3.905, 3.905]
    assert sl.layer_bottoms == pytest.approx([0.0, 4.1, 8.2, 12.105, 16.01])
    symbols = np.array(sl.atoms.get_chemical_symbols())
    z = sl.atoms.positions[:, 2]
    for k in range(5):
        in_layer = sl.cell_index[:, 2] == k
        a_sites = in_layer & (sl.site == 0)
        # AO plane at the bottom of the cell, BO2 plane at its middle
        assert set(symbols[a_sites]) == {'Ba' if k < 2 else 'Sr'}
        assert np.allclose(z[a_sites], sl.layer_bottoms[k])
        assert np.allclose(z[in_layer & (sl.site == 1)], sl.layer_bottoms[k] + sl.layer_heights[k] / 2)
        assert set(symbols[in_layer & (sl.site == 1)]) == {'Ti'}
    assert sl.cell_volumes() == pytest.approx(3.95**2 * sl.layer_heights)


def test_assignment_is_the_documented_b_centred_basis_in_a_stable_order():
    sl = build_superlattice(2, 1, (3, 2), a_inplane=4.0)
    nx, ny, nl = sl.grid_shape
    index = np.arange(len(sl.atoms))
    cell_number = index // 5
    assert np.array_equal(sl.site, index % 5)
    assert np.array_equal(sl.cell_index[:, 0], cell_number % nx)
    assert np.array_equal(sl.cell_index[:, 1], (cell_number // nx) % ny)
    assert np.array_equal(sl.cell_index[:, 2], cell_number // (nx * ny))
    # each atom sits at its basis position in its cell; the B site at the cell centre
    heights = sl.layer_heights[sl.cell_index[:, 2]]
    origin = np.column_stack(
        [sl.cell_index[:, 0] * 4.0, sl.cell_index[:, 1] * 4.0, sl.layer_bottoms[sl.cell_index[:, 2]]]
    )
    expected = origin + BASIS_FRACTIONAL[sl.site] * np.column_stack(
        [np.full(len(heights), 4.0), np.full(len(heights), 4.0), heights]
    )
    assert np.allclose(sl.atoms.positions, expected)
    # the arrays travel with the atoms (extxyz)
    assert np.array_equal(sl.atoms.arrays['cell_index'], sl.cell_index)
    assert sl.atoms.info['grid_shape'].tolist() == [3, 2, 3]


def test_builds_are_reproducible_and_seeds_only_move_b_and_o():
    plain = build_superlattice(4, 2, 6)
    again = build_superlattice(4, 2, 6)
    assert np.array_equal(plain.atoms.positions, again.atoms.positions)
    seeded = build_superlattice(
        4, 2, 6, seed='bubble', bubble_radius=1.6, displacement_B=0.2, displacement_O=-0.1
    )
    assert seeded.atoms.get_chemical_symbols() == plain.atoms.get_chemical_symbols()
    assert np.array_equal(seeded.cell_index, plain.cell_index)
    shift = seeded.atoms.positions - plain.atoms.positions
    assert np.allclose(shift[:, :2], 0.0)
    assert np.allclose(shift[plain.site == 0], 0.0)  # A sites stay
    direction = seeded.seed[plain.cell_index[:, 0], plain.cell_index[:, 1], plain.cell_index[:, 2], 2]
    assert np.allclose(shift[plain.site == 1, 2], 0.2 * direction[plain.site == 1])
    assert np.allclose(shift[plain.site >= 2, 2], -0.1 * direction[plain.site >= 2])
    # bubble: reversed inside the radius, only in the PbTiO3 layers
    assert seeded.seed[3, 3, 0, 2] == -1 and seeded.seed[0, 0, 0, 2] == 1
    assert np.all(seeded.seed[:, :, 4:] == 0)
    # the position-based assignment of the distorted structure recovers the reference one
    index, site = assign_cells(seeded.atoms, seeded.grid_shape)
    assert np.array_equal(index, plain.cell_index) and np.array_equal(site, plain.site)


def test_assignment_survives_random_displacements():
    sl = build_superlattice(3, 2, 4)
    atoms = sl.atoms.copy()
    atoms.positions += np.random.default_rng(1).uniform(-0.35, 0.35, atoms.positions.shape)
    index, site = assign_cells(atoms, sl.grid_shape)
    assert np.array_equal(index, sl.cell_index) and np.array_equal(site, sl.site)


def test_stripe_seed_pattern():
    sl = build_superlattice(2, 1, 8, seed='stripes', stripe_width=2, seed_in='both')
    pz = sl.seed[:, 0, 0, 2]
    assert pz.tolist() == [1, 1, -1, -1, 1, 1, -1, -1]
    assert np.all(sl.seed[:, :, 2, 2] != 0)  # seeded in both materials
    with pytest.raises(ValueError, match='divisible by 2'):
        build_superlattice(2, 1, 8, seed='stripes', stripe_width=3)


def test_custom_perovskite_and_errors():
    ca = Perovskite('CaTiO3', 'Ca', 'Ti', a=3.83, c=3.83)
    sl = build_superlattice(1, 1, 1, (ca, 'SrTiO3'), substrate='LSAT')
    assert sorted(set(sl.atoms.get_chemical_symbols())) == ['Ca', 'O', 'Sr', 'Ti']
    assert sl.a_inplane == SUBSTRATES['LSAT']
    with pytest.raises(ValueError, match="unknown perovskite 'CaTiO3'.*Perovskite"):
        build_superlattice(1, 1, 1, ('CaTiO3', 'SrTiO3'))
    with pytest.raises(ValueError, match='either a_inplane'):
        build_superlattice(1, 1, 1, a_inplane=3.9, substrate='SrTiO3')
    with pytest.raises(ValueError, match='unknown substrate'):
        build_superlattice(1, 1, 1, substrate='Mars')
    with pytest.raises(ValueError, match='not in the stack'):
        build_superlattice(1, 1, 1, c_out_of_plane={'BaTiO3': 4.0})
    with pytest.raises(ValueError, match='unknown seed kind'):
        build_superlattice(1, 1, 2, seed='vortex')
    assert set(MATERIALS) >= {'PbTiO3', 'SrTiO3', 'BaTiO3'}
