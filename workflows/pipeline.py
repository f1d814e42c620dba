"""``flexo.pipeline``: from bulk crystals and DFT settings to flexoelectric coefficients, all on record.

Outline: sample configurations (``flexo.sampling``) → label them with DFT (``flexo.label``: GPAW or VASP) → train
the dipole GNN and the potential (fine-tuned universal potential or Allegro) in parallel (``flexo.gnn.train``, ``flexo.mlip.train``) → check both on
their held-out frames against the thresholds the user set → one ``flexo.coefficient`` per component, in parallel →
``flexo.verify`` (``verification=True``): cut-outs of the relaxed supercells labelled with DFT, the models' errors
there next to their held-out errors, exit 410 when a verification threshold is missed.
With ``frames`` (an existing labelled set) sampling and labelling are skipped (the labelling inputs are still used
by the verification).
"""

from __future__ import annotations

from aiida import orm
from aiida.common import AttributeDict
from aiida.engine import ToContext, WorkChain, if_

from aiida_flexo.calcjobs.base import scheduler_options
from aiida_flexo.calcjobs.functions.flexo import extrapolate_coefficient
from aiida_flexo.calcjobs.gnn import GnnTrainCalculation
from aiida_flexo.calcjobs.mlip import MlipSampleCalculation, MlipTrainCalculation
from aiida_flexo.gates import HELD_OUT_METRICS, THRESHOLDS, gate_failures
from aiida_flexo.mlip.route import FINETUNE_BELOW_FRAMES
from aiida_flexo.nodes.coefficient import FlexoCoefficientData
from aiida_flexo.nodes.frames import FramesData
from aiida_flexo.provenance import held_out_metrics
from aiida_flexo.workflows.flexo_coefficient import FlexoCoefficientWorkChain
from aiida_flexo.workflows.label import LabelWorkChain
from aiida_flexo.workflows.protocols import ProtocolMixin, builder_inputs, recursive_merge, set_namespace
from aiida_flexo.workflows.sampling import SamplingWorkChain
from aiida_flexo.workflows.train_restart import GnnTrainWorkChain, MlipTrainWorkChain
from aiida_flexo.workflows.verify import VerifyWorkChain


def _validate_thresholds(value, _):
    unknown = set(value.get_dict()) - set(THRESHOLDS)
    return f'unknown thresholds {sorted(unknown)}; allowed: {sorted(THRESHOLDS)}' if unknown else None


def _validate_route(value, _):
    from aiida_flexo.mlip.universal import UNIVERSAL_POTENTIALS, is_universal_name

    if value.value in ('auto', 'allegro') or is_universal_name(value.value):
        return None
    return f'potential_route {value.value!r}: use auto, allegro or one of {", ".join(UNIVERSAL_POTENTIALS)}'


def _validate_repeats(value, _):
    repeats = value.get_list()
    if not repeats or any(not isinstance(n, int) or isinstance(n, bool) or n < 2 for n in repeats):
        return f'convergence_repeats must be supercell lengths N (integers ≥ 2), got {repeats}'
    return None


def _validate_components(value, _):
    from aiida_flexo.flexo.convention import Component

    for component in value.get_list():
        try:
            Component.parse(str(component))
        except ValueError as exc:
            return f'invalid flexo component {component!r}: {exc}'
    return None


class FlexoPipelineWorkChain(ProtocolMixin, WorkChain):
    """Sample → label → train GNN and MLIP → validate → flexoelectric coefficients."""

    _protocol_name = 'pipeline'

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.input_namespace(
            'structures',
            valid_type=orm.StructureData,
            dynamic=True,
            required=False,
            help='Bulk phases by name.',
        )
        spec.input(
            'frames', valid_type=FramesData, required=False, help='Existing labelled frames: skip DFT.'
        )
        spec.input(
            'flexo_structure',
            valid_type=orm.StructureData,
            required=False,
            help='Bulk cell of the flexo supercells (default: the first phase in `structures`).',
        )
        spec.input(
            'components',
            valid_type=orm.List,
            validator=_validate_components,
            help='μ components, e.g. ["3333"].',
        )
        spec.input(
            'thresholds',
            valid_type=orm.Dict,
            required=False,
            validator=_validate_thresholds,
            help=f'Stop (exit 404/405) when a model is worse on its held-out frames: {", ".join(THRESHOLDS)}.',
        )
        spec.expose_inputs(
            SamplingWorkChain,
            namespace='sampling',
            exclude=('structures',),
            namespace_options={
                'required': False,
                'populate_defaults': False,
                'help': 'Sampling (no frames given).',
            },
        )
        spec.expose_inputs(
            LabelWorkChain,
            namespace='label',
            exclude=('frames',),
            namespace_options={'required': False, 'populate_defaults': False, 'help': 'DFT labelling.'},
        )
        spec.expose_inputs(GnnTrainCalculation, namespace='gnn', exclude=('frames',))
        spec.expose_inputs(MlipTrainCalculation, namespace='mlip', exclude=('frames',))
        spec.input(
            'potential_route',
            valid_type=orm.Str,
            default=lambda: orm.Str('auto'),
            validator=_validate_route,
            help='auto: fine-tune a pretrained universal potential below '
            f'{FINETUNE_BELOW_FRAMES} frames, Allegro from scratch above; allegro; or the name of a pretrained '
            'potential to fine-tune. A from_potential in mlip.parameters wins.',
        )
        spec.input(
            'distill',
            valid_type=orm.Bool,
            default=lambda: orm.Bool(False),
            help='After fine-tuning, distil the potential into a fast Allegro student (flexo.mlip.distill) for '
            'large MD (textures): output mlip_student.',
        )
        spec.expose_inputs(
            MlipSampleCalculation,
            namespace='distill_sample',
            include=('parameters',),
            namespace_options={'required': False, 'populate_defaults': False, 'help': 'Teacher sampling.'},
        )
        spec.expose_inputs(
            FlexoCoefficientWorkChain,
            namespace='flexo',
            exclude=('structure', 'dipole_model', 'mlip_model'),
            namespace_options={
                'help': 'Flexo coefficient settings; supercell.component is set per component.'
            },
        )
        spec.input(
            'convergence_repeats',
            valid_type=orm.List,
            required=False,
            validator=_validate_repeats,
            help='More supercell lengths N for each component, run beside flexo.supercell.repeat: the large-N limit '
            'μ∞ with its error bar (output convergence; μ∞ + a/N² or a/N, aiida_flexo.flexo.convergence).',
        )
        spec.input(
            'verification',
            valid_type=orm.Bool,
            default=lambda: orm.Bool(False),
            help='After μ, check both models with DFT on cut-outs of the relaxed supercells (flexo.verify, with the '
            'label.* DFT inputs): the report prints their errors next to the held-out ones.',
        )
        spec.expose_inputs(
            VerifyWorkChain,
            namespace='verify',
            include=('cutout', 'thresholds'),
            namespace_options={
                'required': False,
                'populate_defaults': False,
                'help': 'Verification settings: cut-outs and thresholds. Energies are compared only when the '
                'pipeline labelled its own frames (other codes differ by constants per element).',
            },
        )
        spec.outline(
            cls.setup,
            if_(cls.needs_dft)(cls.sample, cls.inspect_sample, cls.label, cls.inspect_label),
            cls.train,
            cls.inspect_training,
            cls.validate,
            if_(cls.should_distill)(cls.distill_potential, cls.inspect_distill),
            cls.run_flexo,
            cls.inspect_flexo,
            if_(cls.should_verify)(cls.verify, cls.inspect_verify),
        )
        spec.output('frames', valid_type=FramesData, help='The labelled frames both models were trained on.')
        spec.output('dipole_model', valid_type=orm.SinglefileData)
        spec.output('mlip_model', valid_type=orm.SinglefileData)
        spec.output(
            'mlip_student',
            valid_type=orm.SinglefileData,
            required=False,
            help='The distilled Allegro student of mlip_model (distill=True).',
        )
        spec.output('distill_report', valid_type=orm.Dict, required=False)
        spec.output(
            'verification',
            valid_type=orm.Dict,
            required=False,
            help='flexo.verify report: errors on DFT-labelled cut-outs, held-out errors, ratios, trusted.',
        )
        spec.output('gnn_metrics', valid_type=orm.Dict)
        spec.output('mlip_metrics', valid_type=orm.Dict)
        spec.output_namespace(
            'coefficients', valid_type=FlexoCoefficientData, dynamic=True, help='μ by component.'
        )
        spec.output_namespace(
            'results', valid_type=orm.Dict, dynamic=True, help='Full flexo results by component.'
        )
        spec.output_namespace(
            'convergence',
            valid_type=orm.Dict,
            dynamic=True,
            help='μ∞ ± error by component, from μ at flexo.supercell.repeat and convergence_repeats.',
        )
        spec.exit_code(
            400, 'ERROR_NO_STRUCTURE', message='give `structures` (to sample and label) or `frames`'
        )
        spec.exit_code(401, 'ERROR_SAMPLING_FAILED', message='sampling failed: {message}')
        spec.exit_code(402, 'ERROR_LABELLING_FAILED', message='labelling failed: {message}')
        spec.exit_code(403, 'ERROR_TRAINING_FAILED', message='training failed: {message}')
        spec.exit_code(404, 'ERROR_GNN_NOT_ACCURATE', message='the dipole GNN misses a threshold: {message}')
        spec.exit_code(405, 'ERROR_MLIP_NOT_ACCURATE', message='the potential misses a threshold: {message}')
        spec.exit_code(406, 'ERROR_FLEXO_FAILED', message='flexo coefficient(s) failed: {message}')
        spec.exit_code(407, 'ERROR_DISTILLATION_FAILED', message='the distillation failed: {message}')
        spec.exit_code(
            408,
            'ERROR_VERIFICATION_INPUTS',
            message='verification=True needs DFT inputs to label the cut-outs: give label.engine, '
            'label.engine_inputs and label.gpaw or label.vasp (get_builder_from_protocol fills them)',
        )
        spec.exit_code(409, 'ERROR_VERIFICATION_FAILED', message='the verification could not run: {message}')
        spec.exit_code(
            410, 'ERROR_NOT_TRUSTED', message='the DFT check of the final structures failed: {message}'
        )

    @classmethod
    def get_builder_from_protocol(
        cls,
        code: orm.AbstractCode,
        structure: orm.StructureData | dict[str, orm.StructureData],
        protocol: str | None = None,
        overrides: dict | None = None,
        frames: FramesData | None = None,
        engine: str = 'gpaw',
        dft_code: orm.AbstractCode | None = None,
        options: dict | None = None,
        potential_family: str | None = None,
        references: dict[str, orm.StructureData] | None = None,
    ):
        """A builder for the whole pipeline with the settings of ``protocol`` (fast / moderate / precise).

        Args:
            code: the ``aiida-flexo`` code (sampling MD with GPAW, training, relaxation, predictions).
            structure: the bulk crystal, or several phases by name (the first is the flexo bulk cell).
            frames: an existing labelled frame set: sampling and labelling are skipped.
            engine: ``gpaw`` or ``vasp`` for the labels; ``dft_code`` runs them (default: ``code`` for GPAW).
            options: scheduler options per step: ``{'label': {...}, 'gnn': {...}, 'mlip': {...}, 'flexo': {...},
                'sampling': {...}}`` (resources, max_wallclock_seconds, account, queue_name).
            potential_family: POTCAR family (VASP).
            references: centrosymmetric references by name: the sampling adds the path from each to every phase
                with the same atoms, which fixes the absolute polarization the dipole GNN learns.
        """
        inputs = cls.get_protocol_inputs(protocol, overrides)
        options = options or {}
        structures = structure if isinstance(structure, dict) else {'bulk': structure}
        builder = cls.get_builder()
        builder.components = orm.List(list(inputs['components']))
        thresholds = {k: v for k, v in (inputs.get('thresholds') or {}).items() if v is not None}
        if thresholds:
            builder.thresholds = orm.Dict(thresholds)
        builder.flexo_structure = next(iter(structures.values()))
        if frames is not None:
            builder.frames = frames
        else:
            builder.structures = structures
            # the AIMD runs with the labelling engine and its settings: GPAW, or VASP through aiida-vasp
            sampling = SamplingWorkChain.get_builder_from_protocol(
                code if engine == 'gpaw' else dft_code or code,
                structures,
                sampler=engine,
                protocol=inputs['sampling_protocol'],
                overrides=inputs.get('sampling', {}),
                options=options.get('sampling'),
                engine_inputs=inputs.get('label', {}).get('engine_inputs'),
                potential_family=potential_family,
            )
            if references:
                sampling.references = references
            # the sampling WorkChain's own builder; the structures are the pipeline's input, passed on in run_sampling
            set_namespace(builder.sampling, builder_inputs(sampling, exclude=('structures',)))
        verify = inputs.get('verify') or {}
        if inputs.get('convergence_repeats'):
            builder.convergence_repeats = orm.List([int(n) for n in inputs['convergence_repeats']])
        builder.verification = orm.Bool(bool(verify.get('enabled', False)))
        if builder.verification.value:
            builder.verify.cutout = orm.Dict(verify.get('cutout') or {})
            builder.verify.thresholds = orm.Dict(
                {k: v for k, v in (verify.get('thresholds') or {}).items() if v is not None}
            )
        if frames is None or builder.verification.value:  # the DFT settings label the frames and the cut-outs
            builder.label = LabelWorkChain.namespace_inputs_from_protocol(
                dft_code or code,
                engine=engine,
                protocol=inputs['label_protocol'],
                overrides=inputs.get('label', {}),
                options=options.get('label'),
                potential_family=potential_family,
            )
        builder.gnn.code = code
        builder.gnn.parameters = orm.Dict(inputs['gnn'])
        builder.mlip.code = code
        builder.mlip.parameters = orm.Dict(inputs['mlip'])
        builder.potential_route = orm.Str(str(inputs.get('potential_route', 'auto')))
        builder.distill = orm.Bool(bool(inputs.get('distill', False)))
        if inputs.get('distill_sample'):
            builder.distill_sample.parameters = orm.Dict(inputs['distill_sample'])
        for name in ('gnn', 'mlip'):
            if options.get(name):
                builder[name].metadata.options = options[name]
        # the coefficient WorkChain's own builder (aiida-quantumespresso's way); the pipeline gives it the bulk and
        # the models it makes
        flexo = FlexoCoefficientWorkChain.get_builder_from_protocol(
            code,
            None,
            None,
            protocol=inputs['flexo_protocol'],
            overrides=inputs.get('flexo', {}),
            options=options.get('flexo'),
            relax=True,
        )
        flexo.bec_from_model = orm.Bool(bool(inputs.get('bec_from_model', True)))
        set_namespace(builder.flexo, builder_inputs(flexo))
        return builder

    # ------------------------------------------------------------------------------------------------ steps

    def setup(self):
        if 'frames' not in self.inputs and not self.inputs.get('structures'):
            return self.exit_codes.ERROR_NO_STRUCTURE
        if 'flexo_structure' in self.inputs:
            self.ctx.flexo_structure = self.inputs.flexo_structure
        elif self.inputs.get('structures'):
            self.ctx.flexo_structure = self.inputs.structures[sorted(self.inputs.structures)[0]]
        else:
            return self.exit_codes.ERROR_NO_STRUCTURE
        if self.inputs.verification.value and not self._has_label_inputs():
            return self.exit_codes.ERROR_VERIFICATION_INPUTS
        if 'frames' in self.inputs:
            self.ctx.frames = self.inputs.frames
            self.report(
                f'using the given labelled frames <{self.inputs.frames.pk}> ({self.inputs.frames.n_frames} frames)'
            )
        return None

    def _has_label_inputs(self) -> bool:
        label = self.inputs.get('label') or {}
        engine = label.get('engine')
        return bool(engine is not None and 'engine_inputs' in label and label.get(engine.value))

    def needs_dft(self):
        return 'frames' not in self.inputs

    def sample(self):
        inputs = AttributeDict(self.exposed_inputs(SamplingWorkChain, namespace='sampling'))
        inputs.structures = dict(self.inputs.structures)
        inputs.metadata = {'call_link_label': 'sampling', 'label': 'sampling'}
        return ToContext(sampling=self.submit(SamplingWorkChain, **inputs))

    def inspect_sample(self):
        node = self.ctx.sampling
        if not node.is_finished_ok:
            return self.exit_codes.ERROR_SAMPLING_FAILED.format(
                message=f'<{node.pk}> [{node.exit_status}] {node.exit_message}'
            )
        self.report(f'sampled {node.outputs.frames.n_frames} frames')
        return None

    def label(self):
        inputs = AttributeDict(self.exposed_inputs(LabelWorkChain, namespace='label'))
        inputs.frames = self.ctx.sampling.outputs.frames
        inputs.metadata = {'call_link_label': 'label', 'label': 'DFT labels'}
        return ToContext(labelling=self.submit(LabelWorkChain, **inputs))

    def inspect_label(self):
        node = self.ctx.labelling
        if not node.is_finished_ok:
            return self.exit_codes.ERROR_LABELLING_FAILED.format(
                message=f'<{node.pk}> [{node.exit_status}] {node.exit_message}'
            )
        self.ctx.frames = node.outputs.labelled
        failed = node.outputs.failed.get_list()
        self.report(f'labelled {self.ctx.frames.n_frames} frames with DFT ({len(failed)} failed)')
        return None

    def gnn_parameters(self, parameters: orm.Dict | None) -> orm.Dict | None:
        """The GNN's parameters with the Born-charge loss off when the frames carry no Born charges (a crystal
        whose Z* vanish, such as Si, or labels without them): the dipoles alone train it. None: unchanged."""
        if 'born_charges' in self.ctx.frames.labels:
            return None
        values = parameters.get_dict() if parameters is not None else {}
        if not values.get('bec_weight'):
            return None
        self.report(
            f'the {self.ctx.frames.n_frames} frames have no Born charges: the GNN trains on the Berry-phase dipoles '
            f'alone (bec_weight {values["bec_weight"]} → 0)'
        )
        return orm.Dict({**values, 'bec_weight': 0.0})

    def potential_parameters(self) -> orm.Dict | None:
        """The MLIP training parameters with the route decided (``from_potential`` set or not)."""
        given = self.inputs.mlip.parameters.get_dict() if 'parameters' in self.inputs.mlip else {}
        if 'from_potential' in given:
            return None
        route = self.inputs.potential_route.value
        if route == 'auto':
            from aiida_flexo.mlip.route import choose_route

            chosen = choose_route(self.ctx.frames.n_frames)
            why = f'{self.ctx.frames.n_frames} frames (auto route: fine-tune below {FINETUNE_BELOW_FRAMES})'
        else:
            chosen = None if route == 'allegro' else route
            why = 'potential_route'
        self.report(f'potential: {"fine-tuning " + chosen if chosen else "Allegro from scratch"} ({why})')
        if chosen is None:
            return None
        return orm.Dict({**given, 'from_potential': chosen})

    def train(self):
        """Both trainings through their restart WorkChains (walltime limits, kills: they resume from checkpoints)."""
        calcs = {}
        trainers = (
            ('gnn', GnnTrainCalculation, GnnTrainWorkChain),
            ('mlip', MlipTrainCalculation, MlipTrainWorkChain),
        )
        for name, process, workchain in trainers:
            inputs = AttributeDict(self.exposed_inputs(process, namespace=name))
            inputs.frames = self.ctx.frames
            if name == 'mlip':
                parameters = self.potential_parameters()
                if parameters is not None:
                    inputs.parameters = parameters
            elif name == 'gnn':
                parameters = self.gnn_parameters(inputs.get('parameters'))
                if parameters is not None:
                    inputs.parameters = parameters
            label = 'dipole GNN training' if name == 'gnn' else 'potential training'
            inputs.metadata = AttributeDict(inputs.get('metadata', {}))
            inputs.metadata.label = label
            metadata = {'call_link_label': f'train_{name}', 'label': label}
            calcs[f'train_{name}'] = self.submit(workchain, train=inputs, metadata=metadata)
        self.report(
            f'training the dipole GNN <{calcs["train_gnn"].pk}> and the potential <{calcs["train_mlip"].pk}> '
            f'on {self.ctx.frames.n_frames} frames'
        )
        return ToContext(**calcs)

    def inspect_training(self):
        failed = [self.ctx[k] for k in ('train_gnn', 'train_mlip') if not self.ctx[k].is_finished_ok]
        if failed:
            message = '; '.join(
                f'{n.process_label}<{n.pk}> [{n.exit_status}] {n.exit_message}' for n in failed
            )
            return self.exit_codes.ERROR_TRAINING_FAILED.format(message=message)
        self.out('frames', self.ctx.frames)
        self.out('dipole_model', self.ctx.train_gnn.outputs.model)
        self.out('mlip_model', self.ctx.train_mlip.outputs.model)
        self.out('gnn_metrics', self.ctx.train_gnn.outputs.metrics)
        self.out('mlip_metrics', self.ctx.train_mlip.outputs.metrics)
        return None

    def validate(self):
        metrics = {
            'dipole': held_out_metrics(self.ctx.train_gnn.outputs.metrics.get_dict()),
            'mlip': held_out_metrics(self.ctx.train_mlip.outputs.metrics.get_dict()),
        }
        parts = [
            f'{name} {metrics[model][key]:.4g} {unit}'
            for model, key, name, unit in HELD_OUT_METRICS
            if metrics[model].get(key) is not None
        ]
        self.report(f'held-out accuracy: {", ".join(parts) or "no test or validation metrics"}')
        gnn_metrics = self.ctx.train_gnn.outputs.metrics.get_dict()
        for path, record in (gnn_metrics.get('spontaneous_polarization') or {}).items():
            model_p = ', '.join(f'{x:.4f}' for x in record['model_C_m2'])
            dft_p = ', '.join(f'{x:.4f}' for x in record['dft_C_m2'])
            self.report(f'spontaneous polarization {path}: model ({model_p}) C/m², DFT ({dft_p}) C/m²')
        for message in gnn_metrics.get('warnings') or []:
            self.report(f'WARNING dipole GNN: {message}')
        thresholds = self.inputs.thresholds.get_dict() if 'thresholds' in self.inputs else {}
        failures = gate_failures(metrics, thresholds)
        if failures:
            message = '; '.join(failures) + ': add frames or train longer'
            self.report(f'accuracy gate: {message}')
            code = (
                self.exit_codes.ERROR_GNN_NOT_ACCURATE
                if failures[0].startswith('dipole')
                else self.exit_codes.ERROR_MLIP_NOT_ACCURATE
            )
            return code.format(message=message)
        if thresholds:
            self.report(
                'accuracy gate: passed (' + ', '.join(f'{k} {v:g}' for k, v in thresholds.items()) + ')'
            )
        return None

    def should_distill(self):
        return self.inputs.distill.value

    def distill_potential(self):
        from aiida_flexo.calcjobs.functions.frames import structures_to_frames
        from aiida_flexo.workflows.mlip_distill import MlipDistillWorkChain

        structures = (
            dict(self.inputs.structures)
            if self.inputs.get('structures')
            else {'bulk': self.ctx.flexo_structure}
        )
        builder = MlipDistillWorkChain.get_builder()
        builder.sample.code = self.inputs.mlip.code
        builder.sample.model = self.ctx.train_mlip.outputs.model
        builder.sample.structures = structures_to_frames(**structures)
        if 'distill_sample' in self.inputs and 'parameters' in self.inputs.distill_sample:
            builder.sample.parameters = self.inputs.distill_sample.parameters
        builder.student.code = self.inputs.mlip.code
        student = self.inputs.mlip.parameters.get_dict() if 'parameters' in self.inputs.mlip else {}
        builder.student.parameters = orm.Dict(
            {k: v for k, v in student.items() if k not in ('from_potential', 'lr')}
        )
        options = scheduler_options(self.inputs.mlip.get('metadata', {}).get('options'))
        if options:
            builder.sample.metadata.options = options
            builder.student.metadata.options = options
        builder.metadata.call_link_label = 'distill'
        node = self.submit(builder)
        self.report(f'distilling the potential into an Allegro student: {node.process_label}<{node.pk}>')
        return ToContext(distill=node)

    def inspect_distill(self):
        node = self.ctx.distill
        if not node.is_finished_ok:
            return self.exit_codes.ERROR_DISTILLATION_FAILED.format(
                message=f'<{node.pk}> [{node.exit_status}] {node.exit_message}'
            )
        self.out('mlip_student', node.outputs.model)
        self.out('distill_report', node.outputs.report)
        return None

    def run_flexo(self):
        calcs = {}
        for component in self.inputs.components.get_list():
            inputs = AttributeDict(self.exposed_inputs(FlexoCoefficientWorkChain, namespace='flexo'))
            inputs.structure = self.ctx.flexo_structure
            inputs.dipole_model = self.ctx.train_gnn.outputs.model
            inputs.mlip_model = self.ctx.train_mlip.outputs.model
            inputs.supercell = orm.Dict(
                recursive_merge(inputs.supercell.get_dict(), {'component': str(component)})
            )
            inputs.metadata = {'call_link_label': f'flexo_{component}', 'label': f'mu{component}'}
            calcs[f'flexo_{component}'] = self.submit(FlexoCoefficientWorkChain, **inputs)
            for repeat in self._extra_repeats(inputs.supercell.get_dict()):
                extra = AttributeDict(inputs)
                extra.supercell = orm.Dict(recursive_merge(inputs.supercell.get_dict(), {'repeat': repeat}))
                extra.check_fmax = orm.Bool(False)  # the tolerance is checked on the main length
                extra.metadata = {
                    'call_link_label': f'flexo_{component}_N{repeat}',
                    'label': f'mu{component} N={repeat}',
                }
                calcs[f'flexo_{component}_N{repeat}'] = self.submit(FlexoCoefficientWorkChain, **extra)
        return ToContext(**calcs)

    def _extra_repeats(self, supercell: dict) -> list[int]:
        """The convergence lengths N other than the main one (flexo.supercell.repeat)."""
        if 'convergence_repeats' not in self.inputs:
            return []
        main = supercell.get('repeat')
        return [int(n) for n in self.inputs.convergence_repeats.get_list() if int(n) != main]

    def _converge(self, component: str, main: FlexoCoefficientWorkChain) -> None:
        """μ∞ of ``component`` from the main length and the convergence lengths that finished (output, report)."""
        supercell = self.exposed_inputs(FlexoCoefficientWorkChain, namespace='flexo')['supercell'].get_dict()
        extras = self._extra_repeats(supercell)
        if not extras:
            return
        nodes = {'main': main.outputs.coefficient}
        for repeat in extras:
            node = self.ctx[f'flexo_{component}_N{repeat}']
            if node.is_finished_ok:
                nodes[f'N{repeat}'] = node.outputs.coefficient
            else:
                self.report(
                    f'WARNING: μ{component} at N = {repeat} <{node.pk}> failed [{node.exit_status}] '
                    f'{node.exit_message}: left out of μ∞'
                )
        if len(nodes) < 2:
            self.report(f'WARNING: μ{component}: no second supercell length finished, so no μ∞')
            return
        limit = extrapolate_coefficient(
            orm.Float(0.0), **nodes, metadata={'call_link_label': f'extrapolate_mu{component}'}
        )
        self.out(f'convergence.mu{component}', limit)
        self.report(f'μ{component}: {limit["summary"]}')

    def inspect_flexo(self):
        failed = []
        for component in self.inputs.components.get_list():
            node = self.ctx[f'flexo_{component}']
            if not node.is_finished_ok:
                failed.append(f'μ{component} <{node.pk}> [{node.exit_status}] {node.exit_message}')
                continue
            self.out(f'coefficients.mu{component}', node.outputs.coefficient)
            self.out(f'results.mu{component}', node.outputs.result)
            self.report(f'{node.outputs.coefficient}')
            self._converge(component, node)
        if failed:
            return self.exit_codes.ERROR_FLEXO_FAILED.format(message='; '.join(failed))
        return None

    def should_verify(self):
        return self.inputs.verification.value

    def verify(self):
        inputs = AttributeDict(self.exposed_inputs(VerifyWorkChain, namespace='verify'))
        inputs.compare_energy = orm.Bool(self.needs_dft())  # other codes differ by constants per element
        if not self.needs_dft():
            self.report('verification: energies not compared (the given frames may come from another code)')
        inputs.label = self.exposed_inputs(LabelWorkChain, namespace='label')
        inputs.structures, inputs.supercells = {}, {}
        for component in self.inputs.components.get_list():
            node = self.ctx[f'flexo_{component}']
            inputs.structures[f'mu{component}'] = node.outputs.relaxed_structure
            inputs.supercells[f'mu{component}'] = node.outputs.supercell
        inputs.mlip_model = self.ctx.train_mlip.outputs.model
        inputs.dipole_model = self.ctx.train_gnn.outputs.model
        inputs.mlip_metrics = self.ctx.train_mlip.outputs.metrics
        inputs.gnn_metrics = self.ctx.train_gnn.outputs.metrics
        inputs.code = self.inputs.mlip.code
        options = scheduler_options(self.inputs.mlip.get('metadata', {}).get('options'))
        if options:
            inputs.options = orm.Dict(options)
        inputs.metadata = {'call_link_label': 'verify', 'label': 'DFT check of the final structures'}
        node = self.submit(VerifyWorkChain, **inputs)
        self.report(f'verifying both models with DFT on cut-outs of the relaxed supercells: <{node.pk}>')
        return ToContext(verification=node)

    def inspect_verify(self):
        from aiida_flexo.active.verify import summary_lines

        node = self.ctx.verification
        if 'report' not in node.outputs:
            return self.exit_codes.ERROR_VERIFICATION_FAILED.format(
                message=f'<{node.pk}> [{node.exit_status}] {node.exit_message}'
            )
        report = node.outputs.report
        self.out('verification', report)
        for line in summary_lines(report.get_dict()):
            self.report(f'verification: {line}')
        if not report['trusted']:
            return self.exit_codes.ERROR_NOT_TRUSTED.format(message='; '.join(report['failures']))
        return None
