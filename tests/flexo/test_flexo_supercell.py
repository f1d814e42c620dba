"""Strain-gradient supercells: sizes, fields against finite differences, assignment, storage, errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
from ase import Atoms

from aiida_flexo.flexo.cells import assign_to_reference, cell_dipoles
from aiida_flexo.flexo.supercell import FlexoSupercell, build_supercell, orthogonal_unit_cell, parse_fix


def test_seed_batio3_cell(bto):
    sc = build_supercell(bto, '3333', 14, 0.005, fix='Ba')
    assert sc.repeat == (1, 1, 14)
    assert len(sc.atoms) == 70 and sc.n_cells == 14
    assert sc.period == pytest.approx(56.0)
    # sine longitudinal: eps_max = A 2 pi / L
    assert sc.amplitude == pytest.approx(0.005 * 56.0 / (2 * np.pi))
    # the seed's geometry: X0 = 0 and the cells at L/4 and 3L/4 are cell centres
    assert sc.phase_origin == pytest.approx(0.0)
    assert sc.gradient_extrema() == pytest.approx((14.0, 42.0))
    assert np.isclose(sc.layer_centres, 14.0).sum() == 1 and np.isclose(sc.layer_centres, 42.0).sum() == 1
    assert np.abs(sc.strain).max() <= 0.005 + 1e-15
    assert sorted(set(np.array(sc.reference.get_chemical_symbols())[sc.fixed_indices])) == ['Ba']
    assert len(sc.fixed_indices) == 14


@pytest.mark.parametrize('component', ['3333', '2222', '1133', '3311', '3113', '2332'])
@pytest.mark.parametrize('shape', ['sine', 'cosine'])
def test_fields_match_finite_differences(bto, component, shape):
    sc = build_supercell(bto, component, 8, 0.004, shape=shape, phase_origin=0.7)
    c = sc.component_obj
    h = 1e-4
    points = sc.cell_centres.copy()

    def u(p):
        return sc.field(p)

    dl = np.zeros(3)
    dl[c.l] = h
    if sc.geometry == 'transverse':
        dt = np.zeros(3)
        dt[c.j] = h
        strain = (u(points + dt)[:, c.j] - u(points - dt)[:, c.j]) / (2 * h)
    else:
        du = (u(points + dl) - u(points - dl)) / (2 * h)
        strain = du[:, c.displacement_axis] * (1.0 if sc.geometry == 'longitudinal' else 0.5)
    np.testing.assert_allclose(sc.strain, strain, rtol=1e-6, atol=1e-12)
    z = points[:, c.l]
    gradient = (sc.strain_at(z + h) - sc.strain_at(z - h)) / (2 * h)
    np.testing.assert_allclose(sc.strain_gradient, gradient, rtol=1e-6, atol=1e-12)
    assert np.abs(sc.strain).max() <= 0.004 + 1e-15
    # the displaced atoms are the reference plus the field, everywhere
    np.testing.assert_allclose(sc.imposed_displacement, sc.field(sc.reference.positions), atol=1e-13)


def test_fixed_sublattice_sits_exactly_on_the_field(bto):
    sc = build_supercell(bto, '3333', 10, 0.005, fix='Ba')
    fixed = sc.fixed_indices
    expected = sc.reference.positions[fixed] + sc.field(sc.reference.positions[fixed])
    assert np.array_equal(sc.atoms.positions[fixed], expected)


def test_assignment_one_basis_per_cell_and_stable(bto):
    sc = build_supercell(bto, '3333', 12, 0.01, fix='Ba')
    # every cell holds one copy of the basis
    counts = np.bincount(sc.assignment, minlength=sc.n_cells)
    assert np.all(counts == len(bto))
    for cell in range(sc.n_cells):
        assert sorted(sc.basis_index[sc.assignment == cell]) == list(range(len(bto)))
    # reference atoms lie in the box of their cell, centred on the stored centre
    lengths = np.diag(sc.unit.cell)
    offset = (sc.reference.positions - sc.cell_centres[sc.assignment]) / lengths
    assert np.all(offset >= -0.6 - 1e-9) and np.all(offset < 0.4)  # box [o − 0.1, o + 0.9) around the centre
    # nearest-site assignment of the displaced (and noisier) structure reproduces the stored one
    noisy = sc.atoms.copy()
    noisy.positions += np.random.default_rng(0).normal(scale=0.05, size=noisy.positions.shape)
    assert np.array_equal(assign_to_reference(noisy, sc.reference, sc.assignment), sc.assignment)
    # atoms at a box face (Ba at the corner) would flip cells if re-assigned by wrapping: the stored one does not
    ones = np.ones((len(sc.atoms), 3))
    assert np.all(cell_dipoles(ones, sc.assignment, sc.n_cells) == len(bto))


def test_diamond_primitive_becomes_conventional(si_primitive):
    unit, index = orthogonal_unit_cell(si_primitive)
    assert len(unit) == 8
    assert np.allclose(unit.cell, np.eye(3) * 5.431)
    assert sorted(np.bincount(index)) == [4, 4]
    sc = build_supercell(si_primitive, '3113', 8, 0.0005, transverse_repeat=3)
    assert sc.repeat == (3, 1, 8)
    assert len(sc.atoms) == 8 * 24
    assert sc.unit_volume == pytest.approx(5.431**3)
    assert set(sc.bulk_index) == {0, 1}


def test_polar_phase_keeps_the_cubic_basis():
    """Tetragonal BaTiO3 with O below Ba's plane: the face tolerance keeps each O with the cubic cell's Ba."""
    from aiida_flexo.flexo.structures import batio3_phase

    polar = batio3_phase('tetragonal', o_shift=0.2)
    assert polar.get_scaled_positions()[2, 2] > 0.9  # the O of the Ba plane, wrapped to the top
    sc = build_supercell(polar, '3333', 8, 0.005)
    offsets = sc.unit.positions[:, 2] - (sc.basis_origin[2] + 0.5) * sc.unit.cell[2, 2]
    assert offsets[2] == pytest.approx(-0.5 * sc.unit.cell[2, 2] - 0.2)  # below the centre, with its Ba
    assert offsets[0] == pytest.approx(-0.5 * sc.unit.cell[2, 2])


def test_storage_round_trip(bto):
    sc = build_supercell(bto, '3113', 8, 0.003, fix='Ba', transverse_repeat=2)
    data = json.loads(json.dumps(sc.to_dict()))
    back = FlexoSupercell.from_dict(data)
    assert np.array_equal(back.atoms.positions, sc.atoms.positions)
    assert np.array_equal(back.assignment, sc.assignment)
    np.testing.assert_array_equal(back.strain_gradient, sc.strain_gradient)
    assert back.fixed_indices == sc.fixed_indices
    assert back.transverse_centre == sc.transverse_centre
    assert back.gradient_extrema() == sc.gradient_extrema()


def test_parse_fix(bto):
    atoms = bto.repeat((1, 1, 2))
    assert parse_fix('Ba', atoms) == [0, 5]
    assert parse_fix('Ba,Ti', atoms) == [0, 1, 5, 6]
    assert parse_fix('0,3', atoms) == [0, 3]
    assert parse_fix([4, 2], atoms) == [2, 4]
    assert parse_fix(None, atoms) == []
    with pytest.raises(ValueError, match='species present'):
        parse_fix('Sr', atoms)
    with pytest.raises(ValueError, match='out of range'):
        parse_fix('12', atoms)


def test_bad_inputs_are_refused(bto):
    with pytest.raises(ValueError, match='not periodic'):
        build_supercell(Atoms('BaTiO3', positions=np.eye(5, 3), cell=[4, 4, 4], pbc=False), '3333', 8, 0.005)
    with pytest.raises(ValueError, match='at least 4'):
        build_supercell(bto, '3333', 3, 0.005)
    with pytest.raises(ValueError, match='max_strain'):
        build_supercell(bto, '3333', 8, 0.2)
    with pytest.raises(ValueError, match='shape'):
        build_supercell(bto, '3333', 8, 0.005, shape='square')
    rotated = bto.copy()
    rotated.rotate(30, 'z', rotate_cell=True)
    with pytest.raises(ValueError, match='along x'):
        build_supercell(rotated, '3333', 8, 0.005)


def test_sublattice_fix_holds_one_sublattice_of_silicon(si_primitive):
    """'sublattice:0' holds bulk atom 0 in every cell: half of diamond Si, never two neighbours (Si–Si 2.35 Å)."""
    sc = build_supercell(si_primitive, '3113', 6, 0.0005, 'sublattice:0', shape='cosine', transverse_repeat=2)
    fixed = np.array(sc.fixed_indices)
    assert len(fixed) == len(sc.atoms) // 2
    assert set(sc.bulk_index[fixed].tolist()) == {0}
    distances = sc.reference.get_all_distances(mic=True)[np.ix_(fixed, fixed)]
    assert distances[distances > 0].min() > 3.0  # same-sublattice neighbours are 3.84 Å apart
    with pytest.raises(ValueError, match='sublattices 0..1'):
        build_supercell(si_primitive, '3333', 6, 0.0005, 'sublattice:2')
    # the 8-atom cubic cell has the same two sublattices: half of its atoms are held, never two neighbours
    from aiida_flexo.flexo.structures import diamond

    cubic = build_supercell(diamond('Si', 5.431, conventional=True), '3113', 4, 0.0005, 'sublattice:1',
                            shape='cosine', transverse_repeat=2)  # fmt: skip
    held = np.array(cubic.fixed_indices)
    assert len(held) == len(cubic.atoms) // 2
    distances = cubic.reference.get_all_distances(mic=True)[np.ix_(held, held)]
    assert distances[distances > 0].min() > 3.0
