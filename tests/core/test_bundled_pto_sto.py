"""The bundled PbTiO3/SrTiO3 training frames (GPAW Berry-phase labels): complete, and physically consistent."""

from __future__ import annotations

import numpy as np
import pytest

from aiida_flexo.data import read_frames
from aiida_flexo.polarization.quanta import minimum_image
from aiida_flexo.resources import bundled_path, pto_sto_frame_paths

#: the phases in frame order (6 perturbations each, the same random pattern in every phase)
PHASES = ('pto_para', 'pto_up', 'pto_x', 'sl_para', 'sl_up', 'sto')


@pytest.fixture(scope='module')
def groups():
    frames = read_frames(bundled_path('PbTiO3_SrTiO3_gpaw_fast.xyz'), require=('dipole',))
    assert len(frames) == 36
    return {name: frames[6 * i : 6 * i + 6] for i, name in enumerate(PHASES)}


def _dipole_change(polar, reference) -> np.ndarray:
    """Berry-phase dipole of each polar frame minus its centrosymmetric twin, minimum image over the quanta (e·Å)."""
    return np.array(
        [
            minimum_image(
                np.asarray(a.info['dipole']) - np.asarray(b.info['dipole']),
                a.cell[:],
                a.info['charge_quantum'],
            )
            for a, b in zip(polar, reference, strict=True)
        ]
    )


def test_labels_complete(groups):
    formulas = {name: {a.get_chemical_formula() for a in frames} for name, frames in groups.items()}
    assert formulas['sto'] == {'O3SrTi'}
    assert formulas['sl_up'] == {'O6PbSrTi2'}
    for frames in groups.values():
        for atoms in frames:
            assert np.isfinite(atoms.info['energy'])
            assert atoms.arrays['forces'].shape == (len(atoms), 3)
            assert np.shape(atoms.info['stress']) == (3, 3)
            # forces of a periodic cell sum to zero up to the egg-box error of the fast protocol (400 eV)
            assert np.abs(atoms.arrays['forces'].sum(0)).max() < 0.1
            assert atoms.info['charge_quantum'] == 2.0  # spin-paired: quantum 2e·R


def test_polar_distortion_along_its_axis(groups):
    # B +0.15 Å, O −0.30 Å along z: the dipole grows along +z only (Z*(Ti) > 0, Z*(O) < 0)
    change = _dipole_change(groups['pto_up'], groups['pto_para'])
    assert np.all(change[:, 2] > 2.5)
    assert np.all(np.abs(change[:, :2]) < 0.5)


def test_dipoles_add_over_layers(groups):
    # both layers of the interface cell carry the distortion: about twice the PbTiO3 single-cell change
    single = _dipole_change(groups['pto_up'], groups['pto_para'])[:, 2].mean()
    double = _dipole_change(groups['sl_up'], groups['sl_para'])[:, 2].mean()
    assert double == pytest.approx(2 * single, rel=0.1)


def test_centrosymmetric_cells_agree(groups):
    # same displacement pattern on PbTiO3 and SrTiO3: only Z*(Pb) − Z*(Sr) times the A displacement differs
    change = _dipole_change(groups['sto'], groups['pto_para'])
    assert np.all(np.abs(change) < 0.5)


def test_wide_set_complete_and_filtered():
    """The second run (seed 100, 0.12 Å): 31 of 36 frames, the five with forces above 25 eV/Å left out."""
    frames = read_frames(bundled_path('PbTiO3_SrTiO3_gpaw_fast_wide.xyz'), require=('dipole',))
    origins = [int(a.info['origin'].removeprefix('frame_')) for a in frames]
    assert origins == [i for i in range(36) if i not in (13, 24, 25, 28, 29)]
    for index, atoms in zip(origins, frames, strict=True):
        phase = PHASES[index // 6]
        expected = {'sto': 'O3SrTi', 'sl_para': 'O6PbSrTi2', 'sl_up': 'O6PbSrTi2'}.get(phase, 'O3PbTi')
        assert atoms.get_chemical_formula() == expected
        assert np.abs(atoms.arrays['forces']).max() <= 25.0
        # egg-box error of the fast protocol, larger with the larger forces of these frames
        assert np.abs(atoms.arrays['forces'].sum(0)).max() < 0.25
        assert atoms.info['charge_quantum'] == 2.0
    # another random pattern than the first set
    first = read_frames(bundled_path('PbTiO3_SrTiO3_gpaw_fast.xyz'))
    assert not np.allclose(frames[0].positions, first[0].positions, atol=1e-3)


def test_both_sets_listed():
    """`pto_sto_frame_paths` (benchmarks, `examples/submit_pto_sto.py --bundled`) gives both sets, 67 frames."""
    paths = pto_sto_frame_paths()
    assert [p.name for p in paths] == ['PbTiO3_SrTiO3_gpaw_fast.xyz', 'PbTiO3_SrTiO3_gpaw_fast_wide.xyz']
    assert sum(len(read_frames(p, require=('dipole',))) for p in paths) == 67


def test_active_learning_frames_share_the_settings_of_the_bundled_sets():
    """The frames flexo.active added: complete labels, why each was chosen, and energies on the bundled sets' scale
    (off a per-element reference fitted on the 67 bundled frames by no more than those frames are)."""
    from aiida_flexo.data import read_frames
    from aiida_flexo.resources import PTO_STO_ACTIVE_FILE, bundled_path, pto_sto_frame_paths

    added = read_frames(bundled_path(PTO_STO_ACTIVE_FILE), require=('energy', 'forces', 'stress', 'dipole'))
    assert len(added) == 8 and {a.info['active_generation'] for a in added} == {1, 2}
    for atoms in added:
        assert atoms.info['force_std_max_meV_A'] > 0 and atoms.info['dipole_std_eA'] > 0
        # MD and strained frames, not exploded ones (the ceiling of the selection): |F| of a few eV/Å at most
        assert np.isfinite(atoms.arrays['forces']).all() and np.abs(atoms.arrays['forces']).max() < 10.0
    base = [a for path in pto_sto_frame_paths() for a in read_frames(path)]
    species = ['Pb', 'Sr', 'Ti', 'O']

    def counts(frames):
        return np.array([[a.get_chemical_symbols().count(s) for s in species] for a in frames], dtype=float)

    energies = np.array([a.info['energy'] for a in base])
    reference, *_ = np.linalg.lstsq(counts(base), energies, rcond=None)

    def residual(frames):  # eV/atom off the per-element fit
        labels = np.array([a.info['energy'] for a in frames])
        return (labels - counts(frames) @ reference) / np.array([len(a) for a in frames])

    # the bundled frames' own spread (perturbations, strains): about -0.2 ... +0.7 eV/atom
    own = residual(base)
    new = residual(added)
    # inside that spread (another code or PAW set would be tens of eV/atom off); MD frames sit low in it
    assert own.min() - 0.05 < new.min() and new.max() < own.max()
    assert np.abs(new).max() < 0.3
