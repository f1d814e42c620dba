"""``flexo.mlip.relax.base``: a relaxation with a potential that continues until it converges.

A BaseRestartWorkChain around ``flexo.mlip.relax``: an unconverged relaxation (max steps reached) and a killed one
(walltime, node failure: the executable never wrote its status) are continued from the last frame of their
trajectory (:class:`~aiida_flexo.workflows.mlip_restart.MlipRestartWorkChain`); everything already computed is kept.
One the watchdog stopped (no progress for ``stall_steps``, see :func:`aiida_flexo.mlip.relax.relax`) is not
restarted: exit 404 with the reason.
"""

from __future__ import annotations

from aiida.engine import ProcessHandlerReport, process_handler

from aiida_flexo.calcjobs.mlip import MlipRelaxCalculation
from aiida_flexo.workflows.mlip_restart import MlipRestartWorkChain


class MlipRelaxWorkChain(MlipRestartWorkChain):
    """Relax with a potential; restart from the last frame until converged."""

    _process_class = MlipRelaxCalculation
    _namespace = 'relax'

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.exit_code(
            404, 'ERROR_NO_PROGRESS', message='the relaxation made no progress, not restarted: {message}'
        )

    @process_handler(priority=500, exit_codes=[MlipRelaxCalculation.exit_codes.ERROR_NOT_CONVERGED])
    def handle_not_converged(self, node):
        """Max steps reached: continue from the last frame. Stopped by the watchdog (no progress): do not go on
        burning the walltime; end with the reason."""
        if 'no progress in' in (node.exit_message or ''):
            self.report(
                f'{node.process_label}<{node.pk}> made no progress: {node.exit_message}; not restarted'
            )
            return ProcessHandlerReport(
                True, self.exit_codes.ERROR_NO_PROGRESS.format(message=node.exit_message)
            )
        return self.continue_from_trajectory(
            node, f'did not converge (max |F| {node.outputs.max_force.value:.3g} eV/Å)'
        )

    def results(self):
        node = self.ctx.children[self.ctx.iteration - 1]
        if node.is_finished_ok:
            self.report(
                f'relaxation converged after {self.ctx.iteration} calculation(s): E = {node.outputs.energy.value:.6f}'
                f' eV, max |F| = {node.outputs.max_force.value:.3g} eV/Å'
            )
        return super().results()
