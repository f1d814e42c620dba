"""The GPAW parser on recorded outputs, without a daemon (aiida-quantumespresso's style).

``aiida-flexo --status-file _flexo_status.json engine gpaw input.json`` runs in a folder on minimal settings, as the
``flexo.gpaw`` CalcJob runs it; its files become the ``retrieved`` folder of a CalcJobNode of that CalcJob and the
parser is called on it: a finished run, an SCF stopped at its iteration limit (420, results still parsed for the
restart handler), a species without a PAW setup (312).
"""

from __future__ import annotations

import json

import pytest
from tests_helpers import GPAW_REASON, calc_node, gpaw_available

pytestmark = [pytest.mark.aiida, pytest.mark.skipif(not gpaw_available(), reason=GPAW_REASON)]

GPAW = 'aiida.calculations:flexo.gpaw'
#: SiC at 250 eV on a 2×2×2 mesh: seconds
SETTINGS = {'protocol': 'fast', 'cutoff': 250.0, 'kpoints': [2, 2, 2], 'stress': False}


def _recorded(folder, monkeypatch, symbols: str = 'SiC', **settings) -> tuple[int, object]:
    """Run the engine in ``folder`` as the CalcJob does; (exit status, a CalcJobNode with the files retrieved)."""
    import contextlib
    import io

    from ase.build import bulk
    from ase.io import write

    from aiida_flexo.cli import run
    from aiida_flexo.engines.inputs import EngineInputs

    atoms = bulk(symbols, 'zincblende', a=4.36) if symbols == 'SiC' else bulk(symbols, 'sc', a=3.35)
    write(folder / 'structure.xyz', atoms, format='extxyz')
    (folder / 'input.json').write_text(json.dumps(EngineInputs(**{**SETTINGS, **settings}).to_dict()))
    monkeypatch.chdir(folder)
    stderr = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(stderr):
        try:
            run(['--status-file', '_flexo_status.json', 'engine', 'gpaw', 'input.json'])
        except SystemExit as exc:
            status = int(exc.code or 0)
    (folder / 'aiida.err').write_text(stderr.getvalue())
    return status, folder


def _parse(code, folder):
    from aiida import orm
    from aiida.common.links import LinkType

    from aiida_flexo.calcjobs.gpaw import GpawParser

    node = calc_node(code, 0, GPAW, remote=False)
    retrieved = orm.FolderData()
    for name in ('results.json', 'labelled.xyz', 'aiida.err', '_flexo_status.json'):
        if (folder / name).is_file():
            retrieved.base.repository.put_object_from_file(str(folder / name), name)
    retrieved.base.links.add_incoming(node, link_type=LinkType.CREATE, link_label='retrieved')
    retrieved.store()
    parser = GpawParser(node)
    return parser.parse(), parser.outputs


def test_a_finished_run_gives_its_frame_and_results(flexo_code, tmp_path, monkeypatch):
    status, folder = _recorded(tmp_path, monkeypatch)
    assert status == 0
    code, outputs = _parse(flexo_code, folder)
    assert code.status == 0
    (frame,) = outputs.frame.get_frames()
    results = outputs.results.get_dict()
    assert frame.info['energy'] == pytest.approx(results['energy'])
    assert frame.get_chemical_formula() == 'CSi' and results['kpoint_mesh'] == [2, 2, 2]


def test_an_scf_at_its_iteration_limit_is_420_and_keeps_its_results(flexo_code, tmp_path, monkeypatch):
    status, folder = _recorded(tmp_path, monkeypatch, max_scf_iterations=2)
    assert status == 20
    code, outputs = _parse(flexo_code, folder)
    assert code.status == 420 and code.message.startswith('the SCF did not converge')
    assert 'results' in outputs  # the restart handler reads the stages already done


def test_a_species_without_a_paw_setup_is_312(flexo_code, tmp_path, monkeypatch):
    status, folder = _recorded(tmp_path, monkeypatch, symbols='Po')
    assert status == 12
    code, _ = _parse(flexo_code, folder)
    assert code.status == 312 and 'Po' in code.message
