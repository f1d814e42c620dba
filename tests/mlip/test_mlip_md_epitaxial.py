"""MD of a film clamped to its substrate (thermostat ``epitaxial``): the in-plane lattice never moves, the
out-of-plane length relaxes to zero stress, the temperature holds. Analytic EMT copper, so the answer is known:
a cell compressed 3 % along z only expands along z towards copper's lattice constant."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT

from aiida_flexo.mlip.md import run_md


def test_in_plane_clamped_out_of_plane_free():
    atoms = bulk('Cu', 'fcc', a=3.61, cubic=True).repeat((2, 2, 2))
    atoms.set_cell(np.diag([2 * 3.61, 2 * 3.61, 2 * 3.61 * 0.97]), scale_atoms=True)
    result = run_md(
        atoms,
        EMT(),
        '300:400',
        thermostat='epitaxial',
        timestep_fs=2.0,
        tdamp_fs=50.0,
        pdamp_fs=200.0,
        seed=1,
    )
    final = result.atoms
    assert np.allclose(final.cell[:2], atoms.cell[:2], atol=1e-12)  # in-plane: exactly the substrate's
    c_start, c_end = atoms.cell[2, 2], final.cell[2, 2]
    assert c_end > c_start + 0.1  # the compressed axis expanded (7.00 -> 7.16 Å, copper's 2a = 7.22 Å)
    assert c_end < 2 * 3.61 * 1.03
    late = np.array(result.temperatures_K[len(result.temperatures_K) // 2 :])
    assert late.mean() == pytest.approx(300, rel=0.15)


def test_epitaxial_needs_a_periodic_cell():
    atoms = bulk('Cu', 'fcc', a=3.61, cubic=True)
    atoms.pbc = (True, True, False)
    with pytest.raises(ValueError, match='epitaxial needs a 3D periodic cell'):
        run_md(atoms, EMT(), '300:2', thermostat='epitaxial')


def test_anisotropic_relaxes_each_axis():
    """``anisotropic`` (a heating run's NPT): copper strained tetragonally (z +3 %, x, y −2 %) returns towards cubic
    along every axis, independently, where ``epitaxial`` would have kept x and y."""
    atoms = bulk('Cu', 'fcc', a=3.61, cubic=True).repeat((2, 2, 2))
    atoms.set_cell(np.diag([2 * 3.61 * 0.98, 2 * 3.61 * 0.98, 2 * 3.61 * 1.03]), scale_atoms=True)
    result = run_md(
        atoms,
        EMT(),
        '300:400',
        thermostat='anisotropic',
        timestep_fs=2.0,
        tdamp_fs=50.0,
        pdamp_fs=200.0,
        seed=1,
    )
    start, end = atoms.cell.lengths(), result.atoms.cell.lengths()
    assert np.allclose(result.atoms.cell.angles(), 90.0)
    assert end[0] > start[0] + 0.05 and end[1] > start[1] + 0.05  # the compressed axes expanded
    assert end[2] < start[2] - 0.05  # the stretched one shrank
    # 0.8 ps with a 200 fs barostat: c/a 1.051 → 1.028 (measured); at least 30 % of the tetragonality gone
    assert end[2] / end[:2].mean() - 1 < 0.7 * (start[2] / start[:2].mean() - 1)
