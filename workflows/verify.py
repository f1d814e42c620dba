"""``flexo.verify``: are the models trusted on the structures a result came from? Cut, label with DFT, compare.

Outline: cut periodic cells small enough for DFT from each final structure (the relaxed flexo supercell, an
annealed superlattice; ``cutout_frames``) → label them with DFT (``flexo.label``: GPAW or VASP) → evaluate the
potential (``flexo.mlip.eval``) and the dipole GNN (``flexo.gnn.eval``) on them → ``verification_report``: the
errors next to the models' held-out errors; exit 410 when a threshold is missed (the report and the outputs are
kept, so the user sees by how much).
"""

from __future__ import annotations

from aiida import orm
from aiida.common import AttributeDict
from aiida.engine import ToContext, WorkChain

from aiida_flexo.active.verify import summary_lines
from aiida_flexo.calcjobs.base import serial_options
from aiida_flexo.calcjobs.functions.frames import gather_frames
from aiida_flexo.calcjobs.functions.verify import CUTOUT_DEFAULTS, cutout_frames, verification_report
from aiida_flexo.calcjobs.gnn import GnnEvalCalculation
from aiida_flexo.calcjobs.mlip import MlipEvalCalculation
from aiida_flexo.nodes.frames import FramesData
from aiida_flexo.workflows.label import LabelWorkChain


def validate_thresholds(value, _):
    from aiida_flexo.active.verify import check_thresholds

    return check_thresholds(value.get_dict()) if value is not None else None


def validate_cutout(value, _):
    if value is None:
        return None
    settings = value.get_dict()
    unknown = sorted(set(settings) - set(CUTOUT_DEFAULTS))
    if unknown:
        return f'unknown cutout settings {unknown}; allowed: {sorted(CUTOUT_DEFAULTS)}'
    for key in ('cells_along_gradient', 'count', 'max_atoms'):
        item = settings.get(key)
        if item is not None and (isinstance(item, bool) or not isinstance(item, int) or item < 1):
            return f'cutout.{key} = {item!r}: must be a positive integer'
    return None


class VerifyWorkChain(WorkChain):
    """DFT check of the potential and the dipole GNN on cut-outs of the structures they predicted on."""

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.input_namespace(
            'structures', valid_type=orm.StructureData, dynamic=True, help='Final structures by name.'
        )
        spec.input_namespace(
            'supercells',
            valid_type=orm.Dict,
            dynamic=True,
            required=False,
            help='The flexo supercell record (flexo.coefficient `supercell`) of each structure, same names: the '
            'cut-outs follow its cells along the strain gradient.',
        )
        spec.input(
            'cutout',
            valid_type=orm.Dict,
            default=lambda: orm.Dict(dict(CUTOUT_DEFAULTS)),
            validator=validate_cutout,
            help='cells_along_gradient, count, max_atoms (refuse larger cut-outs), grid and size (superlattices).',
        )
        spec.input('mlip_model', valid_type=orm.SinglefileData, required=False, help='The potential.')
        spec.input('dipole_model', valid_type=orm.SinglefileData, required=False, help='The dipole GNN.')
        spec.input(
            'mlip_metrics',
            valid_type=orm.Dict,
            required=False,
            help="The potential's training metrics (held-out errors).",
        )
        spec.input(
            'gnn_metrics',
            valid_type=orm.Dict,
            required=False,
            help="The GNN's training metrics (held-out errors).",
        )
        spec.input(
            'thresholds',
            valid_type=orm.Dict,
            default=lambda: orm.Dict({}),
            validator=validate_thresholds,
            help='max_force_mae_meV_A, max_energy_mae_meV_atom, max_dipole_mae_eA (absolute) and max_ratio '
            '(verified / held-out): exit 410 when one is exceeded.',
        )
        spec.input(
            'compare_energy',
            valid_type=orm.Bool,
            default=lambda: orm.Bool(True),
            help='Compare energies (only meaningful when the cut-outs are labelled with the DFT settings of the '
            'training frames: codes differ by a constant per element).',
        )
        spec.input('code', valid_type=orm.AbstractCode, help='The aiida-flexo code (model evaluations).')
        spec.input(
            'options', valid_type=orm.Dict, required=False, help='Scheduler options of the evaluations.'
        )
        spec.expose_inputs(
            LabelWorkChain,
            namespace='label',
            exclude=('frames',),
            namespace_options={'help': 'DFT labelling of the cut-outs.'},
        )
        spec.outline(cls.setup, cls.cut, cls.label, cls.evaluate, cls.summarize)
        spec.output('cutouts', valid_type=FramesData, help='The cut-outs (unlabelled).')
        spec.output('labelled', valid_type=FramesData, help='The cut-outs with their DFT labels.')
        spec.output('mlip_metrics', valid_type=orm.Dict, required=False, help='Potential errors on them.')
        spec.output('gnn_metrics', valid_type=orm.Dict, required=False, help='GNN errors on them.')
        spec.output('report', valid_type=orm.Dict, help='Errors, held-out errors, ratios, failures, trusted.')
        spec.exit_code(400, 'ERROR_NO_MODEL', message='give mlip_model and/or dipole_model to verify')
        spec.exit_code(401, 'ERROR_CUTOUT', message='no cut-out could be made: {message}')
        spec.exit_code(
            402, 'ERROR_LABELLING_FAILED', message='DFT labelling of the cut-outs failed: {message}'
        )
        spec.exit_code(403, 'ERROR_EVALUATION_FAILED', message='model evaluation failed: {message}')
        spec.exit_code(410, 'ERROR_NOT_TRUSTED', message='the models are not trusted here: {message}')

    def setup(self):
        if 'mlip_model' not in self.inputs and 'dipole_model' not in self.inputs:
            return self.exit_codes.ERROR_NO_MODEL
        return None

    def cut(self):
        supercells = self.inputs.get('supercells') or {}
        sets = {}
        for key in sorted(self.inputs.structures):
            extra = {'supercell': supercells[key]} if key in supercells else {}
            try:
                sets[key] = cutout_frames(self.inputs.structures[key], self.inputs.cutout, **extra)
            except ValueError as exc:  # CutoutError: the message says what to change
                return self.exit_codes.ERROR_CUTOUT.format(message=f'{key}: {exc}')
        self.ctx.cutouts = gather_frames(**sets) if len(sets) > 1 else next(iter(sets.values()))
        self.out('cutouts', self.ctx.cutouts)
        sizes = sorted({len(a) for a in self.ctx.cutouts.get_frames()})
        self.report(f'{self.ctx.cutouts.n_frames} cut-outs of {sizes} atoms from {len(sets)} structure(s)')
        return None

    def label(self):
        inputs = AttributeDict(self.exposed_inputs(LabelWorkChain, namespace='label'))
        inputs.frames = self.ctx.cutouts
        inputs.metadata = {'call_link_label': 'label', 'label': 'DFT labels of the cut-outs'}
        return ToContext(labelling=self.submit(LabelWorkChain, **inputs))

    def _options(self) -> dict:
        return self.inputs.options.get_dict() if 'options' in self.inputs else serial_options()

    def evaluate(self):
        node = self.ctx.labelling
        if not node.is_finished_ok:
            return self.exit_codes.ERROR_LABELLING_FAILED.format(
                message=f'<{node.pk}> [{node.exit_status}] {node.exit_message}'
            )
        self.ctx.labelled = node.outputs.labelled
        self.out('labelled', self.ctx.labelled)
        calcs = {}
        for key, process, model in (
            ('eval_mlip', MlipEvalCalculation, 'mlip_model'),
            ('eval_gnn', GnnEvalCalculation, 'dipole_model'),
        ):
            if model not in self.inputs:
                continue
            calcs[key] = self.submit(
                process,
                code=self.inputs.code,
                model=self.inputs[model],
                frames=self.ctx.labelled,
                metadata={'call_link_label': key, 'options': self._options()},
            )
        return ToContext(**calcs)

    def summarize(self):
        failed = [
            f'{self.ctx[k].process_label}<{self.ctx[k].pk}> [{self.ctx[k].exit_status}] {self.ctx[k].exit_message}'
            for k in ('eval_mlip', 'eval_gnn')
            if k in self.ctx and not self.ctx[k].is_finished_ok
        ]
        if failed:
            return self.exit_codes.ERROR_EVALUATION_FAILED.format(message='; '.join(failed))
        inputs = {}
        for key, name in (('eval_mlip', 'mlip_eval'), ('eval_gnn', 'gnn_eval')):
            if key in self.ctx:
                inputs[name] = self.ctx[key].outputs.metrics
                self.out(f'{key[5:]}_metrics', self.ctx[key].outputs.metrics)
        for name in ('mlip_metrics', 'gnn_metrics'):
            if name in self.inputs:
                inputs[name.replace('metrics', 'training')] = self.inputs[name]
        report = verification_report(
            self.inputs.thresholds, self.ctx.labelled, self.inputs.compare_energy, **inputs
        )
        self.out('report', report)
        summary = report.get_dict()
        for line in summary_lines(summary):
            self.report(line)
        if not summary['trusted']:
            return self.exit_codes.ERROR_NOT_TRUSTED.format(message='; '.join(summary['failures']))
        return None
