"""Test configuration.

The AiiDA test profile comes in two kinds, chosen with ``--profile-kind`` (or ``FLEXO_TEST_PROFILE``):

* ``embedded`` (default): SQLite storage and the ZeroMQ broker (no service needed);
* ``production``: a fresh PostgreSQL database on 127.0.0.1:5432 and RabbitMQ on 127.0.0.1:5672, with a real daemon.

Tests that need a profile are marked ``aiida`` (and ``daemon`` when they need the daemon); ``tools/test.sh`` runs
the whole suite on the embedded profile and the ``aiida`` tests again on the production one.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import pytest

pytest_plugins = ['aiida.tools.pytest_fixtures']


def pytest_addoption(parser):
    parser.addoption(
        '--profile-kind',
        choices=['embedded', 'production'],
        default=os.environ.get('FLEXO_TEST_PROFILE', 'embedded'),
        help='AiiDA test profile: embedded (SQLite + ZeroMQ) or production (PostgreSQL + RabbitMQ).',
    )


@pytest.fixture(scope='session')
def profile_kind(request) -> str:
    return request.config.getoption('--profile-kind')


def _set_options(config, profile, options: dict) -> None:
    """Set profile options in the stored configuration (the daemon reads them from there)."""
    for option, value in options.items():
        config.set_option(option, value, scope=profile.name)
        profile.set_option(option, value)
    config.store()


@pytest.fixture(scope='session')
def aiida_profile(aiida_config, aiida_profile_factory, profile_kind):
    """The session's AiiDA profile, of the kind asked for (overrides aiida-core's fixture)."""
    from aiida_flexo.profiles import (
        PROFILE_OPTIONS,
        create_postgres_database,
        drop_postgres_database,
        service_answers,
    )

    if profile_kind == 'embedded':
        with aiida_profile_factory(
            aiida_config, storage_backend='core.sqlite_dos', broker_backend='core.zeromq'
        ) as p:
            _set_options(aiida_config, p, PROFILE_OPTIONS)
            yield p
        return
    for name, (host, port) in {'PostgreSQL': ('127.0.0.1', 5432), 'RabbitMQ': ('127.0.0.1', 5672)}.items():
        if not service_answers(host, port):
            pytest.exit(
                f'--profile-kind production needs {name} at {host}:{port}, which does not answer',
                returncode=3,
            )
    database = f'flexo_test_{secrets.token_hex(6)}'
    storage_config = create_postgres_database(database, user='aiida_flexo_test', password='aiida_flexo_test')
    storage_config['repository_uri'] = (Path(aiida_config.dirpath) / f'repo_{database}').as_uri()
    try:
        with aiida_profile_factory(
            aiida_config,
            storage_backend='core.psql_dos',
            storage_config=storage_config,
            broker_backend='core.rabbitmq',
        ) as p:
            _set_options(aiida_config, p, PROFILE_OPTIONS)
            yield p
    finally:
        from aiida.manage import get_manager

        get_manager().reset_profile()
        drop_postgres_database(database)


@pytest.fixture
def flexo_code(aiida_profile):
    """The ``aiida-flexo@localhost`` code, made exactly as ``aiida-flexo setup`` makes it."""
    from aiida_flexo.profiles import SetupReport, ensure_codes, ensure_computer

    report = SetupReport(profile=aiida_profile.name)
    computer = ensure_computer(report)
    return ensure_codes(report, computer)['aiida-flexo']


def pytest_collection_modifyitems(config, items):
    """On the production profile only the tests marked ``aiida`` run (the others ran on the embedded one)."""
    if config.getoption('--profile-kind') != 'production':
        return
    deselected = [item for item in items if 'aiida' not in item.keywords]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = [item for item in items if 'aiida' in item.keywords]
