"""``flexo.mlip.md.base``: molecular dynamics with a potential through a temperature schedule, to the end.

A BaseRestartWorkChain around ``flexo.mlip.md``: a killed run (walltime, node failure: the executable never wrote its
status) continues from the last frame of its trajectory with the rest of the schedule (the CalcJob passes the same
schedule and ``--restart-from``; the executable resumes at the global MD step stored in that frame, as
:func:`aiida_flexo.mlip.md.continue_md` does). When the run took several calculations, the ``trajectory`` output is
the whole run, merged from the pieces by a calcfunction (every frame once, array ``md_steps``). A run that blows up
(NaN, temperature far above the schedule) stops with ``ERROR_UNSTABLE``: continuing would blow up again.
"""

from __future__ import annotations

from aiida.engine import ProcessHandlerReport, process_handler

from aiida_flexo.calcjobs.functions.mlip import merge_md_trajectories
from aiida_flexo.calcjobs.mlip import MlipMdCalculation
from aiida_flexo.workflows.mlip_restart import MlipRestartWorkChain


class MlipMdWorkChain(MlipRestartWorkChain):
    """MD through a temperature schedule with a potential; a killed run continues from its last frame."""

    _process_class = MlipMdCalculation
    _namespace = 'md'

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.exit_code(
            404,
            'ERROR_UNSTABLE',
            message='the MD run blew up: {message}; use a smaller timestep_fs, a stronger thermostat '
            '(friction_per_fs) or a potential trained on such configurations',
        )

    @process_handler(priority=500, exit_codes=[MlipMdCalculation.exit_codes.ERROR_UNSTABLE])
    def handle_unstable(self, node):
        """NaN or exploding temperature: stop with a message naming the fix (a continuation would blow up too)."""
        self.report(f'{node.process_label}<{node.pk}> blew up: {node.exit_message}')
        return ProcessHandlerReport(True, self.exit_codes.ERROR_UNSTABLE.format(message=node.exit_message))

    def results(self):
        node = self.ctx.children[self.ctx.iteration - 1]
        outputs = self.exposed_outputs(node, MlipMdCalculation)
        pieces = [child for child in self.ctx.children if 'trajectory_file' in child.outputs]
        if len(pieces) > 1:
            outputs['trajectory'] = merge_md_trajectories(
                **{
                    f'part_{number:02d}': child.outputs.trajectory_file for number, child in enumerate(pieces)
                },
                metadata={'call_link_label': 'merge_trajectories'},
            )
        self.out_many(outputs)
        summary = node.outputs.summary.get_dict() if 'summary' in node.outputs else {}
        self.report(
            f'MD finished after {self.ctx.iteration} calculation(s): {summary.get("n_steps", "?")} steps, '
            f'{len(outputs["trajectory"].get_stepids())} frames, final temperature '
            f'{summary.get("final_temperature_K", float("nan")):.1f} K'
        )
        return None
