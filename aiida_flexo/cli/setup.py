"""``aiida-flexo setup``: profile, localhost computer and codes, idempotent."""

from __future__ import annotations

import click

from aiida_flexo.cli import fail


@click.command('setup')
@click.option(
    '--profile', 'profile_name', default=None, help='Profile name [default: flexo, or flexo-production].'
)
@click.option(
    '--storage',
    type=click.Choice(['sqlite', 'postgresql']),
    default='sqlite',
    show_default=True,
    help='sqlite: embedded, no service; postgresql: the running server at 127.0.0.1:5432.',
)
@click.option(
    '--broker',
    type=click.Choice(['zeromq', 'rabbitmq', 'none']),
    default=None,
    help='zeromq needs no server; rabbitmq uses 127.0.0.1:5672; none: no daemon. '
    '[default: zeromq with sqlite, rabbitmq with postgresql]',
)
@click.option('--email', default='flexo@localhost', show_default=True, help='E-mail of the default user.')
def setup(profile_name: str | None, storage: str, broker: str | None, email: str) -> None:
    """Set up an AiiDA profile, the localhost computer (core.direct) and the aiida-flexo codes.

    With no options: the embedded profile "flexo" (SQLite, ZeroMQ broker: submit, the daemon and `verdi process
    list` work without any service). With --storage postgresql --broker rabbitmq: the production profile
    "flexo-production" against the running services. Running it again changes nothing and says so.
    """
    from aiida_flexo.profiles import SetupError, setup_profile

    try:
        report = setup_profile(profile_name, storage=storage, broker=broker, email=email)
    except SetupError as exc:
        fail(str(exc))
    for item in report.created:
        click.echo(f'created:   {item}')
    for item in report.changed:
        click.echo(f'changed:   {item}')
    for item in report.unchanged:
        click.echo(f'unchanged: {item}')
    for item in report.warnings:
        click.echo(f'Warning: {item}', err=True)
    if report.is_noop:
        click.echo(f'Nothing to do: profile "{report.profile}" is already set up.')
    else:
        click.echo(
            f'Profile "{report.profile}" is ready: `verdi -p {report.profile} daemon start` to run processes.'
        )
