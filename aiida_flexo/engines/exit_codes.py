"""Exit statuses of the engine executables (``aiida-flexo engine <engine> INPUT.json``): :data:`ENGINE_EXIT`.

One table (:mod:`aiida_flexo.exit_codes`): the driver raises :class:`EngineError` with its status, the
``flexo.gpaw`` CalcJob declares its exit codes and its parser maps statuses to them from it, and
``flexo.gpaw.base`` stops at once on the unrecoverable ones. ``results.json`` repeats the status and the message.
1, 2, 70 and 130 are the command line's own (:data:`aiida_flexo.exit_codes.COMMAND_EXIT`).
"""

from __future__ import annotations

from enum import IntEnum

from aiida_flexo.exit_codes import ExitStatus, ExitTable

#: every way an engine run ends: process status, the flexo.gpaw CalcJob's exit code, label, message, recoverable
ENGINE_EXIT = ExitTable(
    'aiida-flexo engine',
    # input.json or the structure file is unreadable or has a bad field
    ExitStatus('INVALID_INPUT', 10, 310, 'ERROR_INVALID_INPUT', 'invalid input: {message}'),
    # the structure is not periodic in 3D
    ExitStatus(
        'NON_PERIODIC', 11, 311, 'ERROR_NON_PERIODIC', 'the structure is not periodic in 3D: {message}'
    ),
    # no PAW setup / pseudopotential for a species
    ExitStatus('MISSING_SETUP', 12, 312, 'ERROR_MISSING_SETUP', 'no PAW setup for a species: {message}'),
    # the DFT code cannot be imported
    ExitStatus(
        'ENGINE_NOT_INSTALLED',
        13,
        313,
        'ERROR_ENGINE_NOT_INSTALLED',
        'GPAW is not installed on the computer: {message}',
    ),
    # an SCF cycle hit the iteration limit (flexo.gpaw.base: more iterations, a conservative mixer)
    ExitStatus(
        'SCF_NOT_CONVERGED', 20, 420, 'ERROR_SCF_NOT_CONVERGED', 'the SCF did not converge: {message}', True
    ),
    # Berry phase asked for a system without a band gap (metal)
    ExitStatus(
        'BERRY_PHASE_NO_GAP',
        21,
        321,
        'ERROR_BERRY_PHASE_NO_GAP',
        'Berry phase of a system without a band gap: {message}',
    ),
    # the MD temperature ran away, atoms collided or values became non-finite
    ExitStatus('MD_EXPLODED', 30, 330, 'ERROR_MD_EXPLODED', 'the MD exploded: {message}'),
)

#: process exit statuses of an engine run (from :data:`ENGINE_EXIT`), for the driver's ``EngineError``
ExitCode = IntEnum('ExitCode', {'OK': 0, **{entry.name: entry.status for entry in ENGINE_EXIT}})


class EngineError(RuntimeError):
    """A run that cannot finish, with its exit status and a message that names the problem and the fix."""

    def __init__(self, exit_code: ExitCode, message: str):
        super().__init__(message)
        self.exit_code = ExitCode(exit_code)
        self.message = message

    def __str__(self) -> str:
        return f'[{self.exit_code.name} = {int(self.exit_code)}] {self.message}'
