"""`aiida-flexo setup` on a fresh AiiDA configuration folder: creates everything once, then is a no-op."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.aiida, pytest.mark.backend]

EXE = str(Path(sys.executable).parent / 'aiida-flexo')


def run_setup(aiida_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, 'AIIDA_PATH': str(aiida_path)}
    return subprocess.run([EXE, 'setup', *args], capture_output=True, text=True, env=env, timeout=300)


def verdi(aiida_path: Path, *args: str) -> str:
    env = {**os.environ, 'AIIDA_PATH': str(aiida_path)}
    verdi_exe = str(Path(sys.executable).parent / 'verdi')
    return subprocess.run(
        [verdi_exe, *args], capture_output=True, text=True, env=env, timeout=300, check=True
    ).stdout


def test_setup_twice_is_a_noop(tmp_path, profile_kind):
    """The embedded default with no options; the production profile on the production run."""
    if profile_kind == 'embedded':
        args: tuple[str, ...] = ()
        name = 'flexo'
    else:
        name = f'flexo-test-{secrets.token_hex(4)}'
        args = ('--profile', name, '--storage', 'postgresql', '--broker', 'rabbitmq')
    try:
        first = run_setup(tmp_path, *args)
        assert first.returncode == 0, first.stderr
        assert f'created:   profile {name}' in first.stdout
        assert 'created:   computer localhost' in first.stdout
        assert 'created:   code aiida-flexo@localhost' in first.stdout
        second = run_setup(tmp_path, *args)
        assert second.returncode == 0, second.stderr
        assert not [line for line in second.stdout.splitlines() if line.startswith(('created:', 'changed:'))]
        assert f'Nothing to do: profile "{name}" is already set up.' in second.stdout
        codes = verdi(tmp_path, '-p', name, 'code', 'list')
        assert 'aiida-flexo@localhost' in codes
        computer = verdi(tmp_path, '-p', name, 'computer', 'show', 'localhost')
        assert 'core.direct' in computer
        profile = verdi(tmp_path, 'profile', 'show', name)
        assert ('core.sqlite_dos' if profile_kind == 'embedded' else 'core.psql_dos') in profile
        assert ('core.zeromq' if profile_kind == 'embedded' else 'core.rabbitmq') in profile
    finally:
        if profile_kind == 'production':
            from aiida_flexo.profiles import drop_postgres_database

            drop_postgres_database(f'aiida_flexo_{name}'.replace('-', '_'))


def test_setup_refuses_a_mismatching_profile(tmp_path):
    first = run_setup(tmp_path, '--profile', 'mine', '--broker', 'none')
    assert first.returncode == 0, first.stderr
    again = run_setup(tmp_path, '--profile', 'mine', '--broker', 'zeromq')
    assert again.returncode != 0
    assert 'exists with storage core.sqlite_dos and broker None' in again.stderr
    assert 'Traceback' not in again.stderr
