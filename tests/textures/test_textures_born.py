"""Born-charge baseline of the local polarization: analytic dipoles of a seeded superlattice."""

from __future__ import annotations

import numpy as np
import pytest

from aiida_flexo.textures.born import LITERATURE_BORN_CHARGES, born_charge_model, site_born_charges
from aiida_flexo.textures.field import field_from_model
from aiida_flexo.textures.superlattice import build_superlattice
from aiida_flexo.units import dipole_to_polarization


def test_acoustic_sum_rule_per_material():
    for z in LITERATURE_BORN_CHARGES.values():
        assert z['A'] + z['B'] + z['O_par'] + 2 * z['O_perp'] == pytest.approx(0.0, abs=1e-12)


def test_oxygen_tensor_along_its_bond():
    sl = build_superlattice(1, 1, 1, ('PbTiO3', 'SrTiO3'))
    z = site_born_charges(sl)
    pto = LITERATURE_BORN_CHARGES['PbTiO3']
    o_z = np.flatnonzero((sl.site == 4) & (sl.cell_index[:, 2] == 0))[
        0
    ]  # O_z of the PbTiO3 layer: B–O along z
    assert np.diag(z[o_z]) == pytest.approx([pto['O_perp'], pto['O_perp'], pto['O_par']])
    # a uniform translation of a whole cell carries no dipole (sum rule)
    cell = sl.cell_index[:, 2] == 1
    assert z[cell].sum(0) == pytest.approx(np.zeros((3, 3)), abs=1e-12)


def test_seeded_layers_polarization_is_z_star_times_u():
    d_b, d_o = 0.15, -0.10
    sl = build_superlattice(
        2, 1, 2, ('PbTiO3', 'SrTiO3'), seed='uniform', displacement_B=d_b, displacement_O=d_o
    )
    model = born_charge_model(sl)
    P = field_from_model([sl.atoms], model, sl.cell_index, sl.grid_shape, sl.cell_volumes())
    z = LITERATURE_BORN_CHARGES['PbTiO3']
    dipole = z['B'] * d_b + (z['O_par'] + 2 * z['O_perp']) * d_o  # e·Å along +z per seeded cell
    volume = sl.a_inplane**2 * sl.layer_heights[0]
    expected = float(dipole_to_polarization(np.array([0.0, 0.0, dipole]), volume)[2])
    assert expected > 0.3  # B up, O down: P along +z, about 0.55 C/m²
    assert P[:, :, :2, 2] == pytest.approx(expected, rel=1e-9)
    assert P[:, :, :2, :2] == pytest.approx(0.0, abs=1e-12)
    assert P[:, :, 2] == pytest.approx(0.0, abs=1e-12)  # the SrTiO3 spacer is not seeded


def test_missing_material_is_named():
    sl = build_superlattice(1, 1, 1, ('PbTiO3', 'SrTiO3'))
    with pytest.raises(ValueError, match='SrTiO3'):
        site_born_charges(sl, {'PbTiO3': LITERATURE_BORN_CHARGES['PbTiO3']})


# ------------------------------------------------------------------ the Born-charge branch of Berry-phase labels
from aiida_flexo.data import read_frames  # noqa: E402
from aiida_flexo.polarization import align_to_reference  # noqa: E402
from aiida_flexo.polarization.perovskite import (  # noqa: E402
    align_perovskite_dipoles,
    ideal_perovskite_sites,
    perovskite_born_dipole,
)
from aiida_flexo.polarization.quanta import quantum_lattice  # noqa: E402
from aiida_flexo.resources import bundled_path  # noqa: E402


def test_ideal_sites_of_a_translated_distorted_superlattice():
    # equal layer heights: the ideal sites are a uniform half-cell grid
    sl = build_superlattice(2, 1, 2, ('PbTiO3', 'SrTiO3'), c_out_of_plane={'PbTiO3': 3.95, 'SrTiO3': 3.95})
    atoms = sl.atoms.copy()
    rng = np.random.default_rng(1)
    atoms.positions += rng.normal(0, 0.1, atoms.positions.shape) + [0.7, -1.3, 0.4]  # and a global shift
    ideal = ideal_perovskite_sites(atoms)
    # the undistorted lattice, rigidly moved with the A sublattice (a translation carries no Born dipole: ASR)
    offset = ideal - sl.atoms.positions - [0.7, -1.3, 0.4]
    assert offset == pytest.approx(np.broadcast_to(offset[0], offset.shape), abs=1e-9)
    assert np.linalg.norm(offset[0]) < 0.1
    atoms.positions[3] += [1.5, 0.0, 0.0]  # no longer near a cubic site
    with pytest.raises(ValueError, match='not a perovskite near its cubic parent'):
        ideal_perovskite_sites(atoms)


def test_born_dipole_of_a_seeded_cell_is_the_sum_of_z_times_u():
    polar = build_superlattice(
        1, 0, 1, ('PbTiO3', 'SrTiO3'), seed='uniform', displacement_B=0.15, displacement_O=-0.3
    )
    z = LITERATURE_BORN_CHARGES['PbTiO3']
    # every displacement is along z: B +0.15 Å, each O −0.30 Å (one O∥, two O⊥); A at its site
    expected = 0.15 * z['B'] - 0.30 * (z['O_par'] + 2 * z['O_perp'])
    assert perovskite_born_dipole(polar.atoms) == pytest.approx([0.0, 0.0, expected], abs=1e-9)
    with pytest.raises(ValueError, match='not a perovskite of the known materials'):
        perovskite_born_dipole(polar.atoms, charges={'BaTiO3': LITERATURE_BORN_CHARGES['BaTiO3']})


def test_align_to_reference_undoes_any_shift_by_quanta():
    cell = np.diag([3.9, 3.9, 4.1])
    quanta = quantum_lattice(cell, 2.0)
    label = np.array([0.4, -0.2, 3.6])
    shifted = label + 3 * quanta[2] - quanta[0]
    assert align_to_reference(shifted, [0.0, 0.0, 3.0], cell, 2.0)[0] == pytest.approx(label)
    # a reference on the other side of the half quantum picks the other branch
    assert align_to_reference(shifted, [0.0, 0.0, -4.5], cell, 2.0)[0] == pytest.approx(label - quanta[2])


def test_bundled_pto_sto_labels_on_the_born_branch():
    frames = read_frames(bundled_path('PbTiO3_SrTiO3_gpaw_fast.xyz'), require=('dipole',))
    aligned = align_perovskite_dipoles(frames)
    moved = []
    for i, (before, after) in enumerate(zip(frames, aligned, strict=True)):
        assert after.info['dipole_branch'] == 'perovskite-born'
        residual = np.asarray(after.info['dipole']) - perovskite_born_dipole(before)
        # the literature Z* model is far closer than half a quantum (3.9 e·Å) to the DFT dipole on its branch
        assert np.abs(residual).max() < 2.5
        if not np.allclose(after.info['dipole'], before.info['dipole']):
            moved.append(i)
            shift = np.asarray(after.info['dipole']) - np.asarray(before.info['dipole'])
            assert shift == pytest.approx(2.0 * before.cell[0], abs=1e-9)  # one quantum 2e·a
    # one polar-x PbTiO3 frame was stored on the wrapped branch (its dipole 4.1 e·Å is past the half quantum)
    assert moved == [14]
    assert 'dipole_branch' not in frames[0].info  # the input frames are not modified
    # the wider second set: still within 2.5 e·Å of the Born-charge dipole on its branch
    wide = read_frames(bundled_path('PbTiO3_SrTiO3_gpaw_fast_wide.xyz'), require=('dipole',))
    for before, after in zip(wide, align_perovskite_dipoles(wide), strict=True):
        assert np.abs(np.asarray(after.info['dipole']) - perovskite_born_dipole(before)).max() < 2.7
