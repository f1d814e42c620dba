"""Common ground of the restart WorkChains around the MLIP CalcJobs (``flexo.mlip.relax.base``, ``flexo.mlip.md.base``).

Both CalcJobs write an ase trajectory as they go and take ``restart_trajectory`` to continue from its last frame
(:class:`aiida_flexo.calcjobs.mlip.ModelOnStructure`). A killed run (a kill, a node failure: the executable never
wrote its status, ``ERROR_NO_STATUS``; or the scheduler's out of walltime or node failure) is continued from there, keeping everything already
computed; subclasses add handlers of their own (not converged, unstable).
"""

from __future__ import annotations

from typing import ClassVar

from aiida.common import AttributeDict
from aiida.engine import BaseRestartWorkChain, ProcessHandlerReport, process_handler, while_

from aiida_flexo.calcjobs.mlip import ModelOnStructure
from aiida_flexo.workflows.handlers import killed_exit_codes


class MlipRestartWorkChain(BaseRestartWorkChain):
    """Base class: run ``_process_class`` (inputs in the ``_namespace`` namespace) until it finishes.

    Subclasses set ``_process_class`` (a subclass of ``ModelOnStructure``) and ``_namespace``.
    """

    _process_class: ClassVar[type[ModelOnStructure]]
    _namespace: ClassVar[str]

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.expose_inputs(cls._process_class, namespace=cls._namespace, exclude=('restart_trajectory',))
        spec.expose_outputs(cls._process_class)
        spec.outline(
            cls.setup,
            while_(cls.should_run_process)(
                cls.run_process,
                cls.inspect_process,
            ),
            cls.results,
        )
        # 401 and 402 belong to BaseRestartWorkChain (maximum iterations, unhandled failure)
        spec.exit_code(403, 'ERROR_NO_TRAJECTORY', message='the calculation failed before writing any frame')

    def setup(self):
        super().setup()
        self.ctx.inputs = AttributeDict(self.exposed_inputs(self._process_class, self._namespace))

    def continue_from_trajectory(self, node, why: str) -> ProcessHandlerReport:
        """Continue from the last frame of ``node``'s trajectory file (restart_trajectory of the next run)."""
        if 'trajectory_file' not in node.outputs:
            self.report(f'{node.process_label}<{node.pk}> {why} and left no trajectory: cannot continue')
            return ProcessHandlerReport(True, self.exit_codes.ERROR_NO_TRAJECTORY)
        self.ctx.inputs.restart_trajectory = node.outputs.trajectory_file
        self.report(
            f'{node.process_label}<{node.pk}> {why}: continuing from the last frame of its trajectory'
        )
        return ProcessHandlerReport(True)

    @process_handler(priority=400, exit_codes=killed_exit_codes(ModelOnStructure))
    def handle_killed(self, node):
        """Killed (no status file; the scheduler's out of walltime or node failure): continue from the last written
        frame."""
        return self.continue_from_trajectory(node, f'was killed before it finished ([{node.exit_status}])')
