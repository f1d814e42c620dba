"""Exit statuses of the engine executables (``aiida-flexo engine <engine> INPUT.json``).

The CalcJob parsers map them one-to-one to AiiDA exit codes; ``results.json`` repeats the status and the message.
1, 2, 70 and 130 are the command line's own (aiida_flexo.cli: a known error with its message, a bad command line,
an unexpected exception, an interruption).
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Process exit statuses of an engine run."""

    OK = 0
    INVALID_INPUT = 10  # input.json or the structure file is unreadable or has a bad field
    NON_PERIODIC = 11  # the structure is not periodic in 3D
    MISSING_SETUP = 12  # no PAW setup / pseudopotential for a species
    ENGINE_NOT_INSTALLED = 13  # the DFT code cannot be imported
    SCF_NOT_CONVERGED = 20  # an SCF cycle hit the iteration limit
    BERRY_PHASE_NO_GAP = 21  # Berry phase asked for a system without a band gap (metal)
    MD_EXPLODED = 30  # the MD temperature ran away, atoms collided or values became non-finite


class EngineError(RuntimeError):
    """A run that cannot finish, with its exit status and a message that names the problem and the fix."""

    def __init__(self, exit_code: ExitCode, message: str):
        super().__init__(message)
        self.exit_code = ExitCode(exit_code)
        self.message = message

    def __str__(self) -> str:
        return f'[{self.exit_code.name} = {int(self.exit_code)}] {self.message}'
