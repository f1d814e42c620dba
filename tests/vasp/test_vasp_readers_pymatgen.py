"""Our VASP readers against pymatgen's (the field's reader) on the same recorded runs.

Born charges and ε∞ of the DFPT runs must be pymatgen's numbers (``Outcar.read_lepsilon``; both from the OUTCAR
block "BORN EFFECTIVE CHARGES", e). For the Berry-phase runs pymatgen's ``p_elec``/``p_ion`` (e·Å) keep VASP's old
convention (electrons counted positive) for every version: it flips the numbers VASP ≥ 6.3 prints with the physical
sign, and leaves those of VASP 5.4.4 (printed in "electrons") as they are. Ours are physical in both cases
(:func:`aiida_flexo.polarization.vasp.sign_of_printed_dipoles`), so ours = −pymatgen's exactly, in a run of each
convention: an independent check of the VASP sign trap (DESIGN.md).
"""

from __future__ import annotations

import gzip
import shutil

import numpy as np
import pytest

from aiida_flexo.polarization.vasp import read_berry_phase, read_born_charges

FIXTURES = __import__('pathlib').Path(__file__).resolve().parents[1] / 'fixtures' / 'vasp'


def _plain_outcar(folder, tmp_path):
    """pymatgen reads plain or gzipped OUTCARs; a plain copy keeps both readers on the same bytes."""
    source = next(folder.glob('OUTCAR*'))
    if source.suffix != '.gz':
        return source
    target = tmp_path / 'OUTCAR'
    with gzip.open(source, 'rb') as handle, target.open('wb') as out:
        shutil.copyfileobj(handle, out)
    return target


@pytest.mark.parametrize('run', ['SiC_lepsilon', 'SiC_lepsilon_old_born', 'Zn3P2S8_aiida_vasp'])
def test_born_charges_and_epsilon_are_pymatgens(run, tmp_path):
    from pymatgen.io.vasp.outputs import Outcar

    outcar = _plain_outcar(FIXTURES / 'dfpt_lepsilon' / run, tmp_path)
    ours = read_born_charges(outcar)
    theirs = Outcar(str(outcar))
    theirs.read_lepsilon()
    np.testing.assert_allclose(ours.born_charges, np.asarray(theirs.born, dtype=float), atol=1e-6)
    np.testing.assert_allclose(ours.epsilon_inf, np.asarray(theirs.dielectric_tensor, dtype=float), atol=1e-5)


@pytest.mark.parametrize('run', ['LaSnNO2_polar', 'La2Ga2O6_vasp6.3'])
def test_berry_phase_dipoles_are_minus_pymatgens_in_either_printed_convention(run, tmp_path):
    from pymatgen.io.vasp.outputs import Outcar

    outcar = _plain_outcar(FIXTURES / 'berry_phase' / run, tmp_path)
    ours = read_berry_phase(outcar)
    theirs = Outcar(str(outcar))
    assert theirs.lcalcpol
    assert np.abs(ours.electronic_dipole).max() > 1.0  # a polar run: the sign is tested, not zeros
    np.testing.assert_allclose(ours.electronic_dipole, -np.asarray(theirs.p_elec), atol=1e-5)
    np.testing.assert_allclose(ours.ionic_dipole, -np.asarray(theirs.p_ion), atol=1e-5)
