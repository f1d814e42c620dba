"""`aiida-flexo wait PK`: its exit status says how the process ended."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from aiida_flexo.cli import main

pytestmark = [pytest.mark.aiida]


def test_wait_reports_how_a_process_ended():
    from aiida import orm
    from aiida.engine import ExitCode, calcfunction

    @calcfunction
    def double(x):
        return orm.Int(2 * x.value)

    @calcfunction
    def refuse(x):
        return ExitCode(320, f'cannot use {x.value}')

    _, good = double.run_get_node(orm.Int(2))
    _, bad = refuse.run_get_node(orm.Int(3))
    runner = CliRunner()
    result = runner.invoke(main, ['wait', str(good.pk), '--timeout', '5'])
    assert result.exit_code == 0 and f'<{good.pk}> finished [0]' in result.output, result.output
    result = runner.invoke(main, ['wait', str(bad.pk), '--timeout', '5'])
    assert result.exit_code == 1 and '[320] cannot use 3' in result.output, result.output
    result = runner.invoke(main, ['wait', str(good.outputs.result.pk)])
    assert result.exit_code == 1 and 'not a process' in result.output
