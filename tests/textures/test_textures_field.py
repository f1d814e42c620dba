"""Per-cell dipoles and the polarization field: sums, units, time average, files, a point-charge model."""

import ase.io
import numpy as np
import pytest

from aiida_flexo.textures.field import (
    PolarizationField,
    cell_dipoles,
    field_from_model,
    grid_of,
    load_field,
    polarization_field,
    reference_cell_volumes,
    save_field,
    time_average,
)
from aiida_flexo.textures.superlattice import build_superlattice
from aiida_flexo.units import E_PER_A2_TO_C_PER_M2

NOMINAL = {'Pb': 2.0, 'Sr': 2.0, 'Ti': 4.0, 'O': -2.0}


class PointChargeModel:
    """p_j = q_j (r_j − r_ref,j) with nominal charges: a synthetic dipole model."""

    def __init__(self, reference):
        self.reference = reference.get_positions()

    def per_atom_dipoles(self, atoms):
        q = np.array([NOMINAL[s] for s in atoms.get_chemical_symbols()])
        return q[:, None] * (atoms.get_positions() - self.reference)


def test_cell_dipoles_sum_the_atoms_of_each_cell():
    rng = np.random.default_rng(2)
    grid = (3, 2, 4)
    cell_index = np.array([(i, j, k) for k in range(4) for j in range(2) for i in range(3) for _ in range(5)])
    dipoles = rng.normal(size=(len(cell_index), 3))
    summed = cell_dipoles(dipoles, cell_index, grid)
    for i, j, k in np.ndindex(*grid):
        members = np.all(cell_index == (i, j, k), axis=1)
        assert np.allclose(summed[i, j, k], dipoles[members].sum(axis=0))
    assert np.allclose(summed.sum(axis=(0, 1, 2)), dipoles.sum(axis=0))  # nothing lost
    # units: one e·Å in 60 Å³ is 16.02/60 C/m²
    P = polarization_field(dipoles, cell_index, grid, 60.0)
    assert np.allclose(P, summed / 60.0 * E_PER_A2_TO_C_PER_M2)
    per_layer = np.array([50.0, 60.0, 70.0, 80.0])
    P_layers = polarization_field(dipoles, cell_index, grid, per_layer)
    assert np.allclose(P_layers[:, :, 2], summed[:, :, 2] / 70.0 * E_PER_A2_TO_C_PER_M2)


def test_frames_are_time_averaged():
    rng = np.random.default_rng(3)
    cell_index = np.repeat(np.array([[0, 0, 0], [1, 0, 0]]), 5, axis=0)
    frames = rng.normal(size=(4, 10, 3))
    averaged = polarization_field(frames, cell_index, (2, 1, 1), 64.0)
    separate = [polarization_field(f, cell_index, (2, 1, 1), 64.0) for f in frames]
    assert np.allclose(averaged, time_average(separate))
    with pytest.raises(ValueError, match='different shapes'):
        time_average([np.zeros((2, 1, 1, 3)), np.zeros((1, 1, 1, 3))])


def test_bad_assignment_is_rejected():
    with pytest.raises(ValueError, match='outside the grid'):
        cell_dipoles(np.zeros((5, 3)), np.full((5, 3), 2), (2, 2, 2))
    with pytest.raises(ValueError, match='cell_index must have shape'):
        cell_dipoles(np.zeros((5, 3)), np.zeros((4, 3), dtype=int), (2, 2, 2))


def test_point_charge_model_on_a_seeded_bubble():
    reference = build_superlattice(4, 2, 6)
    seeded = build_superlattice(
        4, 2, 6, seed='bubble', bubble_radius=1.6, displacement_B=0.15, displacement_O=-0.1
    )
    model = PointChargeModel(reference.atoms)
    index, shape = grid_of(seeded.atoms)
    volumes = reference_cell_volumes(seeded.atoms, shape)
    assert volumes == pytest.approx(reference.cell_volumes())
    frames = [seeded.atoms, seeded.atoms.copy()]
    P = field_from_model(frames, model, index, shape, volumes)
    # one cell: Ti moves +0.15 Å (charge +4), three O −0.1 Å (charge −2): d_z = 0.6 + 0.6 e·Å
    expected = 1.2 / (3.905**2 * 4.152) * E_PER_A2_TO_C_PER_M2
    assert P[0, 0, 0, 2] == pytest.approx(expected, rel=1e-12)
    assert P[3, 3, 1, 2] == pytest.approx(-expected, rel=1e-12)
    assert np.allclose(P[:, :, 4:], 0.0)  # SrTiO3 layers are not seeded
    assert np.allclose(P[..., :2], 0.0)


def test_grid_of_falls_back_to_positions(tmp_path):
    sl = build_superlattice(2, 1, 3, seed='uniform')
    atoms = sl.atoms.copy()
    del atoms.arrays['cell_index']
    index, shape = grid_of(atoms)
    assert shape == (3, 3, 3) and np.array_equal(index, sl.cell_index)
    del atoms.info['grid_shape']
    with pytest.raises(ValueError, match='no cell assignment'):
        grid_of(atoms)
    # the extxyz file keeps the assignment and the grid
    ase.io.write(tmp_path / 'sl.extxyz', sl.atoms)
    back = ase.io.read(tmp_path / 'sl.extxyz')
    index_back, shape_back = grid_of(back)
    assert shape_back == (3, 3, 3) and np.array_equal(index_back, sl.cell_index)


@pytest.mark.parametrize('suffix', ['.npy', '.json'])
def test_field_files_round_trip(tmp_path, suffix):
    rng = np.random.default_rng(4)
    pfield = PolarizationField(
        P=rng.normal(size=(3, 2, 4, 3)), cell_size_A=3.9, layer_heights_A=[4.1, 4.1, 3.9, 3.9], n_frames=7,
        meta={'model': 'x'},
    )  # fmt: skip
    written = save_field(tmp_path / f'F{suffix}', pfield)
    back = load_field(written[0])
    assert np.array_equal(back.P, pfield.P)
    assert back.cell_size_A.tolist() == [3.9, 3.9, 3.9]
    assert back.layer_heights_A.tolist() == [4.1, 4.1, 3.9, 3.9]
    assert back.n_frames == 7 and back.meta == {'model': 'x'}
    x, y, z = back.centres_A()
    assert z == pytest.approx([2.05, 6.15, 10.15, 14.05])


def test_bare_npy_needs_a_cell_size(tmp_path):
    np.save(tmp_path / 'bare.npy', np.zeros((2, 2, 2, 3)))
    with pytest.raises(ValueError, match='cell size'):
        load_field(tmp_path / 'bare.npy')
    assert load_field(tmp_path / 'bare.npy', cell_size_A=4.0).cell_size_A.tolist() == [4.0, 4.0, 4.0]
