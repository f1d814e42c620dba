"""One exit-status table per executable: the commands, the CalcJobs, the parsers and the restart WorkChains read the
same entries, numbered as aiida-core advises (3xx a rerun cannot fix, 4xx a restart handles)."""

from __future__ import annotations

import pytest

from aiida_flexo.engines.exit_codes import ENGINE_EXIT, ExitCode
from aiida_flexo.exit_codes import COMMAND_EXIT, ExitStatus, ExitTable
from aiida_flexo.mlip.exit_codes import MLIP_EXIT


def test_numbering_follows_recoverability():
    for table in (COMMAND_EXIT, ENGINE_EXIT, MLIP_EXIT):
        for entry in table:
            assert entry.exit_code // 100 == (4 if entry.recoverable else 3), entry
    with pytest.raises(ValueError, match='numbered 4xx'):
        ExitStatus('X', 9, 309, 'ERROR_X', '{message}', recoverable=True)
    with pytest.raises(ValueError, match='share a status'):
        ExitTable('x', ExitStatus('A', 3, 303, 'ERROR_A', ''), ExitStatus('B', 3, 304, 'ERROR_B', ''))


def test_the_engine_enum_is_the_table():
    assert {e.name: int(e) for e in ExitCode if e.name != 'OK'} == {e.name: e.status for e in ENGINE_EXIT}
    assert int(MLIP_EXIT.NOT_CONVERGED) == 3 and MLIP_EXIT.by_status(5) is MLIP_EXIT.MISSING_SPECIES


def _calcjobs():
    from aiida_flexo.calcjobs.gnn import GnnTrainCalculation
    from aiida_flexo.calcjobs.gpaw import GpawCalculation
    from aiida_flexo.calcjobs.mlip import (
        MlipMdCalculation,
        MlipRelaxCalculation,
        MlipSampleCalculation,
        MlipTrainCalculation,
    )

    return [
        (GpawCalculation, ENGINE_EXIT),
        (MlipTrainCalculation, MLIP_EXIT),
        (MlipRelaxCalculation, MLIP_EXIT),
        (MlipMdCalculation, MLIP_EXIT),
        (MlipSampleCalculation, MLIP_EXIT),
        (GnnTrainCalculation, None),
    ]


@pytest.mark.parametrize('index', range(6))
def test_calcjobs_declare_their_tables_exit_codes(index):
    process, table = _calcjobs()[index]
    declared = process.spec().exit_codes
    for entry in [*COMMAND_EXIT, *(table or [])]:
        assert declared[entry.label].status == entry.exit_code, (process.__name__, entry.label)
        assert declared[entry.label].message == entry.message


def test_parsers_map_each_status_of_their_table():
    from aiida_flexo.calcjobs.gpaw import GpawParser
    from aiida_flexo.calcjobs.mlip import MlipRelaxParser

    assert GpawParser.EXIT_TABLE is ENGINE_EXIT and MlipRelaxParser.EXIT_TABLE is MLIP_EXIT
    assert (MLIP_EXIT.NOT_CONVERGED.status,) == MlipRelaxParser.PARSE_ON_STATUS


def test_the_gpaw_restart_stops_on_exactly_the_unrecoverable_entries():
    from aiida_flexo.workflows.gpaw_base import NOT_RECOVERABLE, GpawBaseWorkChain

    assert set(NOT_RECOVERABLE) == {e.label for e in ENGINE_EXIT if not e.recoverable}
    assert 'ERROR_SCF_NOT_CONVERGED' not in NOT_RECOVERABLE
    declared = GpawBaseWorkChain.spec().exit_codes
    for label in NOT_RECOVERABLE:
        assert declared[label].status == next(e.exit_code for e in ENGINE_EXIT if e.label == label)
