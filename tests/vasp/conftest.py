"""Fixtures of the VASP tests: a fake POTCAR family and a ``vasp`` code that replays recorded VASP outputs.

VASP cannot run here. ``replay_vasp.py`` (next to this file) stands in for it: it checks the INCAR, POSCAR and
POTCAR that aiida-vasp wrote against a recorded case (``tests/fixtures/vasp_replay/<case>/case.json``) and copies
that case's real VASP output files into the work directory.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPLAY_SCRIPT = HERE / 'replay_vasp.py'
REPLAY_ROOT = HERE.parent / 'fixtures' / 'vasp_replay'
FAMILY = 'flexo-test-fake-PBE'
CODE_LABEL = 'replay-vasp'

#: POTCAR symbol -> (TITEL date, VRHFIN, POMASS, ZVAL, ENMAX) of the PAW_PBE datasets used by the recorded runs.
FAKE_POTCARS = {
    'Ba_sv': ('06Sep2000', 'Ba: 5s5p6s', 137.327, 10.0, 187.181),
    'Ti_pv': ('07Sep2000', 'Ti: 3p4s3d', 47.880, 10.0, 222.335),
    'O': ('08Apr2002', 'O: s2p4', 16.000, 6.0, 400.000),
    'La': ('06Sep2000', 'La: 5s5p5d6s', 138.900, 11.0, 219.313),
    'Ga_d': ('06Jul2010', 'Ga: d s p', 69.723, 13.0, 282.691),
    'Si': ('05Jan2001', 'Si: s2p2', 28.085, 4.0, 245.345),
    'C': ('08Apr2002', 'C: s2p2', 12.011, 4.0, 400.000),
    'Zn': ('06Sep2000', 'Zn: d10 p2', 65.390, 12.0, 276.740),
    'P': ('06Sep2000', 'P : s2p3', 30.974, 5.0, 255.040),
    'S': ('06Sep2000', 'S : s2p4', 32.066, 6.0, 258.689),
    'H': ('15Jun2001', 'H: ultrasoft test', 1.000, 1.0, 250.000),
    'Pt': ('04Feb2005', 'Pt: s1d9', 195.080, 10.0, 230.283),
}


def fake_potcar_text(symbol: str) -> str:
    """A POTCAR with a real header (what aiida-vasp and the replayer read) and no pseudopotential data."""
    date, vrhfin, pomass, zval, enmax = FAKE_POTCARS[symbol]
    title = f'PAW_PBE {symbol} {date}'
    return (
        f'  {title}\n'
        f'   {zval:.10f}\n'
        ' parameters from PSCTR are:\n'
        f'   VRHFIN ={vrhfin}\n'
        '   LEXCH  = PE\n'
        '   EATOM  =     0.0000 eV,    0.0000 Ry\n'
        '\n'
        f'   TITEL  = {title}\n'
        '   LULTRA =        F    use ultrasoft PP ?\n'
        '   IUNSCR =        1    unscreen: 0-lin 1-nonlin 2-no\n'
        '   RPACOR =    0.000    partial core radius\n'
        f'   POMASS =  {pomass:.3f}; ZVAL   =   {zval:.3f}    mass and valenz\n'
        '   RCORE  =    2.000    outmost cutoff radius\n'
        '   RWIGS  =    2.000; RWIGS  =    1.000    wigner-seitz radius (au A)\n'
        f'   ENMAX  =  {enmax:.3f}; ENMIN  =  {0.75 * enmax:.3f} eV\n'
        '   LCOR   =        T    correct aug charges\n'
        '   LPAW   =        T    paw PP\n'
        '   EAUG   =  500.000\n'
        '   RMAX   =    2.500    core radius for proj-oper\n'
        ' END of PSCTR-controll parameters\n'
        ' aiida-flexo test POTCAR: header only, no pseudopotential data (VASP cannot run with it)\n'
        ' End of Dataset\n'
    )


@pytest.fixture(scope='module')
def fake_potcar_family(aiida_profile, tmp_path_factory) -> str:
    """The POTCAR family ``flexo-test-fake-PBE`` (fake POTCARs with real headers), uploaded once per profile."""
    from aiida_vasp.data.potcar import PotcarData

    if PotcarData.get_potcar_group(FAMILY) is None:
        root = tmp_path_factory.mktemp('potcars') / 'potpaw_PBE_fake'
        for symbol in FAKE_POTCARS:
            folder = root / symbol
            folder.mkdir(parents=True)
            (folder / 'POTCAR').write_text(fake_potcar_text(symbol))
        PotcarData.upload_potcar_family(
            str(root), FAMILY, 'aiida-flexo tests: fake POTCARs', stop_if_existing=False
        )
    return FAMILY


@pytest.fixture(scope='module')
def replay_code(aiida_profile, tmp_path_factory):
    """An InstalledCode ``replay-vasp@localhost`` running ``replay_vasp.py`` with this interpreter."""
    from aiida import orm
    from aiida.common.exceptions import NotExistent

    from aiida_flexo.profiles import SetupReport, ensure_computer

    computer = ensure_computer(SetupReport(profile=aiida_profile.name))
    try:
        return orm.load_code(f'{CODE_LABEL}@{computer.label}')
    except NotExistent:
        pass
    wrapper = tmp_path_factory.mktemp('replay') / 'vasp'
    wrapper.write_text(f'#!/bin/bash\nexec {sys.executable} {REPLAY_SCRIPT} "$@"\n')
    wrapper.chmod(0o755)
    code = orm.InstalledCode(
        label=CODE_LABEL,
        computer=computer,
        filepath_executable=str(wrapper),
        default_calc_job_plugin='vasp.vasp',
        description='replays recorded VASP outputs (tests only)',
        prepend_text=f'export FLEXO_VASP_REPLAY_ROOT={REPLAY_ROOT}',
    )
    return code.store()
