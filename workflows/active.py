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

from aiida_flexo.calcjobs.functions.frames import structures_to_frames
from aiida_flexo.nodes.frames import FramesData
from aiida_flexo.workflows.active_generation import ActiveGenerationWorkChain
from aiida_flexo.workflows.label import LabelWorkChain
from aiida_flexo.workflows.protocols import ProtocolMixin


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
