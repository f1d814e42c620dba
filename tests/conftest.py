"""Test configuration.

The AiiDA test profile comes in two kinds, chosen with ``--profile-kind`` (or ``FLEXO_TEST_PROFILE``):

* ``embedded`` (default): SQLite storage and the ZeroMQ broker (no service needed);
* ``production``: a fresh PostgreSQL database on 127.0.0.1:5432 and RabbitMQ on 127.0.0.1:5672, with a real daemon.

Tests that need a profile are marked ``aiida`` (and ``daemon`` when they need the daemon); ``tools/test.sh`` runs
the whole suite on the embedded profile and the ``backend`` tests again on the production one, where the ``heavy``
daemon tests then run instead of on the embedded profile (see :func:`pytest_collection_modifyitems`).
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

import pytest
from ase import Atoms

from aiida_flexo.resources import bundled_path

pytest_plugins = ['aiida.tools.pytest_fixtures']


def pytest_addoption(parser):
    parser.addoption(
        '--profile-kind',
        choices=['embedded', 'production'],
        default=os.environ.get('FLEXO_TEST_PROFILE', 'embedded'),
        help='AiiDA test profile: embedded (SQLite + ZeroMQ) or production (PostgreSQL + RabbitMQ).',
    )
    parser.addoption(
        '--heavy-in-production',
        action='store_true',
        help='Run the tests marked `heavy` in the production session instead of the embedded one (tools/test.sh, '
        'when both sessions run side by side: it balances their wall times).',
    )


@pytest.fixture(scope='session')
def profile_kind(request) -> str:
    return request.config.getoption('--profile-kind')


def _configure_profile(config, profile, options: dict) -> None:
    """Make the session profile an ordinary one and set its options in the stored configuration (the daemon reads
    them from there).

    It stops being a "test profile" before any broker connection or runner exists. aiida-core gives a
    test profile two behaviours that a daemon-driven suite must not have: every runner, the daemon worker's included,
    polls awaited processes with a 0 s interval (measured: the worker burns ~60 % of a core and a 55 s training job
    took 177 s beside it), and RabbitMQ declares its task queue with a 10 s ``x-expires``, so a daemon restart that
    takes longer than that on a loaded machine deletes the queue with the tasks of every running process in it.
    The profile is still temporary: the fixture creates and removes it (and its database) around the session.
    """
    profile.is_test_profile = False
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
            _configure_profile(aiida_config, p, PROFILE_OPTIONS)
            yield p
        return
    for name, (host, port) in {'PostgreSQL': ('127.0.0.1', 5432), 'RabbitMQ': ('127.0.0.1', 5672)}.items():
        if not service_answers(host, port):
            pytest.exit(
                f'--profile-kind production needs {name} at {host}:{port}, which does not answer',
                returncode=3,
            )
    from aiida.manage import get_manager

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
            _configure_profile(aiida_config, p, PROFILE_OPTIONS)
            yield p
            broker_url = get_manager().get_broker().get_url()
            prefix = f'aiida-{p.uuid}'
    finally:
        get_manager().reset_profile()
        drop_postgres_database(database)
    _delete_rabbitmq_objects(broker_url, prefix)


def _delete_rabbitmq_objects(url: str, prefix: str) -> None:
    """Delete the durable task queue and exchanges of a finished test profile from RabbitMQ."""
    import asyncio

    import aio_pika
    from aiida.brokers.rabbitmq.utils import (
        get_launch_queue_name,
        get_message_exchange_name,
        get_task_exchange_name,
    )

    async def delete() -> None:
        connection = await aio_pika.connect(url)
        async with connection:
            channel = await connection.channel()
            await channel.queue_delete(get_launch_queue_name(prefix))
            for exchange in (get_message_exchange_name(prefix), get_task_exchange_name(prefix)):
                await channel.exchange_delete(exchange)

    asyncio.run(delete())


@pytest.fixture
def flexo_code(aiida_profile):
    """The ``aiida-flexo@localhost`` code, made exactly as ``aiida-flexo setup`` makes it."""
    from aiida_flexo.profiles import SetupReport, ensure_codes, ensure_computer

    report = SetupReport(profile=aiida_profile.name)
    computer = ensure_computer(report)
    return ensure_codes(report, computer)['aiida-flexo']


def pytest_collection_modifyitems(config, items):
    """On the production profile only the tests marked ``backend`` run: those whose behaviour depends on the storage
    and the broker (the pipeline with a daemon restart, caching and provenance queries; a CalcJob's exit codes
    through the daemon; the set-up command; the frames node). Every other test, AiiDA ones included, ran on the
    embedded profile: engines, models and workflows behave the same on both.

    With ``--heavy-in-production`` (both sessions side by side) the daemon tests marked ``heavy`` move from the
    embedded session to the production one, even those also marked ``backend``: each still runs once, on a real
    profile, and the two sessions end closer together (the BaTiO3 pipeline then runs in the production session, the
    silicon pipeline in the embedded one: each profile runs a whole pipeline through its daemon)."""
    production = config.getoption('--profile-kind') == 'production'
    heavy_moved = config.getoption('--heavy-in-production')

    def runs(item) -> bool:
        if production:
            return 'backend' in item.keywords or (heavy_moved and 'heavy' in item.keywords)
        return not (heavy_moved and 'heavy' in item.keywords)

    deselected = [item for item in items if not runs(item)]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = [item for item in items if runs(item)]


# ------------------------------------------------------------------ a tiny Allegro model, trained once per session

#: frames of the bundled BaTiO3 set used to train the tiny model (6 train, 1 validation, 1 test)
N_TINY_FRAMES = 8
TINY_EPOCHS = 3


def cubic_batio3(a: float = 4.0, repeat: tuple[int, int, int] = (1, 1, 1)) -> Atoms:
    """The 5-atom cubic perovskite cell of BaTiO3 (Ba at the origin), repeated."""
    from aiida_flexo.flexo.structures import cubic_perovskite

    return cubic_perovskite(('Ba', 'Ti'), a).repeat(repeat)


@pytest.fixture(scope='session')
def bto_frames():
    from aiida_flexo.data import read_frames

    return read_frames(bundled_path('BaTiO3_qe_berry_bec.xyz'), index=f':{N_TINY_FRAMES}')


@pytest.fixture(scope='session')
def tiny_training(tmp_path_factory, bto_frames):
    """Train a tiny float64 Allegro model with ``aiida-flexo mlip train`` once; return (out_dir, data, metrics)."""
    from click.testing import CliRunner

    from aiida_flexo.cli.mlip import mlip
    from aiida_flexo.data import write_frames

    root = tmp_path_factory.mktemp('mlip')
    data = write_frames(root / 'frames.xyz', bto_frames)
    out = root / 'model'
    args = [
        'train',
        str(data),
        '--out',
        str(out),
        '--model-size',
        'tiny',
        '--dtype',
        'float64',
        '--epochs',
        str(TINY_EPOCHS),
        '--seed',
        '1',
        '--json',
    ]
    result = CliRunner().invoke(mlip, args)
    assert result.exit_code == 0, result.output + (str(result.exception) if result.exception else '')
    metrics = json.loads((out / 'metrics.json').read_text())
    return Path(out), Path(data), metrics


@pytest.fixture(scope='session')
def tiny_model(tiny_training) -> Path:
    return tiny_training[0] / 'model.nequip.zip'


@pytest.fixture(scope='session')
def tiny_calculator(tiny_model):
    from aiida_flexo.mlip import load_calculator

    return load_calculator(tiny_model)


@pytest.fixture(scope='session')
def make_bto():
    """Factory of cubic BaTiO3 cells: ``make_bto(a=4.0, repeat=(1, 1, 1))``."""
    return cubic_batio3


@pytest.fixture(scope='module')
def flexo_code_module(aiida_profile):
    """:func:`flexo_code` for module-scoped fixtures."""
    from aiida_flexo.profiles import SetupReport, ensure_codes, ensure_computer

    report = SetupReport(profile=aiida_profile.name)
    return ensure_codes(report, ensure_computer(report))['aiida-flexo']


@pytest.fixture(scope='module')
def submit_and_await_module(daemon_client):
    """Submit a process to the daemon (started if needed) and wait until it terminates; for module fixtures."""
    import time

    from aiida.engine import submit

    def factory(process, timeout: float = 600, **inputs):
        if not daemon_client.is_daemon_running:
            daemon_client.start_daemon()
        node = submit(process, **inputs)
        start = time.monotonic()
        while not node.is_terminated:
            if time.monotonic() - start > timeout:
                raise TimeoutError(f'{node.process_label}<{node.pk}> did not finish within {timeout} s')
            time.sleep(1)
        return node

    return factory
