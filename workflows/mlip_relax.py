"""``flexo.mlip.relax.base``: a relaxation with the Allegro potential that continues until it converges.

A BaseRestartWorkChain around ``flexo.mlip.relax``: an unconverged relaxation (max steps reached) and a killed one
(walltime, node failure: the executable never wrote its status) are continued from the last frame of their
trajectory; everything already computed is kept.
"""

from __future__ import annotations

from aiida.common import AttributeDict
from aiida.engine import BaseRestartWorkChain, ProcessHandlerReport, process_handler, while_

from aiida_flexo.calcjobs.mlip import MlipRelaxCalculation


class MlipRelaxWorkChain(BaseRestartWorkChain):
    """Relax with an Allegro potential; restart from the last frame until converged."""

    _process_class = MlipRelaxCalculation

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.expose_inputs(MlipRelaxCalculation, namespace='relax', exclude=('restart_trajectory',))
        spec.expose_outputs(MlipRelaxCalculation)
        spec.outline(
            cls.setup,
            while_(cls.should_run_process)(
                cls.run_process,
                cls.inspect_process,
            ),
            cls.results,
        )
        spec.exit_code(401, 'ERROR_NO_TRAJECTORY', message='the relaxation failed before writing any frame')

    def setup(self):
        super().setup()
        self.ctx.inputs = AttributeDict(self.exposed_inputs(MlipRelaxCalculation, 'relax'))
        self.ctx.inputs.metadata = AttributeDict(self.ctx.inputs.get('metadata', {}))
        self.ctx.inputs.metadata.setdefault('call_link_label', 'relax')

    def _continue_from(self, node, why: str) -> ProcessHandlerReport:
        if 'trajectory_file' not in node.outputs:
            self.report(f'{node.process_label}<{node.pk}> {why} and left no trajectory: cannot continue')
            return ProcessHandlerReport(True, self.exit_codes.ERROR_NO_TRAJECTORY)
        self.ctx.inputs.restart_trajectory = node.outputs.trajectory_file
        self.report(
            f'{node.process_label}<{node.pk}> {why}: continuing from the last frame of its trajectory'
        )
        return ProcessHandlerReport(True)

    @process_handler(priority=500, exit_codes=[MlipRelaxCalculation.exit_codes.ERROR_NOT_CONVERGED])
    def handle_not_converged(self, node):
        """Max steps reached: continue from the last frame."""
        return self._continue_from(
            node, f'did not converge (max |F| {node.outputs.max_force.value:.3g} eV/Å)'
        )

    @process_handler(priority=400, exit_codes=[MlipRelaxCalculation.exit_codes.ERROR_NO_STATUS])
    def handle_killed(self, node):
        """Killed by the scheduler (walltime, memory) or the machine: continue from the last written frame."""
        return self._continue_from(node, 'was killed before it finished')

    def results(self):
        node = self.ctx.children[self.ctx.iteration - 1]
        if node.is_finished_ok:
            self.report(
                f'relaxation converged after {self.ctx.iteration} calculation(s): E = {node.outputs.energy.value:.6f}'
                f' eV, max |F| = {node.outputs.max_force.value:.3g} eV/Å'
            )
        return super().results()
