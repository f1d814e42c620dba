"""Handler logic shared by the restart WorkChains (``flexo.gpaw.base``, ``flexo.mlip.*.base``, the trainings)."""

from __future__ import annotations

from aiida.common import AttributeDict
from aiida.engine import ExitCode, ProcessHandlerReport

from aiida_flexo.calcjobs.base import KILLED_EXIT_CODES

#: how much more memory a job gets after an out-of-memory kill
MEMORY_FACTOR = 2.0


def killed_exit_codes(process_class) -> list[ExitCode]:
    """The exit codes of ``process_class`` that mean killed from outside (see :data:`KILLED_EXIT_CODES`)."""
    return [process_class.exit_codes[label] for label in KILLED_EXIT_CODES]


def ask_for_more_memory(workchain, node, impossible: ExitCode) -> ProcessHandlerReport:
    """After an out-of-memory kill (aiida-core's 110): the next job requests ``MEMORY_FACTOR`` times the memory.

    Without a memory request (``metadata.options.max_memory_kb``) there is nothing to raise: the work chain stops
    with ``impossible`` (a code taking ``message``), saying what to set. The caller decides where the next job
    starts (its handler continues from checkpoints where it has them).
    """
    inputs = workchain.ctx.inputs
    options = AttributeDict(inputs.get('metadata', {}).get('options', {}))
    memory = options.get('max_memory_kb')
    if memory is None:
        message = (
            f'{node.process_label}<{node.pk}> ran out of memory and requested none: set '
            'metadata.options.max_memory_kb (or make the job smaller) and resubmit'
        )
        workchain.report(message)
        return ProcessHandlerReport(True, impossible.format(message=message))
    options.max_memory_kb = int(memory * MEMORY_FACTOR)
    inputs.metadata = AttributeDict({**inputs.get('metadata', {}), 'options': options})
    workchain.report(
        f'{node.process_label}<{node.pk}> ran out of memory: max_memory_kb {memory} -> {options.max_memory_kb}'
    )
    return ProcessHandlerReport(True)
