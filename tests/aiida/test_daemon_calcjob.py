"""A real CalcJob (flexo.polarization) running the aiida-flexo executable through the daemon on core.direct."""

from __future__ import annotations

import pytest

from aiida_flexo.resources import BTO_PATH_STEPS, bundled_path

pytestmark = [pytest.mark.aiida, pytest.mark.backend, pytest.mark.daemon]


def bto_inputs(flexo_code, steps=BTO_PATH_STEPS):
    from aiida import orm

    folder = orm.FolderData(tree=bundled_path('vasp/BTO_221_99_polarization'))
    return {
        'code': flexo_code,
        'outcars': folder,
        'steps': orm.List(list(steps)),
        'metadata': {'label': 'BTO path polarization', 'options': {'max_wallclock_seconds': 600}},
    }


def test_polarization_calcjob_through_the_daemon(flexo_code, submit_and_await):
    from aiida.plugins import CalculationFactory

    node = submit_and_await(CalculationFactory('flexo.polarization'), timeout=180, **bto_inputs(flexo_code))
    assert node.is_finished_ok, (node.exit_status, node.exit_message)
    result = node.outputs.polarization.get_dict()
    assert result['spontaneous_uC_cm2'][2] == pytest.approx(46.29, abs=0.05)
    assert result['quantum_uC_cm2'][2] == pytest.approx(100.07, abs=0.01)
    assert node.outputs.spontaneous.get_array('spontaneous_uC_cm2')[2] == pytest.approx(46.29, abs=0.05)
    assert node.label == 'BTO path polarization'
    # provenance: the result comes from this calculation, which used the stored OUTCARs
    assert node.outputs.polarization.base.links.get_incoming().one().node.pk == node.pk


def test_failed_executable_gives_an_exit_code_with_its_message(flexo_code, submit_and_await, tmp_path):
    from aiida import orm
    from aiida.plugins import CalculationFactory

    step = tmp_path / 'no_lcalcpol'
    step.mkdir()
    source = bundled_path('vasp/BTO_221_99_polarization/polar_polarization/OUTCAR').read_text()
    # a finished OUTCAR without Berry-phase lines: the executable must fail with a clear message
    lines = [line for line in source.splitlines() if 'dipole moment' not in line and 'p[sp' not in line]
    (step / 'OUTCAR').write_text('\n'.join(lines) + '\n')
    inputs = bto_inputs(flexo_code, steps=['no_lcalcpol', 'no_lcalcpol'])
    inputs['outcars'] = orm.FolderData(tree=tmp_path)
    node = submit_and_await(CalculationFactory('flexo.polarization'), timeout=180, **inputs)
    assert node.exit_status == 301
    assert 'LCALCPOL' in node.exit_message
