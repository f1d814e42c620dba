"""Exit statuses: one table per executable, read by the executable, its CalcJob's parser and the restart WorkChains.

Each :class:`ExitStatus` says how an executable run ends: the process exit status the command line returns
(``status``), the AiiDA exit status of the CalcJob that ran it (``exit_code``), its label and message, and whether a
restart handler can act on it (``recoverable``). AiiDA exit statuses follow aiida-core's advice: input errors are
caught by the CalcJobs' port validators before a job is submitted; 3xx are failures a rerun cannot fix; 4xx are
failures a restart WorkChain handles (continue from the work folder, more iterations, more memory). aiida-core's
own 1xx (110 out of memory, 120 out of walltime, 140 node failure) come from the scheduler and are kept.

The tables: :data:`COMMAND_EXIT` (every ``aiida-flexo`` command and every ``flexo.*`` CalcJob),
:data:`aiida_flexo.engines.exit_codes.ENGINE_EXIT` (``aiida-flexo engine``),
:data:`aiida_flexo.mlip.exit_codes.MLIP_EXIT` (``aiida-flexo mlip``). This module imports no AiiDA.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class ExitStatus:
    """One way an executable run ends.

    Attributes:
        name: short name (``NOT_CONVERGED``).
        status: the process exit status of the executable (``None``: the CalcJob's alone, e.g. no status file).
        exit_code: the AiiDA exit status of the CalcJob.
        label: the AiiDA exit code label (``ERROR_NOT_CONVERGED``).
        message: the AiiDA exit message, a template with ``{message}`` (the executable's own) or other fields.
        recoverable: whether a restart WorkChain can act on it (then ``exit_code`` is 4xx).
    """

    name: str
    status: int | None
    exit_code: int
    label: str
    message: str
    recoverable: bool = False

    def __post_init__(self) -> None:
        expected = 4 if self.recoverable else 3
        if self.exit_code // 100 != expected:
            kind = 'recoverable' if self.recoverable else 'unrecoverable'
            raise ValueError(f'{self.label}: a {kind} failure is numbered {expected}xx, got {self.exit_code}')

    def __int__(self) -> int:
        if self.status is None:
            raise ValueError(f'{self.name} is a CalcJob exit code, not a process exit status')
        return self.status

    __index__ = __int__


class ExitTable:
    """The exit statuses of one executable, by name (``TABLE.NOT_CONVERGED``), process status or label."""

    def __init__(self, executable: str, *statuses: ExitStatus):
        self.executable = executable
        self._by_name = {status.name: status for status in statuses}
        for key in ('status', 'exit_code', 'label'):
            values = [getattr(s, key) for s in statuses if getattr(s, key) is not None]
            if len(values) != len(set(values)):
                raise ValueError(f'{executable}: two exit statuses share a {key}')

    def __getattr__(self, name: str) -> ExitStatus:
        try:
            return self.__dict__['_by_name'][name]
        except KeyError:
            raise AttributeError(name) from None

    def __iter__(self) -> Iterator[ExitStatus]:
        return iter(self._by_name.values())

    def by_status(self, status: int) -> ExitStatus | None:
        """The entry of a process exit status, or ``None``."""
        return next((entry for entry in self if entry.status == status), None)

    def labels(self, recoverable: bool | None = None) -> tuple[str, ...]:
        """The labels (only the recoverable or the unrecoverable ones when asked)."""
        return tuple(e.label for e in self if recoverable is None or e.recoverable == recoverable)


#: what every command line and every flexo.* CalcJob can end with (the commands add their own table)
COMMAND_EXIT = ExitTable(
    'aiida-flexo',
    ExitStatus('ERROR', 1, 301, 'ERROR_EXECUTABLE_FAILED', 'the executable failed: {message}'),
    ExitStatus(
        'MISSING_FILE', None, 302, 'ERROR_MISSING_FILE', 'expected output file {filename} was not retrieved'
    ),
    ExitStatus(
        'NO_STATUS',
        None,
        400,
        'ERROR_NO_STATUS',
        'the executable did not finish (killed, out of walltime or memory?); stderr: {stderr}',
        recoverable=True,
    ),
)

#: the command line's own statuses besides 1 (no CalcJob exit code: a bad command line is the CalcJob's bug)
EXIT_USAGE = 2  # click's convention: unknown option, missing argument
EXIT_UNEXPECTED = 70  # an unexpected exception (a traceback on stderr)
EXIT_INTERRUPTED = 130  # interrupted (Ctrl-C, SIGINT)


def markdown_table(*tables: ExitTable) -> str:
    """The tables as one markdown table (for the docs)."""
    lines = [
        '| executable | status | AiiDA exit code | label | recoverable |',
        '|---|---|---|---|---|',
    ]
    for table in tables:
        for entry in table:
            status = '' if entry.status is None else str(entry.status)
            lines.append(
                f'| `{table.executable}` | {status} | {entry.exit_code} | `{entry.label}` | '
                f'{"yes" if entry.recoverable else "no"} |'
            )
    return '\n'.join(lines)
