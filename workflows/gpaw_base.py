"""``flexo.gpaw.base``: one GPAW labelling job with restarts for its recoverable failures.

Handlers (aiida-quantumespresso style, highest priority first):

* ``handle_input_errors`` (600): invalid input, non-periodic cell, missing PAW setup, GPAW missing, Berry phase of
  a metal, an exploding MD (the unrecoverable entries of the engine's exit table,
  :data:`aiida_flexo.engines.exit_codes.ENGINE_EXIT`): stop at once with the calculation's exit code.
* ``handle_killed`` (500): the job was killed before it finished (no status file; the scheduler's out of walltime or
  node failure): rerun in a new folder that reuses the finished stages of the old one (``parent_folder``: the
  driver resumes from its results.json).
* ``handle_out_of_memory`` (450): the scheduler's out of memory: twice the ``max_memory_kb`` and rerun from the
  finished stages; without a memory request, stop (exit 411) saying what to set.
* ``handle_scf_not_converged`` (400): double the SCF iteration limit; from the second time on, also a more
  conservative density mixer.
"""

from __future__ import annotations

import copy

from aiida import orm
from aiida.common import AttributeDict
from aiida.engine import BaseRestartWorkChain, ProcessHandlerReport, process_handler, while_

from aiida_flexo.calcjobs.gpaw import GpawCalculation
from aiida_flexo.engines.exit_codes import ENGINE_EXIT
from aiida_flexo.engines.inputs import EngineInputs
from aiida_flexo.workflows.handlers import ask_for_more_memory, killed_exit_codes

#: failures that a rerun cannot fix (the engine's table says which): the work chain stops at once with the
#: calculation's exit code
NOT_RECOVERABLE = ENGINE_EXIT.labels(recoverable=False)

#: a density mixer that converges difficult (polar, distorted) oxides, at the cost of more iterations
CONSERVATIVE_MIXER = {'backend': 'pulay', 'beta': 0.02, 'nmaxold': 8, 'weight': 100.0}


class GpawBaseWorkChain(BaseRestartWorkChain):
    """Label one structure with GPAW; restart on SCF non-convergence and on kills."""

    _process_class = GpawCalculation
    defaults = {'max_scf_iterations_limit': 2000}

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.expose_inputs(GpawCalculation, namespace='gpaw', exclude=('parent_folder',))
        spec.expose_outputs(GpawCalculation)
        spec.outline(
            cls.setup,
            while_(cls.should_run_process)(
                cls.run_process,
                cls.inspect_process,
            ),
            cls.results,
        )
        spec.exit_code(410, 'ERROR_UNRECOVERABLE', message='the calculation failed and no handler can fix it')
        spec.exit_code(
            411, 'ERROR_OUT_OF_MEMORY', message='out of memory, and no more can be asked for: {message}'
        )
        for entry in ENGINE_EXIT:  # the failures no restart can fix, passed on
            if not entry.recoverable:
                spec.exit_code(entry.exit_code, entry.label, message='{message}')

    def setup(self):
        super().setup()
        self.ctx.inputs = AttributeDict(self.exposed_inputs(GpawCalculation, 'gpaw'))
        self.ctx.inputs.metadata = AttributeDict(self.ctx.inputs.get('metadata', {}))
        self.ctx.inputs.metadata.setdefault('call_link_label', 'gpaw')

    @process_handler(
        priority=600, exit_codes=[GpawCalculation.exit_codes[label] for label in NOT_RECOVERABLE]
    )
    def handle_input_errors(self, node):
        """Wrong input, missing setup, no GPAW, a metal asked for a Berry phase: stop, nothing to retry."""
        self.report(f'{node.process_label}<{node.pk}> failed: [{node.exit_status}] {node.exit_message}')
        label = next(entry.label for entry in ENGINE_EXIT if entry.exit_code == node.exit_status)
        return ProcessHandlerReport(True, self.exit_codes[label].format(message=node.exit_message))

    @process_handler(priority=500, exit_codes=killed_exit_codes(GpawCalculation))
    def handle_killed(self, node):
        """Killed before it finished: rerun, reusing the finished stages in its work folder."""
        self.ctx.inputs.parent_folder = node.outputs.remote_folder
        self.report(
            f'{node.process_label}<{node.pk}> was killed ([{node.exit_status}]): rerunning from its finished stages'
        )
        return ProcessHandlerReport(True)

    @process_handler(priority=450, exit_codes=[GpawCalculation.exit_codes.ERROR_SCHEDULER_OUT_OF_MEMORY])
    def handle_out_of_memory(self, node):
        """Out of memory: more memory, rerun from the finished stages; without a memory request, stop."""
        report = ask_for_more_memory(self, node, self.exit_codes.ERROR_OUT_OF_MEMORY)
        if report.exit_code.status == 0:
            self.ctx.inputs.parent_folder = node.outputs.remote_folder
        return report

    @process_handler(priority=400, exit_codes=[GpawCalculation.exit_codes.ERROR_SCF_NOT_CONVERGED])
    def handle_scf_not_converged(self, node):
        """SCF not converged: more iterations, then a more conservative mixer."""
        parameters = copy.deepcopy(self.ctx.inputs.parameters.get_dict())
        inputs = EngineInputs.from_dict(parameters)
        current = int(inputs.setting('max_scf_iterations'))
        if current >= self.defaults['max_scf_iterations_limit']:
            self.report(
                f'{node.process_label}<{node.pk}>: SCF not converged in {current} iterations, giving up'
            )
            return ProcessHandlerReport(True, self.exit_codes.ERROR_UNRECOVERABLE)
        parameters['max_scf_iterations'] = min(2 * current, self.defaults['max_scf_iterations_limit'])
        changes = [f'max_scf_iterations {current} -> {parameters["max_scf_iterations"]}']
        gpaw_options = parameters.setdefault('engine_options', {}).setdefault('gpaw', {})
        if self.ctx.iteration >= 2 and gpaw_options.get('mixer') != CONSERVATIVE_MIXER:
            gpaw_options['mixer'] = dict(CONSERVATIVE_MIXER)
            changes.append(f'mixer {CONSERVATIVE_MIXER}')
        self.ctx.inputs.parameters = orm.Dict(parameters)
        self.ctx.inputs.pop('parent_folder', None)
        self.report(
            f'{node.process_label}<{node.pk}>: SCF not converged; restarting with {", ".join(changes)}'
        )
        return ProcessHandlerReport(True)
