"""AiiDA profiles, the localhost computer and the codes of aiida-flexo (used by ``aiida-flexo setup``).

Two kinds of profile:

* **embedded** (default): SQLite storage (``core.sqlite_dos``) and the ZeroMQ broker (``core.zeromq``), which needs
  no server: ``submit``, the daemon, ``verdi process list``/``kill``/``pause``/``play`` work on a laptop.
* **production**: PostgreSQL (``core.psql_dos``) and RabbitMQ (``core.rabbitmq``) against running services.

Every step is idempotent: what exists and matches is left alone and reported as such.
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

STORAGE_BACKENDS = {'sqlite': 'core.sqlite_dos', 'postgresql': 'core.psql_dos'}
BROKER_BACKENDS = {'zeromq': 'core.zeromq', 'rabbitmq': 'core.rabbitmq', 'none': None}
DEFAULT_PROFILES = {'sqlite': 'flexo', 'postgresql': 'flexo-production'}
DEFAULT_EMAIL = 'flexo@localhost'
COMPUTER_LABEL = 'localhost'
#: label of the code every aiida-flexo CalcJob runs (the ``aiida-flexo`` console script of this installation)
FLEXO_CODE_LABEL = 'aiida-flexo'
POSTGRES = {'host': '127.0.0.1', 'port': 5432, 'superuser': 'postgres'}
RABBITMQ = {'host': '127.0.0.1', 'port': 5672, 'username': 'guest', 'password': 'guest'}
#: profile options set on every profile made here (seconds)
PROFILE_OPTIONS = {
    'runner.poll.interval': 1,
    'warnings.rabbitmq_version': False,
    'daemon.timeout': 30,
    # reruns reuse finished DFT, training, relaxation and prediction jobs with identical inputs
    'caching.enabled_for': ['aiida.calculations:flexo.*', 'aiida.calculations:vasp.vasp'],
}


#: a profile name is also a folder name (storage, repository) and a database name: nothing else is accepted
PROFILE_NAME = re.compile(r'[A-Za-z0-9][A-Za-z0-9_.-]*')


class SetupError(RuntimeError):
    """Set-up cannot go on (the message says what is wrong and what to do)."""


def validate_profile_name(name: str) -> str:
    """Return ``name`` when it can name a profile (letters, digits, ``-``, ``_``, ``.``), else raise SetupError."""
    if not PROFILE_NAME.fullmatch(name):
        raise SetupError(
            f'invalid profile name {name!r}: use only letters, digits, "-", "_" and "." (starting with a letter or '
            'digit), e.g. --profile flexo-2; nothing was created'
        )
    return name


@dataclass
class SetupReport:
    """What ``setup_profile`` did: ``created`` and ``changed`` list new things, ``unchanged`` what was kept."""

    profile: str
    created: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def is_noop(self) -> bool:
        return not self.created and not self.changed


def service_answers(host: str, port: int, timeout: float = 1.0) -> bool:
    """Whether a TCP service answers at ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def flexo_executable() -> str:
    """Absolute path of this installation's ``aiida-flexo`` console script."""
    candidate = Path(sys.executable).parent / 'aiida-flexo'
    if candidate.is_file():
        return str(candidate)
    found = shutil.which('aiida-flexo')
    if found:
        return str(Path(found).resolve())
    raise SetupError(
        'the aiida-flexo console script is not installed: run `pip install -e .` in the repository'
    )


# --------------------------------------------------------------------------------------------- PostgreSQL


def create_postgres_database(name: str, user: str, password: str) -> dict:
    """Create (if missing) a PostgreSQL role and database through the ``postgres`` superuser (trust auth).

    The database uses the C.UTF-8 locale (``verdi presto --use-postgres`` insists on en_US.UTF-8, which fails on
    machines without it). Returns the ``core.psql_dos`` storage configuration (without ``repository_uri``).
    """
    import psycopg
    from psycopg import sql

    host, port = POSTGRES['host'], POSTGRES['port']
    if not service_answers(host, port):
        raise SetupError(
            f'PostgreSQL does not answer at {host}:{port}: start it (e.g. `pg_ctlcluster 15 main start`) or use '
            '`--storage sqlite`'
        )
    try:
        conn = psycopg.connect(
            host=host, port=port, user=POSTGRES['superuser'], dbname='postgres', autocommit=True
        )
    except psycopg.OperationalError as exc:
        raise SetupError(
            f'cannot connect to PostgreSQL at {host}:{port} as "{POSTGRES["superuser"]}" ({exc}); allow trust or '
            'password authentication for it on 127.0.0.1, or create the database yourself and use `verdi profile '
            'setup core.psql_dos`'
        ) from exc
    with conn:
        if not conn.execute('SELECT 1 FROM pg_roles WHERE rolname = %s', (user,)).fetchone():
            conn.execute(
                sql.SQL('CREATE ROLE {} LOGIN PASSWORD {} CREATEDB').format(
                    sql.Identifier(user), sql.Literal(password)
                )
            )
        if not conn.execute('SELECT 1 FROM pg_database WHERE datname = %s', (name,)).fetchone():
            conn.execute(
                sql.SQL(
                    "CREATE DATABASE {} OWNER {} ENCODING 'UTF8' LC_COLLATE 'C.UTF-8' LC_CTYPE 'C.UTF-8' "
                    'TEMPLATE template0'
                ).format(sql.Identifier(name), sql.Identifier(user))
            )
    return {
        'database_engine': 'postgresql_psycopg',
        'database_hostname': host,
        'database_port': port,
        'database_username': user,
        'database_password': password,
        'database_name': name,
    }


def drop_postgres_database(name: str) -> None:
    """Drop a database made by :func:`create_postgres_database` (used by the tests)."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(
        host=POSTGRES['host'],
        port=POSTGRES['port'],
        user=POSTGRES['superuser'],
        dbname='postgres',
        autocommit=True,
    ) as conn:
        conn.execute(sql.SQL('DROP DATABASE IF EXISTS {} WITH (FORCE)').format(sql.Identifier(name)))


def relax_rabbitmq_consumer_timeout() -> str | None:
    """Switch off RabbitMQ's consumer timeout (30 min by default, it kills long processes).

    Returns a warning message when it could not be done (no ``rabbitmqctl`` or no permission).
    """
    ctl = shutil.which('rabbitmqctl') or (
        '/usr/sbin/rabbitmqctl' if Path('/usr/sbin/rabbitmqctl').exists() else None
    )
    if ctl is None:
        return 'rabbitmqctl not found: set consumer_timeout = undefined in rabbitmq.conf to allow processes > 30 min'
    result = subprocess.run(
        [ctl, 'eval', 'application:set_env(rabbit, consumer_timeout, undefined).'],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if result.returncode != 0:
        return f'could not switch off the RabbitMQ consumer timeout ({result.stderr.strip() or result.stdout.strip()})'
    return None


# ------------------------------------------------------------------------------------------------ profile


def _storage_config(storage: str, profile_name: str, config_dir: Path) -> dict:
    if storage == 'sqlite':
        return {'filepath': str(config_dir / 'storage' / profile_name)}
    database = f'aiida_flexo_{profile_name}'.replace('-', '_')
    conf = create_postgres_database(database, user='aiida_flexo', password='aiida_flexo')
    conf['repository_uri'] = (config_dir / 'repository' / profile_name).as_uri()
    return conf


def _broker_config(broker: str) -> dict | None:
    if broker == 'rabbitmq':
        if not service_answers(RABBITMQ['host'], RABBITMQ['port']):
            raise SetupError(
                f'RabbitMQ does not answer at {RABBITMQ["host"]}:{RABBITMQ["port"]}: start it (`rabbitmq-server '
                '-detached`) or use `--broker zeromq`, which needs no server'
            )
        return {
            'broker_protocol': 'amqp',
            'broker_username': RABBITMQ['username'],
            'broker_password': RABBITMQ['password'],
            'broker_host': RABBITMQ['host'],
            'broker_port': RABBITMQ['port'],
            'broker_virtual_host': '',
        }
    if broker == 'zeromq':
        from aiida.plugins import BrokerFactory

        return BrokerFactory('core.zeromq').get_default_config()
    return None


def ensure_profile(
    report: SetupReport, storage: str = 'sqlite', broker: str = 'zeromq', email: str = DEFAULT_EMAIL
) -> None:
    """Create the profile ``report.profile`` unless it exists; an existing one must match ``storage``/``broker``."""
    from aiida.manage.configuration import create_profile, get_config

    if storage not in STORAGE_BACKENDS:
        raise SetupError(f'unknown storage "{storage}": choose one of {sorted(STORAGE_BACKENDS)}')
    if broker not in BROKER_BACKENDS:
        raise SetupError(f'unknown broker "{broker}": choose one of {sorted(BROKER_BACKENDS)}')
    name = validate_profile_name(report.profile)
    config = get_config(create=True)
    storage_backend, broker_backend = STORAGE_BACKENDS[storage], BROKER_BACKENDS[broker]
    if name in config.profile_names:
        profile = config.get_profile(name)
        if profile.storage_backend != storage_backend or profile.process_control_backend != broker_backend:
            raise SetupError(
                f'profile "{name}" exists with storage {profile.storage_backend} and broker '
                f'{profile.process_control_backend}, not {storage_backend} and {broker_backend}: choose another name '
                'with --profile, or delete it with `verdi profile delete`'
            )
        report.unchanged.append(f'profile {name} ({storage_backend}, {broker_backend})')
    else:
        profile = create_profile(
            config,
            name=name,
            email=email,
            storage_backend=storage_backend,
            storage_config=_storage_config(storage, name, Path(config.dirpath)),
            broker_backend=broker_backend,
            broker_config=_broker_config(broker),
        )
        report.created.append(f'profile {name} ({storage_backend}, {broker_backend})')
    for option, value in PROFILE_OPTIONS.items():
        current = profile.get_option(option, None)
        if current != value:
            config.set_option(option, value, scope=name)
            report.changed.append(f'option {option} = {value}')
    if config.default_profile_name is None:
        config.set_default_profile(name)
        report.changed.append(f'default profile = {name}')
    config.store()
    if broker == 'rabbitmq':
        warning = relax_rabbitmq_consumer_timeout()
        if warning:
            report.warnings.append(warning)


def ensure_computer(report: SetupReport, workdir: str | Path | None = None):
    """The ``localhost`` computer (core.local transport, core.direct scheduler, 1 s poll interval)."""
    from aiida.common.exceptions import NotExistent
    from aiida.orm import Computer, User

    try:
        computer = Computer.collection.get(label=COMPUTER_LABEL)
        report.unchanged.append(f'computer {COMPUTER_LABEL}')
    except NotExistent:
        from aiida.manage import get_manager

        profile = get_manager().get_profile()
        if workdir is None:
            from aiida.manage.configuration import get_config

            workdir = Path(get_config().dirpath) / 'scratch' / profile.name
        computer = Computer(
            label=COMPUTER_LABEL,
            hostname='localhost',
            description='this machine, set up by `aiida-flexo setup`',
            transport_type='core.local',
            scheduler_type='core.direct',
            workdir=str(workdir),
        ).store()
        computer.set_minimum_job_poll_interval(1.0)
        computer.set_default_mpiprocs_per_machine(1)
        report.created.append(f'computer {COMPUTER_LABEL} (core.direct, workdir {workdir})')
    if not computer.is_user_configured(User.collection.get_default()):
        computer.configure(safe_interval=0)
        report.changed.append(f'computer {COMPUTER_LABEL} configured')
    return computer


def ensure_codes(report: SetupReport, computer) -> dict:
    """The codes the CalcJobs of aiida-flexo need on ``computer`` (all run this installation's ``aiida-flexo``)."""
    from aiida.orm import InstalledCode

    executable = flexo_executable()
    codes = {}
    on_computer = [
        code
        for code in InstalledCode.collection.find(filters={'label': FLEXO_CODE_LABEL})
        if code.computer.pk == computer.pk and not code.is_hidden
    ]
    existing = [code for code in on_computer if str(code.filepath_executable) == executable]
    if existing:
        codes[FLEXO_CODE_LABEL] = existing[0]
        report.unchanged.append(f'code {FLEXO_CODE_LABEL}@{computer.label}')
    else:
        for code in on_computer:  # an older installation: hide it, keep its provenance
            code.is_hidden = True
            report.changed.append(
                f'code {code.full_label} (pk {code.pk}) hidden: it points to {code.filepath_executable}'
            )
        code = InstalledCode(
            computer=computer,
            filepath_executable=executable,
            label=FLEXO_CODE_LABEL,
            description='aiida-flexo executables (GNN, MLIP, flexo, open DFT engine)',
            prepend_text='export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}\nexport OPENBLAS_NUM_THREADS=1',
        ).store()
        codes[FLEXO_CODE_LABEL] = code
        report.created.append(f'code {FLEXO_CODE_LABEL}@{computer.label} -> {executable}')
    return codes


def setup_profile(
    profile: str | None = None,
    storage: str = 'sqlite',
    broker: str | None = None,
    email: str = DEFAULT_EMAIL,
    workdir: str | Path | None = None,
) -> SetupReport:
    """Create or complete a profile, its localhost computer and codes; idempotent.

    Args:
        profile: profile name (``flexo`` for SQLite, ``flexo-production`` for PostgreSQL by default).
        storage: ``sqlite`` or ``postgresql``.
        broker: ``zeromq``, ``rabbitmq`` or ``none`` (default: zeromq for SQLite, rabbitmq for PostgreSQL).
        email: the default user's e-mail.
        workdir: the computer's scratch folder (default: ``<AIIDA_PATH>/.aiida/scratch/<profile>``).
    """
    # validated before aiida is imported: a bad name leaves no configuration folder and no half-made profile
    name = validate_profile_name(DEFAULT_PROFILES.get(storage, 'flexo') if profile is None else profile)
    from aiida import load_profile

    broker = broker or ('rabbitmq' if storage == 'postgresql' else 'zeromq')
    report = SetupReport(profile=name)
    ensure_profile(report, storage=storage, broker=broker, email=email)
    load_profile(report.profile, allow_switch=True)
    computer = ensure_computer(report, workdir=workdir)
    ensure_codes(report, computer)
    return report
