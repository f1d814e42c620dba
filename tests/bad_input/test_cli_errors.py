"""The command line's top-level error handler: one line per error, never a bare traceback, documented exit statuses."""

from __future__ import annotations

import json

import click
import pytest

from aiida_flexo.cli import EXIT_ERROR, EXIT_UNEXPECTED, main, run
from aiida_flexo.data.frames import FramesError


@pytest.fixture
def command(monkeypatch, tmp_path):
    """Register a throw-away subcommand raising the exception it is given; logs go to tmp_path/logs."""
    monkeypatch.setenv('AIIDA_FLEXO_LOG_DIR', str(tmp_path / 'logs'))
    raised: dict[str, BaseException] = {}

    @click.command('raise-for-test')
    def raise_for_test() -> None:
        raise raised['exc']

    main.add_command(raise_for_test)
    yield raised
    main.commands.pop('raise-for-test')


def _run(args: list[str]) -> int:
    with pytest.raises(SystemExit) as stop:
        run(args)
    return stop.value.code


def test_unexpected_error_is_one_line_and_a_log(command, tmp_path, capsys):
    command['exc'] = ZeroDivisionError('division by zero in the test')
    status = _run(['raise-for-test'])
    err = capsys.readouterr().err
    assert status == EXIT_UNEXPECTED
    assert 'Traceback' not in err
    assert len(err.strip().splitlines()) == 1
    assert 'ZeroDivisionError: division by zero in the test' in err
    logs = list((tmp_path / 'logs').glob('*.log'))
    assert len(logs) == 1 and str(logs[0]) in err
    assert 'Traceback' in logs[0].read_text() and 'raise_for_test' in logs[0].read_text()


@pytest.mark.parametrize(
    'exc',
    [FramesError('frame 3 has NaN forces: fix or drop it'), FileNotFoundError('no such file: x.xyz')],
    ids=['frames-error', 'missing-file'],
)
def test_known_error_is_one_line_without_log(command, tmp_path, capsys, exc):
    command['exc'] = exc
    status = _run(['raise-for-test'])
    err = capsys.readouterr().err
    assert status == EXIT_ERROR
    assert err.strip() == f'Error: {exc}'
    assert not (tmp_path / 'logs').exists()


def test_status_file_records_the_unexpected_error(command, tmp_path, capsys):
    """In a CalcJob (--status-file) the parser reads the status; the traceback goes to the retrieved stderr."""
    command['exc'] = RuntimeError('engine blew up')
    status_file = tmp_path / 'status.json'
    status = _run(['--status-file', str(status_file), 'raise-for-test'])
    recorded = json.loads(status_file.read_text())
    assert status == recorded['exit_status'] == EXIT_UNEXPECTED
    assert recorded['message'] == 'RuntimeError: engine blew up'
    assert 'Traceback' in capsys.readouterr().err


def test_usage_error_exit_status_2(capsys):
    assert _run(['gnn', 'train']) == 2
    assert 'Missing argument' in capsys.readouterr().err
