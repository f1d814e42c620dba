"""``flexo.active``: grow the DFT set where the model committees disagree (active learning, after DP-GEN).

One generation (``flexo.active.generation``, a sub-process with its frames, scores and models on record):
train the potential committee (``flexo.mlip.train`` with ``committee`` ≥ 2) and the GNN committee (``gnn_committee``
× ``flexo.gnn.train``, seeds s, s+1, ...) on the frames so far → explore the target structures with the potential
committee (``flexo.mlip.sample``: MD along the temperatures, random strains and displacements; every frame carries
the committee's force deviation) → score and select (``flexo.active.select``: force and dipole deviation above the
floors, below the ceiling, diverse) → label the selection with DFT (``flexo.label``) → errors of this generation's
models on the new frames *before* retraining (the honest learning curve) → ``add_generation``.

The loop (``flexo.active``) repeats generations until no explored frame is above the floors (converged), the DFT
budget (frames, CPU hours) is spent or ``max_generations`` is reached, and trains the final models on everything
labelled when the last generation added frames. A killed daemon resumes the generation it was in; finished DFT is
not redone (the generation's sub-processes are checkpointed, and caching covers a resubmission).
"""

from __future__ import annotations

from aiida import orm
from aiida.common import AttributeDict
from aiida.engine import ToContext, WorkChain, if_, while_

from aiida_flexo.calcjobs.active import ActiveSelectCalculation, validate_select
from aiida_flexo.calcjobs.base import serial_options
from aiida_flexo.calcjobs.functions.active import add_generation, generation_summary
from aiida_flexo.calcjobs.functions.frames import structures_to_frames
from aiida_flexo.calcjobs.gnn import GnnEvalCalculation, GnnTrainCalculation
from aiida_flexo.calcjobs.mlip import MlipEvalCalculation, MlipSampleCalculation, MlipTrainCalculation
from aiida_flexo.nodes.frames import FramesData
from aiida_flexo.workflows.label import LabelWorkChain
from aiida_flexo.workflows.protocols import ProtocolMixin


def _validate_committee(value, _):
    committee = value.get_dict().get('committee')
    if committee is None or isinstance(committee, bool) or not isinstance(committee, int) or committee < 2:
        return (
            f'mlip_parameters.committee = {committee!r}: active learning scores frames by the deviation of a '
            'committee, set committee to 2 or more'
        )
    return None


def _validate_gnn_committee(value, _):
    if value.value == 1 or value.value < 0:
        return f'gnn_committee = {value.value}: a dipole deviation needs at least two GNNs (0: score forces only)'
    return None


def _validate_budget(value, _):
    budget = value.get_dict()
    unknown = sorted(set(budget) - {'frames', 'cpu_hours'})
    if unknown:
        return f'unknown DFT budget keys {unknown}; allowed: frames, cpu_hours'
    for key, item in budget.items():
        if item is not None and (isinstance(item, bool) or not isinstance(item, (int, float)) or item <= 0):
            return f'dft_budget.{key} = {item!r}: a budget must be positive (leave it out for no limit)'
    return None


def _validate_positive_int(value, _):
    return None if value.value >= 1 else f'{value.value}: must be at least 1'


def dft_core_seconds(label_node) -> float:
    """Core-seconds of the DFT calculations under a flexo.label node (GPAW: the driver's own timing × MPI
    processes; other codes: the CalcJob's lifetime × MPI processes)."""
    total = 0.0
    for node in label_node.called_descendants:
        if not isinstance(node, orm.CalcJobNode):
            continue
        resources = node.get_option('resources') or {}
        procs = int(resources.get('num_machines', 1)) * int(resources.get('num_mpiprocs_per_machine', 1))
        timings = node.outputs.results.get('timings', {}) if 'results' in node.outputs else {}
        seconds = timings.get('total') if isinstance(timings, dict) else None
        if seconds is None:
            seconds = (node.mtime - node.ctime).total_seconds()
        total += float(seconds) * procs
    return total


class ActiveGenerationWorkChain(WorkChain):
    """One generation: train both committees, explore, select, label with DFT, errors before retraining."""

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.input('generation', valid_type=orm.Int, help='Generation number g (0 = the given frames).')
        spec.input('frames', valid_type=FramesData, help='Everything labelled so far.')
        spec.input('structures', valid_type=FramesData, help='Exploration starts (DFT-sized periodic cells).')
        spec.input('code', valid_type=orm.AbstractCode, help='The aiida-flexo code.')
        spec.input(
            'mlip_parameters',
            valid_type=orm.Dict,
            validator=_validate_committee,
            help='flexo.mlip.train parameters, with committee >= 2.',
        )
        spec.input(
            'gnn_parameters', valid_type=orm.Dict, help='flexo.gnn.train parameters (seed: of member 0).'
        )
        spec.input(
            'gnn_committee',
            valid_type=orm.Int,
            default=lambda: orm.Int(2),
            validator=_validate_gnn_committee,
            help='GNN committee size (0: score by force deviation only).',
        )
        spec.input(
            'sample_parameters', valid_type=orm.Dict, help='flexo.mlip.sample parameters (exploration).'
        )
        spec.input(
            'select_parameters', valid_type=orm.Dict, validator=validate_select, help='flexo.active.select.'
        )
        spec.input(
            'explore',
            valid_type=orm.Bool,
            default=lambda: orm.Bool(True),
            help='False: train only (final models).',
        )
        spec.input(
            'options', valid_type=orm.Dict, required=False, help='Scheduler options of the model steps.'
        )
        spec.expose_inputs(
            LabelWorkChain,
            namespace='label',
            exclude=('frames',),
            namespace_options={
                'required': False,
                'populate_defaults': False,
                'help': 'DFT of the selection.',
            },
        )
        spec.outline(
            cls.train,
            cls.inspect_train,
            if_(cls.should_explore)(
                cls.explore,
                cls.select,
                if_(cls.has_selection)(cls.label, cls.evaluate_new, cls.add_frames),
                cls.summarize,
            ),
        )
        spec.output('mlip_model', valid_type=orm.SinglefileData, help='The potential committee.')
        spec.output('mlip_metrics', valid_type=orm.Dict)
        spec.output_namespace(
            'dipole_models', valid_type=orm.SinglefileData, dynamic=True, help='GNN members.'
        )
        spec.output_namespace('gnn_metrics', valid_type=orm.Dict, dynamic=True)
        spec.output('explored', valid_type=FramesData, required=False, help='Frames the committee explored.')
        spec.output('scores', valid_type=orm.Dict, required=False, help='Deviations and the selection.')
        spec.output('labelled', valid_type=FramesData, required=False, help='The new DFT frames.')
        spec.output('frames', valid_type=FramesData, required=False, help='All frames after this generation.')
        spec.output('summary', valid_type=orm.Dict, required=False)
        spec.exit_code(401, 'ERROR_TRAINING_FAILED', message='training failed: {message}')
        spec.exit_code(402, 'ERROR_EXPLORATION_FAILED', message='exploration failed: {message}')
        spec.exit_code(403, 'ERROR_SELECTION_FAILED', message='selection failed: {message}')
        spec.exit_code(404, 'ERROR_LABELLING_FAILED', message='DFT labelling failed: {message}')
        spec.exit_code(405, 'ERROR_NO_LABEL_INPUTS', message='exploring needs the label.* DFT inputs')

    def _options(self) -> dict:
        return self.inputs.options.get_dict() if 'options' in self.inputs else serial_options()

    def _metadata(self, link: str, label: str) -> dict:
        return {
            'call_link_label': link,
            'label': f'g{self.inputs.generation.value} {label}',
            'options': self._options(),
        }

    def train(self):
        calcs = {
            'train_mlip': self.submit(
                MlipTrainCalculation,
                code=self.inputs.code,
                frames=self.inputs.frames,
                parameters=self.inputs.mlip_parameters,
                metadata=self._metadata('train_mlip', 'potential committee'),
            )
        }
        base = self.inputs.gnn_parameters.get_dict()
        for member in range(self.inputs.gnn_committee.value):
            calcs[f'train_gnn_{member}'] = self.submit(
                GnnTrainCalculation,
                code=self.inputs.code,
                frames=self.inputs.frames,
                parameters=orm.Dict({**base, 'seed': int(base.get('seed', 0)) + member}),
                metadata=self._metadata(f'train_gnn_{member}', f'GNN member {member}'),
            )
        self.ctx.gnn_keys = [k for k in calcs if k.startswith('train_gnn_')]
        return ToContext(**calcs)

    def inspect_train(self):
        keys = ['train_mlip', *self.ctx.gnn_keys]
        failed = [self.ctx[k] for k in keys if not self.ctx[k].is_finished_ok]
        if failed:
            return self.exit_codes.ERROR_TRAINING_FAILED.format(
                message='; '.join(
                    f'{n.process_label}<{n.pk}> [{n.exit_status}] {n.exit_message}' for n in failed
                )
            )
        self.out('mlip_model', self.ctx.train_mlip.outputs.model)
        self.out('mlip_metrics', self.ctx.train_mlip.outputs.metrics)
        for key in self.ctx.gnn_keys:
            member = key.rsplit('_', 1)[1]
            self.out(f'dipole_models.member_{member}', self.ctx[key].outputs.model)
            self.out(f'gnn_metrics.member_{member}', self.ctx[key].outputs.metrics)
        return None

    def should_explore(self):
        return self.inputs.explore.value

    def explore(self):
        if not self.inputs.get('label'):
            return self.exit_codes.ERROR_NO_LABEL_INPUTS
        node = self.submit(
            MlipSampleCalculation,
            code=self.inputs.code,
            model=self.ctx.train_mlip.outputs.model,
            structures=self.inputs.structures,
            parameters=self.inputs.sample_parameters,
            metadata=self._metadata('explore', 'exploration'),
        )
        return ToContext(explore=node)

    def select(self):
        node = self.ctx.explore
        if not node.is_finished_ok:
            return self.exit_codes.ERROR_EXPLORATION_FAILED.format(
                message=f'<{node.pk}> [{node.exit_status}] {node.exit_message}'
            )
        self.out('explored', node.outputs.frames)
        inputs = {
            'code': self.inputs.code,
            'frames': node.outputs.frames,
            'parameters': self.inputs.select_parameters,
            'metadata': self._metadata('select', 'selection'),
        }
        if self.ctx.gnn_keys:
            inputs['gnn_models'] = {
                key.rsplit('_', 1)[1]: self.ctx[key].outputs.model for key in self.ctx.gnn_keys
            }
        return ToContext(selection=self.submit(ActiveSelectCalculation, **inputs))

    def has_selection(self):
        node = self.ctx.selection
        if not node.is_finished_ok:
            return False
        return 'selected' in node.outputs

    def label(self):
        inputs = AttributeDict(self.exposed_inputs(LabelWorkChain, namespace='label'))
        inputs.frames = self.ctx.selection.outputs.selected
        inputs.metadata = {
            'call_link_label': 'label',
            'label': f'g{self.inputs.generation.value} DFT of {inputs.frames.n_frames} selected frames',
        }
        return ToContext(labelling=self.submit(LabelWorkChain, **inputs))

    def evaluate_new(self):
        node = self.ctx.labelling
        if not node.is_finished_ok:
            return self.exit_codes.ERROR_LABELLING_FAILED.format(
                message=f'<{node.pk}> [{node.exit_status}] {node.exit_message}'
            )
        labelled = node.outputs.labelled
        self.out('labelled', labelled)
        for record in node.outputs.failed.get_list():
            self.report(f'selected frame {record["index"]} not labelled (skipped): {record["message"]}')
        calcs = {
            'before_mlip': self.submit(
                MlipEvalCalculation,
                code=self.inputs.code,
                model=self.ctx.train_mlip.outputs.model,
                frames=labelled,
                metadata=self._metadata('before_mlip', 'potential on the new frames'),
            )
        }
        if self.ctx.gnn_keys:
            calcs['before_gnn'] = self.submit(
                GnnEvalCalculation,
                code=self.inputs.code,
                model=self.ctx[self.ctx.gnn_keys[0]].outputs.model,
                frames=labelled,
                metadata=self._metadata('before_gnn', 'GNN on the new frames'),
            )
        return ToContext(**calcs)

    def add_frames(self):
        self.out(
            'frames',
            add_generation(self.inputs.frames, self.ctx.labelling.outputs.labelled, self.inputs.generation),
        )

    def summarize(self):
        node = self.ctx.selection
        if not node.is_finished_ok:
            return self.exit_codes.ERROR_SELECTION_FAILED.format(
                message=f'<{node.pk}> [{node.exit_status}] {node.exit_message}'
            )
        self.out('scores', node.outputs.scores)
        records = {}
        if 'labelling' in self.ctx:
            records['dft'] = orm.Dict(
                {
                    'dft_core_seconds': dft_core_seconds(self.ctx.labelling),
                    'n_labelled': self.ctx.labelling.outputs.labelled.n_frames,
                    'n_failed': len(self.ctx.labelling.outputs.failed.get_list()),
                }
            )
            for key in ('before_mlip', 'before_gnn'):
                if key not in self.ctx:
                    continue
                calc = self.ctx[key]
                if calc.is_finished_ok:
                    records[key] = calc.outputs.metrics
                else:
                    self.report(
                        f'WARNING: {calc.process_label}<{calc.pk}> on the new frames failed '
                        f'[{calc.exit_status}] {calc.exit_message}'
                    )
        else:
            self.out('frames', self.inputs.frames)
        summary = generation_summary(self.inputs.generation, node.outputs.scores, **records)
        self.out('summary', summary)
        s = summary.get_dict()
        line = (
            f'generation {s["generation"]}: {s["n_explored"]} explored, force deviation max '
            f'{s["force_std_max_meV_A"]:.1f} meV/Å'
        )
        if s.get('dipole_std_max_eA') is not None:
            line += f', dipole deviation max {s["dipole_std_max_eA"]:.4f} e·Å'
        line += f'; {s["n_candidates"]} above the floors, {s["n_added"]} added'
        if s.get('new_frames_force_mae_meV_A') is not None:
            line += f'; on them before retraining: force MAE {s["new_frames_force_mae_meV_A"]:.1f} meV/Å'
        if s.get('new_frames_dipole_mae_eA') is not None:
            line += f', dipole MAE {s["new_frames_dipole_mae_eA"]:.4f} e·Å'
        self.report(line)
        return None


class FlexoActiveWorkChain(ProtocolMixin, WorkChain):
    """Generations of train → explore → select → DFT until the committees agree or the DFT budget is spent."""

    _protocol_name = 'active'

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.input('frames', valid_type=FramesData, help='Generation 0: the labelled frames to start from.')
        spec.input_namespace(
            'structures',
            valid_type=orm.StructureData,
            dynamic=True,
            help='Target structures to explore (DFT-sized cells: bulk phases, cut-outs of flexo supercells, '
            'small superlattices).',
        )
        spec.expose_inputs(
            ActiveGenerationWorkChain,
            exclude=('generation', 'frames', 'structures', 'explore'),
        )
        spec.input(
            'max_generations',
            valid_type=orm.Int,
            default=lambda: orm.Int(3),
            validator=_validate_positive_int,
            help='Most generations that explore and label.',
        )
        spec.input(
            'dft_budget',
            valid_type=orm.Dict,
            default=lambda: orm.Dict({}),
            validator=_validate_budget,
            help='Stop adding DFT frames once `frames` frames or `cpu_hours` core-hours have been spent.',
        )
        spec.outline(
            cls.setup,
            while_(cls.should_continue)(cls.run_generation, cls.inspect_generation),
            if_(cls.needs_final_training)(cls.train_final, cls.inspect_final),
            cls.finalize,
        )
        spec.output('frames', valid_type=FramesData, help='Every labelled frame, tagged by generation.')
        spec.output('mlip_model', valid_type=orm.SinglefileData, help='The final potential committee.')
        spec.output_namespace('dipole_models', valid_type=orm.SinglefileData, dynamic=True)
        spec.output(
            'report', valid_type=orm.Dict, help='Per generation: deviations, frames added, DFT time, errors.'
        )
        spec.exit_code(400, 'ERROR_ENGINE_CANNOT_LABEL', message='{message}')
        spec.exit_code(401, 'ERROR_GENERATION_FAILED', message='generation {generation} failed: {message}')

    @classmethod
    def get_builder_from_protocol(
        cls,
        code: orm.AbstractCode,
        frames: FramesData,
        structures: dict[str, orm.StructureData],
        protocol: str | None = None,
        overrides: dict | None = None,
        engine: str = 'gpaw',
        dft_code: orm.AbstractCode | None = None,
        options: dict | None = None,
        potential_family: str | None = None,
    ):
        """A builder with the settings of ``protocol`` (fast / moderate / precise); ``options``: per step
        ``{'label': {...}, 'models': {...}}`` scheduler options."""
        inputs = cls.get_protocol_inputs(protocol, overrides)
        options = options or {}
        builder = cls.get_builder()
        builder.frames = frames
        builder.structures = structures
        builder.code = code
        builder.mlip_parameters = orm.Dict(inputs['mlip'])
        builder.gnn_parameters = orm.Dict(inputs['gnn'])
        builder.gnn_committee = orm.Int(int(inputs['gnn_committee']))
        builder.sample_parameters = orm.Dict(inputs['sample'])
        builder.select_parameters = orm.Dict(inputs['select'])
        builder.max_generations = orm.Int(int(inputs['max_generations']))
        builder.dft_budget = orm.Dict(
            {k: v for k, v in (inputs.get('dft_budget') or {}).items() if v is not None}
        )
        if options.get('models'):
            builder.options = orm.Dict(options['models'])
        builder.label = LabelWorkChain.namespace_inputs_from_protocol(
            dft_code or code,
            engine=engine,
            protocol=inputs['label_protocol'],
            overrides=inputs.get('label', {}),
            options=options.get('label'),
            potential_family=potential_family,
        )
        return builder

    def setup(self):
        label = self.inputs.get('label') or {}
        engine = label.get('engine')
        if engine is None or not label.get(engine.value):
            return self.exit_codes.ERROR_ENGINE_CANNOT_LABEL.format(
                message='give the DFT inputs label.engine, label.engine_inputs and label.gpaw or label.vasp '
                '(get_builder_from_protocol fills them)'
            )
        if engine.value == 'gpaw':
            from aiida_flexo.engines.gpaw_driver import missing_setups

            symbols = sorted(
                {s for st in self.inputs.structures.values() for s in st.get_ase().get_chemical_symbols()}
            )
            xc = label.engine_inputs.get_dict().get('xc', 'PBE')
            try:
                missing = missing_setups(symbols, xc)
            except Exception:  # noqa: BLE001 - GPAW not importable here: the DFT step reports it
                missing = []
            if missing:
                return self.exit_codes.ERROR_ENGINE_CANNOT_LABEL.format(
                    message=f'GPAW has no {xc} PAW setup for {missing}: it cannot label these structures; install '
                    'the setups (gpaw install-data) or use engine vasp'
                )
        self.ctx.structures = structures_to_frames(**self.inputs.structures)
        self.ctx.frames = self.inputs.frames
        self.ctx.generation = 0
        self.ctx.summaries = []
        self.ctx.dft_frames = 0
        self.ctx.dft_core_seconds = 0.0
        self.ctx.converged = False
        self.ctx.stop = False
        self.ctx.trained_on_final = False
        self.ctx.stop_reason = None
        return None

    def _budget_left(self) -> str | None:
        budget = self.inputs.dft_budget.get_dict()
        if budget.get('frames') is not None and self.ctx.dft_frames >= budget['frames']:
            return f'DFT budget spent: {self.ctx.dft_frames} frames (budget {budget["frames"]})'
        hours = self.ctx.dft_core_seconds / 3600
        if budget.get('cpu_hours') is not None and hours >= budget['cpu_hours']:
            return f'DFT budget spent: {hours:.3g} core-hours (budget {budget["cpu_hours"]})'
        return None

    def should_continue(self):
        if self.ctx.converged or self.ctx.stop:
            return False
        if self.ctx.generation >= self.inputs.max_generations.value:
            self.ctx.stop_reason = f'max_generations = {self.inputs.max_generations.value} reached'
            return False
        spent = self._budget_left()
        if spent:
            self.ctx.stop_reason = spent
            return False
        return True

    def _generation_inputs(self, explore: bool) -> AttributeDict:
        inputs = AttributeDict(self.exposed_inputs(ActiveGenerationWorkChain))
        inputs.frames = self.ctx.frames
        inputs.structures = self.ctx.structures
        inputs.explore = orm.Bool(explore)
        generation = self.ctx.generation + (1 if explore else 0)
        inputs.generation = orm.Int(generation)
        if explore:
            select = self.inputs.select_parameters.get_dict()
            budget = self.inputs.dft_budget.get_dict()
            if budget.get('frames') is not None:  # never label beyond the budget
                left = int(budget['frames']) - self.ctx.dft_frames
                select['per_generation'] = max(1, min(int(select.get('per_generation', 8)), left))
            inputs.select_parameters = orm.Dict(select)
        inputs.metadata = {
            'call_link_label': f'generation_{generation}' if explore else 'final_training',
            'label': f'generation {generation}' if explore else 'final training',
        }
        return inputs

    def run_generation(self):
        node = self.submit(ActiveGenerationWorkChain, **self._generation_inputs(explore=True))
        self.report(f'generation {self.ctx.generation + 1}: <{node.pk}> on {self.ctx.frames.n_frames} frames')
        return ToContext(current=node)

    def inspect_generation(self):
        node = self.ctx.current
        self.ctx.generation += 1
        if not node.is_finished_ok:
            return self.exit_codes.ERROR_GENERATION_FAILED.format(
                generation=self.ctx.generation,
                message=f'<{node.pk}> [{node.exit_status}] {node.exit_message}',
            )
        summary = node.outputs.summary.get_dict()
        summary['pk'] = node.pk
        self.ctx.summaries.append(summary)
        self.ctx.last_models = node
        self.ctx.trained_on_final = summary['n_added'] == 0
        self.ctx.frames = node.outputs.frames
        self.ctx.dft_frames += int(summary.get('n_labelled', 0))
        self.ctx.dft_core_seconds += float(summary.get('dft_core_seconds', 0.0))
        if summary['converged']:
            self.ctx.converged = True
            self.ctx.stop_reason = (
                f'converged: no explored frame above the floors in generation {self.ctx.generation}'
            )
        elif summary['n_added'] == 0:  # candidates, but none usable: another generation would repeat this one
            self.ctx.converged = False
            self.ctx.stop_reason = (
                f'generation {self.ctx.generation} added no frame ({summary["n_candidates"]} candidates, '
                f'{summary["n_above_ceiling"]} above the ceiling, {summary.get("n_failed", 0)} failed DFT)'
            )
            self.ctx.stop = True
        return None

    def needs_final_training(self):
        return not self.ctx.trained_on_final

    def train_final(self):
        node = self.submit(ActiveGenerationWorkChain, **self._generation_inputs(explore=False))
        self.report(f'final training on all {self.ctx.frames.n_frames} frames: <{node.pk}>')
        return ToContext(final=node)

    def inspect_final(self):
        node = self.ctx.final
        if not node.is_finished_ok:
            return self.exit_codes.ERROR_GENERATION_FAILED.format(
                generation='final', message=f'<{node.pk}> [{node.exit_status}] {node.exit_message}'
            )
        self.ctx.last_models = node
        return None

    def finalize(self):
        node = self.ctx.last_models
        self.out('frames', self.ctx.frames)
        self.out('mlip_model', node.outputs.mlip_model)
        for key, model in node.outputs.dipole_models.items():
            self.out(f'dipole_models.{key}', model)
        report = {
            'generations': self.ctx.summaries,
            'n_frames_start': self.inputs.frames.n_frames,
            'n_frames_final': self.ctx.frames.n_frames,
            'dft_frames': self.ctx.dft_frames,
            'dft_core_hours': self.ctx.dft_core_seconds / 3600,
            'converged': self.ctx.converged,
            'stop_reason': self.ctx.stop_reason,
            'final_models_from': node.pk,
        }
        self.out('report', orm.Dict(report).store())
        self.report(
            f'{self.ctx.stop_reason}; {self.ctx.dft_frames} DFT frames added in {self.ctx.generation} generation(s) '
            f'({report["dft_core_hours"]:.3g} core-hours), {self.ctx.frames.n_frames} frames in all'
        )
