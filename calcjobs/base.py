"""Common ground of the aiida-flexo CalcJobs and parsers.

Every aiida-flexo CalcJob runs the ``aiida-flexo`` console script of the installation on the target computer (the
code ``aiida-flexo@<computer>`` made by ``aiida-flexo setup``) as
``aiida-flexo --status-file _flexo_status.json <subcommand> <args> [--json]``: the command writes its files into the
working folder, a JSON summary to stdout (``aiida.out``) and, however it ends, its exit status and message to the
status file (the scheduler does not record exit statuses). Parsers map a non-zero status to an exit code of the
CalcJob (the ``EXIT_TABLE`` of the parser, :mod:`aiida_flexo.exit_codes`, else ``ERROR_EXECUTABLE_FAILED`` with the executable's message),
and a missing status file (killed, out of walltime) to ``ERROR_NO_STATUS`` unless the scheduler's output parser
already gave a verdict (aiida-core's 110 out of memory, 120 out of walltime, ...), which the parser then keeps, so
that restart handlers see the real cause.

A CalcJob with ``RESUMABLE = True`` takes a ``parent_folder`` (the ``remote_folder`` of an earlier run of the same
calculation): everything in it is copied into the new working folder before the new inputs are written, and the
executable is asked to continue from what it finds there (the training restart WorkChains use it).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import ClassVar

from aiida import orm
from aiida.common.datastructures import CalcInfo, CodeInfo, FileCopyOperation
from aiida.engine import CalcJob, ExitCode
from aiida.parsers import Parser

from aiida_flexo.exit_codes import COMMAND_EXIT, ExitTable
from aiida_flexo.settings import parse_parameters, to_arguments

STDOUT = 'aiida.out'
STDERR = 'aiida.err'
STATUS_FILE = '_flexo_status.json'


def serial_options(max_wallclock_seconds: int | None = None, threads: int | None = None) -> dict:
    """Scheduler options of one process (a new dict each call), optionally with a walltime in s.

    The default resources of every :class:`FlexoCalcJob`; builders pass them explicitly where a namespace exposed
    with ``populate_defaults=False`` does not inherit CalcJob defaults. ``threads``: torch/OpenMP threads of the
    process (``OMP_NUM_THREADS`` in the job environment, which the code's ``${OMP_NUM_THREADS:-1}`` keeps, and
    that many cores reserved per process); default one thread (several serial jobs share a machine).
    """
    options: dict = {'resources': {'num_machines': 1, 'num_mpiprocs_per_machine': 1}}
    if max_wallclock_seconds is not None:
        options['max_wallclock_seconds'] = int(max_wallclock_seconds)
    if threads is not None:
        if threads < 1:
            raise ValueError(f'threads must be at least 1, got {threads}')
        options['resources']['num_cores_per_mpiproc'] = int(threads)
        options['environment_variables'] = {'OMP_NUM_THREADS': str(int(threads))}
    return options


#: exit codes of a job killed from outside, whose work folder (checkpoints, finished stages) a restart can continue
#: from: no status file (a kill), and aiida-core's verdicts of the scheduler's output parser
KILLED_EXIT_CODES = ('ERROR_NO_STATUS', 'ERROR_SCHEDULER_OUT_OF_WALLTIME', 'ERROR_SCHEDULER_NODE_FAILURE')


#: CalcJob options that belong to one process class, not to the scheduler (never copied to another CalcJob)
PROCESS_SPECIFIC_OPTIONS = ('parser_name', 'input_filename', 'output_filename')


def scheduler_options(options) -> dict:
    """The scheduler part of a CalcJob's ``metadata.options`` (resources, walltime, queue...), to pass on."""
    return {k: v for k, v in dict(options or {}).items() if k not in PROCESS_SPECIFIC_OPTIONS}


def settings_validator(table: Callable[[], dict], build: Callable[[dict], object] | None = None):
    """A port validator of a ``parameters`` Dict of the settings of ``table`` (a function returning
    ``{name: Setting}``, :mod:`aiida_flexo.settings`): every name, value type and, with ``build`` (a function of the
    parsed values that raises ``ValueError``), the values together."""

    def validator(value, _):
        if value is None:
            return None
        try:
            values = parse_parameters(value.get_dict(), table())
            if build is not None:
                build(values)
        except (TypeError, ValueError) as exc:
            return f'parameters: {exc}'
        return None

    return validator


def settings_input(
    spec, table: Callable[[], dict], build: Callable[[dict], object] | None = None, **kwargs
) -> None:
    """The optional ``parameters`` Dict input of a CalcJob whose executable takes the settings of ``table``,
    checked by :func:`settings_validator` before the job is submitted."""
    names = ', '.join(table())
    spec.input(
        'parameters',
        valid_type=orm.Dict,
        required=False,
        validator=settings_validator(table, build),
        help=kwargs.pop('help', f'Settings (their names; defaults of the executable): {names}.'),
        **kwargs,
    )


def settings_arguments(inputs, table: Callable[[], dict]) -> list[str]:
    """The command-line options of a CalcJob's ``parameters`` input (none when absent)."""
    parameters = inputs.parameters.get_dict() if 'parameters' in inputs else {}
    return to_arguments(parameters, table())


def declare_exit_codes(spec, table: ExitTable) -> None:
    """Declare the AiiDA exit codes of an executable's table (:mod:`aiida_flexo.exit_codes`) on a process spec;
    failures that may leave a wrong or partial output invalidate the cache."""
    for entry in table:
        spec.exit_code(
            entry.exit_code,
            entry.label,
            message=entry.message,
            invalidates_cache=entry.label in ('ERROR_NO_STATUS', 'ERROR_EXECUTABLE_FAILED'),
        )


class FlexoCalcJob(CalcJob):
    """Base class: runs ``aiida-flexo <subcommand> <args> --json`` in the working folder.

    Subclasses set ``SUBCOMMAND`` (a tuple of CLI words), ``RETRIEVE`` (files to retrieve besides stdout/stderr)
    and implement :meth:`write_inputs` (copy input files into the folder) and :meth:`command_arguments` (the CLI
    arguments after the subcommand).
    """

    SUBCOMMAND: ClassVar[tuple[str, ...]] = ()
    RETRIEVE: ClassVar[tuple[str, ...]] = ()
    #: whether the subcommand takes ``--json`` (its summary then lands in ``aiida.out``)
    JSON_SUMMARY: ClassVar[bool] = True
    #: whether the calculation continues from a ``parent_folder`` (a copy of an earlier run's working folder)
    RESUMABLE: ClassVar[bool] = False

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.inputs['metadata']['options']['resources'].default = serial_options()['resources']
        spec.inputs['metadata']['options']['withmpi'].default = False
        spec.inputs['metadata']['options']['output_filename'].default = STDOUT
        spec.inputs['metadata']['options']['scheduler_stdout'].default = '_scheduler-stdout.txt'
        spec.inputs['metadata']['options']['scheduler_stderr'].default = '_scheduler-stderr.txt'
        if cls.RESUMABLE:
            spec.input(
                'parent_folder',
                valid_type=orm.RemoteData,
                required=False,
                help='Working folder of an earlier run of this calculation (killed, out of walltime, or stopped by '
                'its time limit): copied here, and the run continues from its checkpoint.',
            )
        declare_exit_codes(spec, COMMAND_EXIT)

    def write_text(self, folder, name: str, text: str) -> None:
        """Write an input file into the sandbox folder."""
        with folder.open(name, 'w') as handle:
            handle.write(text)

    def write_inputs(self, folder) -> list[tuple[str, str, str]]:
        """Write inputs into the sandbox ``folder``; return the local copy list (uuid, source, target)."""
        return []

    def command_arguments(self) -> list[str]:
        raise NotImplementedError

    def resume_arguments(self) -> list[str]:
        """Extra CLI arguments when continuing from ``parent_folder``."""
        return ['--resume']

    def prepare_for_submission(self, folder):
        local_copy_list = self.write_inputs(folder)
        codeinfo = CodeInfo()
        codeinfo.code_uuid = self.inputs.code.uuid
        json_flag = ['--json'] if self.JSON_SUMMARY else []
        codeinfo.cmdline_params = [
            '--status-file',
            STATUS_FILE,
            *self.SUBCOMMAND,
            *self.command_arguments(),
            *(self.resume_arguments() if 'parent_folder' in self.inputs else []),
            *json_flag,
        ]
        codeinfo.stdout_name = STDOUT
        codeinfo.stderr_name = STDERR
        calcinfo = CalcInfo()
        calcinfo.codes_info = [codeinfo]
        calcinfo.local_copy_list = local_copy_list
        calcinfo.retrieve_list = [STDOUT, STDERR, STATUS_FILE, *self.RETRIEVE]
        if 'parent_folder' in self.inputs:
            parent = self.inputs.parent_folder
            if parent.computer.uuid != self.inputs.code.computer.uuid:
                raise ValueError(
                    f'parent_folder is on computer {parent.computer.label}, the code runs on '
                    f'{self.inputs.code.computer.label}: a run continues on the computer that holds its checkpoint'
                )
            # the earlier folder first, then this run's own files over it (inputs, submit script)
            calcinfo.remote_copy_list = [(parent.computer.uuid, f'{parent.get_remote_path()}/*', '.')]
            calcinfo.file_copy_operation_order = [
                FileCopyOperation.REMOTE,
                FileCopyOperation.SANDBOX,
                FileCopyOperation.LOCAL,
            ]
        return calcinfo


class FlexoParser(Parser):
    """Base parser: checks the executable's exit status, reads the JSON summary; subclasses implement
    :meth:`parse_summary`. ``EXIT_TABLE`` is the executable's exit-status table (:mod:`aiida_flexo.exit_codes`):
    a status found there becomes its exit code, any other non-zero one ``ERROR_EXECUTABLE_FAILED``.
    """

    EXIT_TABLE: ClassVar[ExitTable] = COMMAND_EXIT
    #: executable exit statuses after which the outputs are still parsed (e.g. an unconverged relaxation, whose
    #: last frame a restart continues from) before the mapped exit code is returned
    PARSE_ON_STATUS: ClassVar[tuple[int, ...]] = ()

    def _text(self, name: str) -> str:
        names = self.retrieved.base.repository.list_object_names()
        return self.retrieved.base.repository.get_object_content(name) if name in names else ''

    def _bytes(self, name: str) -> bytes | None:
        if name not in self.retrieved.base.repository.list_object_names():
            return None
        return self.retrieved.base.repository.get_object_content(name, mode='rb')

    def out_file(self, label: str, name: str) -> bool:
        """Attach the retrieved file ``name`` as a SinglefileData output ``label``; False when it is missing."""
        import io

        content = self._bytes(name)
        if not content:
            return False
        self.out(label, orm.SinglefileData(io.BytesIO(content), filename=name))
        return True

    def read_status(self) -> dict | None:
        """``{"exit_status": int, "message": str}`` written by the executable, or None if it never finished."""
        text = self._text(STATUS_FILE)
        return json.loads(text) if text.strip() else None

    def read_summary(self) -> dict | None:
        """The JSON summary printed on stdout, or None."""
        stdout = self._text(STDOUT)
        try:
            return json.loads(stdout) if stdout.strip() else None
        except json.JSONDecodeError:
            return None

    def status_exit_code(self, status: dict) -> ExitCode:
        message = status.get('message') or self._text(STDERR).strip()[-2000:] or '(no message)'
        entry = self.EXIT_TABLE.by_status(status['exit_status']) or COMMAND_EXIT.ERROR
        return getattr(self.exit_codes, entry.label).format(message=message)

    def scheduler_verdict(self) -> ExitCode | None:
        """The exit code the scheduler's output parser set (aiida-core 110 out of memory, 120 out of walltime, ...),
        or None."""
        status = self.node.exit_status
        if status is None or status == 0:
            return None
        return ExitCode(status, self.node.exit_message or '')

    def parse(self, **kwargs):
        status = self.read_status()
        if status is None:
            stderr = self._text(STDERR).strip()[-2000:] or '(empty)'
            self.parse_partial()
            # the scheduler knows why the job died (memory, walltime, node failure): keep its verdict
            return self.scheduler_verdict() or self.exit_codes.ERROR_NO_STATUS.format(stderr=stderr)
        code = status['exit_status']
        if code != 0 and code not in self.PARSE_ON_STATUS:
            self.parse_partial()
            return self.status_exit_code(status)
        summary = self.read_summary()
        if summary is None and self.node.process_class.JSON_SUMMARY:
            return self.exit_codes.ERROR_EXECUTABLE_FAILED.format(message='no valid JSON summary on stdout')
        result = self.parse_summary(summary or {})
        if code != 0:
            return self.status_exit_code(status)
        return result

    def parse_partial(self) -> None:
        """Store what a failed or killed run left that a restart can use (nothing by default)."""

    def parse_summary(self, summary: dict):
        raise NotImplementedError
