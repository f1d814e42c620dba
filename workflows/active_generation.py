"""``flexo.active.generation``: one generation of active learning (the loop is :mod:`aiida_flexo.workflows.active`).

Train the potential committee (``flexo.mlip.train`` with ``committee`` >= 2) and the GNN committee
(``gnn_committee`` x ``flexo.gnn.train``, seeds s, s+1, ...) on the frames so far; explore the target structures
with the potential committee (``flexo.mlip.sample``: MD along the temperatures, random strains and displacements;
every frame carries the committee's force deviation); score and select (``flexo.active.select``); label the
selection with DFT (``flexo.label``); evaluate this generation's models on the new frames before retraining;
``add_generation``. With ``explore`` False it only trains (the loop's final models).
"""

from __future__ import annotations

from aiida import orm
from aiida.common import AttributeDict
from aiida.engine import ToContext, WorkChain, if_

from aiida_flexo.calcjobs.active import ActiveSelectCalculation, validate_select
from aiida_flexo.calcjobs.base import serial_options
from aiida_flexo.calcjobs.functions.active import add_generation, generation_summary
from aiida_flexo.calcjobs.gnn import GnnEvalCalculation
from aiida_flexo.calcjobs.mlip import MlipEvalCalculation, MlipSampleCalculation
from aiida_flexo.nodes.frames import FramesData
from aiida_flexo.workflows.label import LabelWorkChain
from aiida_flexo.workflows.train_restart import GnnTrainWorkChain, MlipTrainWorkChain


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

    def _training(self, workchain, link: str, label: str, parameters: orm.Dict):
        """Submit a training through its restart WorkChain (walltime limits and kills resume from checkpoints)."""
        metadata = self._metadata(link, label)
        train = {
            'code': self.inputs.code,
            'frames': self.inputs.frames,
            'parameters': parameters,
            'metadata': {'label': metadata['label'], 'options': metadata.pop('options')},
        }
        return self.submit(workchain, train=train, metadata=metadata)

    def train(self):
        calcs = {
            'train_mlip': self._training(
                MlipTrainWorkChain, 'train_mlip', 'potential committee', self.inputs.mlip_parameters
            )
        }
        base = self.inputs.gnn_parameters.get_dict()
        for member in range(self.inputs.gnn_committee.value):
            parameters = orm.Dict({**base, 'seed': int(base.get('seed', 0)) + member})
            calcs[f'train_gnn_{member}'] = self._training(
                GnnTrainWorkChain, f'train_gnn_{member}', f'GNN member {member}', parameters
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
