"""Common ground of the aiida-flexo CalcJobs and parsers.

Every aiida-flexo CalcJob runs the ``aiida-flexo`` console script of the installation on the target computer (the
code ``aiida-flexo@<computer>`` made by ``aiida-flexo setup``) with a subcommand and ``--json``: the command writes
its files into the working folder and a JSON summary to stdout (``aiida.out``); on failure it writes
``Error: <message>`` to stderr (``aiida.err``) and exits non-zero. Parsers turn the JSON into output nodes and a
missing or failed run into an exit code that carries the executable's message.
"""

from __future__ import annotations

import json
from typing import ClassVar

from aiida import orm
from aiida.common.datastructures import CalcInfo, CodeInfo
from aiida.engine import CalcJob, ExitCode
from aiida.parsers import Parser

STDOUT = 'aiida.out'
STDERR = 'aiida.err'


class FlexoCalcJob(CalcJob):
    """Base class: runs ``aiida-flexo <subcommand> <args> --json`` in the working folder.

    Subclasses set ``SUBCOMMAND`` (a tuple of CLI words), ``RETRIEVE`` (files to retrieve besides stdout/stderr)
    and implement :meth:`write_inputs` (copy input files into the folder) and :meth:`command_arguments` (the CLI
    arguments after the subcommand).
    """

    SUBCOMMAND: ClassVar[tuple[str, ...]] = ()
    RETRIEVE: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.inputs['metadata']['options']['resources'].default = {
            'num_machines': 1,
            'num_mpiprocs_per_machine': 1,
        }
        spec.inputs['metadata']['options']['withmpi'].default = False
        spec.inputs['metadata']['options']['output_filename'].default = STDOUT
        spec.inputs['metadata']['options']['scheduler_stdout'].default = '_scheduler-stdout.txt'
        spec.inputs['metadata']['options']['scheduler_stderr'].default = '_scheduler-stderr.txt'
        spec.exit_code(
            300,
            'ERROR_NO_OUTPUT',
            message='the executable wrote no JSON summary; stderr: {stderr}',
            invalidates_cache=True,
        )
        spec.exit_code(
            301, 'ERROR_EXECUTABLE_FAILED', message='the executable failed: {message}', invalidates_cache=True
        )
        spec.exit_code(302, 'ERROR_MISSING_FILE', message='expected output file {filename} was not retrieved')

    def write_inputs(self, folder) -> list[tuple[str, str, str]]:
        """Write inputs into the sandbox ``folder``; return the local copy list (uuid, source, target)."""
        return []

    def command_arguments(self) -> list[str]:
        raise NotImplementedError

    def prepare_for_submission(self, folder):
        local_copy_list = self.write_inputs(folder)
        codeinfo = CodeInfo()
        codeinfo.code_uuid = self.inputs.code.uuid
        codeinfo.cmdline_params = [*self.SUBCOMMAND, *self.command_arguments(), '--json']
        codeinfo.stdout_name = STDOUT
        codeinfo.stderr_name = STDERR
        calcinfo = CalcInfo()
        calcinfo.codes_info = [codeinfo]
        calcinfo.local_copy_list = local_copy_list
        calcinfo.retrieve_list = [STDOUT, STDERR, *self.RETRIEVE]
        return calcinfo


class FlexoParser(Parser):
    """Base parser: reads the JSON summary; subclasses implement :meth:`parse_summary`."""

    def read_summary(self) -> tuple[dict | None, ExitCode | None]:
        retrieved = self.retrieved
        names = retrieved.base.repository.list_object_names()
        stderr = retrieved.base.repository.get_object_content(STDERR) if STDERR in names else ''
        stdout = retrieved.base.repository.get_object_content(STDOUT) if STDOUT in names else ''
        try:
            summary = json.loads(stdout) if stdout.strip() else None
        except json.JSONDecodeError:
            summary = None
        if summary is None:
            errors = [line for line in stderr.splitlines() if line.startswith('Error:')]
            if errors:
                message = errors[-1].removeprefix('Error:').strip()
                return None, self.exit_codes.ERROR_EXECUTABLE_FAILED.format(message=message)
            return None, self.exit_codes.ERROR_NO_OUTPUT.format(stderr=stderr.strip()[-2000:] or '(empty)')
        return summary, None

    def parse(self, **kwargs):
        summary, exit_code = self.read_summary()
        if exit_code is not None:
            return exit_code
        return self.parse_summary(summary)

    def parse_summary(self, summary: dict):
        self.out('summary', orm.Dict(summary))
        return ExitCode(0)
