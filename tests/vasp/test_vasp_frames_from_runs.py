"""`aiida-flexo frames from-vasp`: frames from VASP runs a user already has, on real VASP outputs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from aiida_flexo.cli import main as cli
from aiida_flexo.data import read_frames
from aiida_flexo.data.vasp import read_vasp_frame
from aiida_flexo.polarization import read_berry_phase
from aiida_flexo.resources import bundled_path
from aiida_flexo.units import dipole_to_polarization

FIXTURES = Path(__file__).parents[1] / 'fixtures' / 'vasp'
BTO = Path(bundled_path('vasp')) / 'BTO_221_99_polarization'
# the path from the centrosymmetric to the polar cell: interpolation_8 lies next to the nonpolar end
PATH = [
    'nonpolar_polarization',
    *(f'interpolation_{i}_polarization' for i in range(8, 0, -1)),
    'polar_polarization',
]


def test_berry_phase_path_gives_the_known_spontaneous_polarization():
    frames = [read_vasp_frame(BTO / name) for name in PATH]
    p_z = [dipole_to_polarization(f.info['dipole'], f.get_volume())[2] for f in frames]
    # DESIGN.md §5: same-branch ΔP along c = 46.29 µC/cm² (0.4629 C/m²); the path stays on one branch here
    assert np.all(np.diff(p_z) > 0)
    assert (p_z[-1] - p_z[0]) * 100 == pytest.approx(46.29, abs=0.01)
    for frame in frames:
        assert np.isfinite(frame.info['energy']) and frame.arrays['forces'].shape == (5, 3)
        assert frame.info['charge_quantum'] == 1.0 and frame.info['stress'].shape == (3, 3)


def test_vasp_63_dipole_has_the_physical_sign():
    frame = read_vasp_frame(FIXTURES / 'berry_phase' / 'La2Ga2O6_vasp6.3')
    berry = read_berry_phase(FIXTURES / 'berry_phase' / 'La2Ga2O6_vasp6.3')
    assert berry.vasp_version >= (6, 3, 0) and frame.info['vasp_version'].startswith('6.')
    # the reader flips VASP >= 6.3's printed sign; the frame takes the flipped value (modulo quanta only)
    from aiida_flexo.polarization.quanta import minimum_image

    assert np.allclose(frame.info['dipole'], minimum_image(berry.dipole, berry.cell, 1.0))
    assert not np.allclose(frame.info['dipole'], minimum_image(-berry.dipole, berry.cell, 1.0), atol=1e-3)


def test_dfpt_run_gives_born_charges():
    frame = read_vasp_frame(FIXTURES / 'dfpt_lepsilon' / 'SiC_lepsilon' / 'OUTCAR.gz')
    si = frame.get_chemical_symbols().index('Si')
    assert frame.arrays['born_charges'][si, 0, 0] == pytest.approx(2.5499, abs=1e-4)  # DESIGN.md §5
    assert 'dipole' not in frame.info  # no LCALCPOL in a DFPT run


def test_cli_writes_frames_the_trainers_read(tmp_path):
    out = tmp_path / 'bto.xyz'
    runs = [str(BTO / name) for name in PATH]
    result = CliRunner().invoke(
        cli, ['frames', 'from-vasp', *runs, '--require', 'dipole', '--out', str(out), '--json']
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data['n_frames'] == 10 and 'dipole' in data['labels'] and data['species'] == ['Ba', 'O', 'Ti']
    frames = read_frames(out, require=('dipole', 'forces', 'energy'))
    assert np.allclose(frames[-1].info['dipole'], read_vasp_frame(BTO / PATH[-1]).info['dipole'])
    # never overwritten without --overwrite
    before = out.read_bytes()
    again = CliRunner().invoke(cli, ['frames', 'from-vasp', runs[0], '--out', str(out)])
    assert again.exit_code == 1 and '--overwrite' in again.output and out.read_bytes() == before


def test_cli_names_the_missing_incar_tag(tmp_path):
    run = str(FIXTURES / 'dfpt_lepsilon' / 'SiC_lepsilon')
    result = CliRunner().invoke(
        cli, ['frames', 'from-vasp', run, '--require', 'dipole', '--out', str(tmp_path / 'x.xyz')]
    )
    assert result.exit_code == 1 and 'LCALCPOL' in result.output and not (tmp_path / 'x.xyz').exists()
    result = CliRunner().invoke(
        cli,
        [
            'frames',
            'from-vasp',
            str(BTO / PATH[0]),
            '--require',
            'born_charges',
            '--out',
            str(tmp_path / 'y.xyz'),
        ],
    )
    assert result.exit_code == 1 and 'LEPSILON' in result.output
