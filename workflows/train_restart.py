"""``flexo.gnn.train.base`` and ``flexo.mlip.train.base``: trainings that survive their scheduler.

A training of hours meets walltime limits, node failures and out-of-memory kills. Both executables checkpoint as they
go and continue with ``--resume`` (:func:`aiida_flexo.gnn.training.train`; :mod:`aiida_flexo.mlip.train` and
:mod:`aiida_flexo.mlip.finetune`). These BaseRestartWorkChains (the pipeline and the active-learning loop train
through them):

* give each job a time limit of ``walltime_fraction`` (0.9) of its walltime (the ``max_time`` parameter, never more
  than what is left of the training's own ``max_time``), so that a job stops itself, writing its model and
  checkpoint, instead of being killed;
* continue a job that stopped on that limit while epochs and the training's own time are left: the next job gets the
  previous working folder (``parent_folder``, copied) and ``--resume``;
* continue a killed job (no status file: node failure, a kill; aiida-core's 120 out of walltime, 140 node failure)
  the same way, from its last checkpoint;
* after an out-of-memory kill (aiida-core's 110) ask for twice the memory (``max_memory_kb``) and continue; without a
  memory request there is nothing to change, and the work chain stops with the reason (exit 411).

The trainers count time differently, and each job's ``max_time`` is written in the trainer's terms: the GNN and
Allegro (Lightning's timer, restored from the checkpoint) count it across resumed runs, so a job is given the time
already trained plus its own limit; fine-tuning counts it per run. The time already trained is taken from the
metrics of jobs that stopped on their limit, never guessed upwards for killed ones (a killed job's next job is then
given less, not more, than its walltime allows). A training of ``max_time`` 8 h on a 4 h queue thus runs as about
three jobs and stops when its 8 h are used.
"""

from __future__ import annotations

from typing import ClassVar

from aiida import orm
from aiida.common import AttributeDict
from aiida.engine import BaseRestartWorkChain, ProcessHandlerReport, process_handler, while_

from aiida_flexo.calcjobs.base import FlexoCalcJob
from aiida_flexo.calcjobs.gnn import GnnTrainCalculation
from aiida_flexo.calcjobs.mlip import MlipTrainCalculation
from aiida_flexo.units import parse_duration
from aiida_flexo.workflows.handlers import ask_for_more_memory, killed_exit_codes


class TrainRestartWorkChain(BaseRestartWorkChain):
    """Base class: run ``_process_class`` (a resumable training CalcJob, inputs in ``train``) until it is done."""

    _process_class: ClassVar[type[FlexoCalcJob]]
    defaults = AttributeDict({'walltime_fraction': 0.9})

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.expose_inputs(cls._process_class, namespace='train', exclude=('parent_folder',))
        spec.expose_outputs(cls._process_class)
        spec.outline(
            cls.setup,
            while_(cls.should_run_process)(
                cls.prepare_job,
                cls.run_process,
                cls.inspect_process,
            ),
            cls.results,
        )
        # 401 and 402 belong to BaseRestartWorkChain (maximum iterations, unhandled failure)
        spec.exit_code(
            411,
            'ERROR_OUT_OF_MEMORY',
            message='the training ran out of memory and cannot be given more: {message}',
        )
        spec.exit_code(
            412, 'ERROR_NO_CHECKPOINT', message='the training was killed before its first checkpoint'
        )

    def setup(self):
        super().setup()
        self.ctx.inputs = AttributeDict(self.exposed_inputs(self._process_class, 'train'))
        parameters = self.ctx.inputs.parameters.get_dict() if 'parameters' in self.ctx.inputs else {}
        self.ctx.parameters = parameters
        # the training's own time, all jobs together (a number of seconds, or text such as '4h' or '02:00:00')
        self.ctx.budget_s = parse_duration(parameters.get('max_time'))
        self.ctx.spent_s = 0.0
        self.ctx.job_limit_s = None

    def _walltime(self) -> float | None:
        options = self.ctx.inputs.get('metadata', {}).get('options', {})
        walltime = options.get('max_wallclock_seconds')
        return None if walltime is None else float(walltime)

    def cumulative_time(self) -> bool:
        """Whether the trainer counts ``max_time`` across resumed runs (else per run)."""
        return True

    def trained_time(self, metrics: dict) -> float:
        """Training time counted so far, from the metrics of a job that stopped on its time limit (s)."""
        raise NotImplementedError

    def prepare_job(self):
        """This job's time limit: a fraction of its walltime, at most what is left of the training's own time."""
        limits = []
        walltime = self._walltime()
        if walltime is not None:
            limits.append(self.defaults.walltime_fraction * walltime)
        if self.ctx.budget_s is not None:
            limits.append(max(self.ctx.budget_s - self.ctx.spent_s, 1.0))
        self.ctx.job_limit_s = min(limits) if limits else None
        if self.ctx.job_limit_s is not None:
            limit = self.ctx.job_limit_s + (self.ctx.spent_s if self.cumulative_time() else 0.0)
            parameters = {**self.ctx.parameters, 'max_time': self.max_time_parameter(limit)}
            self.ctx.inputs.parameters = orm.Dict(parameters)

    @staticmethod
    def max_time_parameter(seconds: float):
        """The ``max_time`` parameter of one job, s (both trainers' ``max_time`` is a duration setting)."""
        return round(max(seconds, 1.0), 1)

    def stopped_on_time(self, metrics: dict) -> bool:
        """Whether a finished job stopped because of its time limit (subclasses read their trainer's metrics)."""
        raise NotImplementedError

    def epochs_left(self, metrics: dict) -> bool:
        """Whether the training has epochs left to run."""
        epochs = self.ctx.parameters.get('epochs')
        run = metrics.get('epochs_run', metrics.get('epochs'))
        return epochs is None or run is None or int(run) < int(epochs)

    def _time_left(self) -> bool:
        return self.ctx.budget_s is None or self.ctx.spent_s < 0.99 * self.ctx.budget_s

    def continue_from(self, node, why: str) -> ProcessHandlerReport:
        """Resume from ``node``'s working folder (its checkpoint) in the next job."""
        if 'remote_folder' not in node.outputs:
            self.report(f'{node.process_label}<{node.pk}> {why} and left no working folder: cannot continue')
            return ProcessHandlerReport(True, self.exit_codes.ERROR_NO_CHECKPOINT)
        self.ctx.inputs.parent_folder = node.outputs.remote_folder
        self.report(f'{node.process_label}<{node.pk}> {why}: continuing from its checkpoint (--resume)')
        return ProcessHandlerReport(True)

    @process_handler(priority=600)
    def handle_time_limit(self, node):
        """Finished, but stopped on this job's time limit with epochs and training time left: continue."""
        if not node.is_finished_ok or 'metrics' not in node.outputs:
            return None
        metrics = node.outputs.metrics.get_dict()
        if not self.stopped_on_time(metrics):
            return None
        self.ctx.spent_s = self.trained_time(metrics)
        if not (self._time_left() and self.epochs_left(metrics)):
            return None
        left = 'unlimited' if self.ctx.budget_s is None else f'{self.ctx.budget_s - self.ctx.spent_s:.0f} s'
        return self.continue_from(
            node, f'stopped on its time limit ({self.ctx.job_limit_s:.0f} s; training time left: {left})'
        )

    @process_handler(priority=500, exit_codes=killed_exit_codes(FlexoCalcJob))
    def handle_killed(self, node):
        """Killed (walltime, node failure, a kill): continue from the last checkpoint."""
        # a per-run count: that job's time is gone; a cumulative one: the checkpoint keeps it
        if not self.cumulative_time():
            self.ctx.spent_s += self.ctx.job_limit_s or 0.0
        return self.continue_from(
            node, f'was killed ([{node.exit_status}] {node.exit_message or "no status"})'
        )

    @process_handler(priority=450, exit_codes=[FlexoCalcJob.exit_codes.ERROR_SCHEDULER_OUT_OF_MEMORY])
    def handle_out_of_memory(self, node):
        """Out of memory: ask for more and continue from the checkpoint; without a memory request, stop."""
        report = ask_for_more_memory(self, node, self.exit_codes.ERROR_OUT_OF_MEMORY)
        return self.continue_from(node, 'ran out of memory') if report.exit_code.status == 0 else report

    def results(self):
        node = self.ctx.children[self.ctx.iteration - 1]
        if node.is_finished_ok and self.ctx.iteration > 1:
            self.report(f'training done in {self.ctx.iteration} jobs')
        return super().results()


class GnnTrainWorkChain(TrainRestartWorkChain):
    """Train the dipole GNN (``flexo.gnn.train``), resuming across walltime limits and kills."""

    _process_class = GnnTrainCalculation

    def stopped_on_time(self, metrics: dict) -> bool:
        return metrics.get('stop_reason') == 'max time'

    def trained_time(self, metrics: dict) -> float:
        return float(metrics.get('train_wall_time_s', self.ctx.spent_s + (self.ctx.job_limit_s or 0.0)))


class MlipTrainWorkChain(TrainRestartWorkChain):
    """Train a potential (``flexo.mlip.train``: Allegro, fine-tuning, committee), resuming across walltime limits
    and kills."""

    _process_class = MlipTrainCalculation

    def cumulative_time(self) -> bool:
        # Allegro: Lightning's timer, restored from the checkpoint; fine-tuning counts per run
        return not self.ctx.parameters.get('from_potential')

    def trained_time(self, metrics: dict) -> float:
        # this run's own training time: a lower bound of Lightning's count, exact for fine-tuning
        return self.ctx.spent_s + float(metrics.get('train_time_s') or self.ctx.job_limit_s or 0.0)

    def stopped_on_time(self, metrics: dict) -> bool:
        if metrics.get('stopped_by') is not None:  # fine-tuning says why it stopped
            return metrics['stopped_by'] == 'max_time'
        limit = self.ctx.job_limit_s
        train_time = metrics.get('train_time_s')
        # Allegro (Lightning's max_time) does not say: fewer epochs than asked, and the job's time used up
        return bool(
            limit and train_time is not None and train_time >= 0.95 * limit and self.epochs_left(metrics)
        )
