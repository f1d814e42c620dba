"""The quickstart's closing words: it leaves the profile's daemon running and says how to stop it."""

from __future__ import annotations

from aiida_flexo.cli.quickstart import daemon_note


def test_quickstart_says_the_daemon_runs_and_how_to_stop_it():
    note = daemon_note('flexo-demo')
    assert 'still running' in note and '`verdi -p flexo-demo daemon stop`' in note
