"""``flexo.coefficient``: a flexoelectric coefficient μ from a bulk crystal, an Allegro potential and a dipole GNN.

Outline: build the strain-gradient supercell (calcfunction) → relax it with the MLIP, one sublattice fixed
(``flexo.mlip.relax.base``, restarted until converged) → predict per-atom dipoles of the relaxed and of the clamped
(imposed-field) supercell with the GNN (``flexo.gnn.predict``) → extract μ (calcfunction: two-point difference and
least-squares fit, nC/m), with the Born-charge baseline when Z* are given or asked from the GNN.
"""

from __future__ import annotations

from aiida import orm
from aiida.common import AttributeDict
from aiida.engine import ToContext, WorkChain, if_

from aiida_flexo.calcjobs.functions.flexo import (
    build_flexo_supercell,
    extract_flexo_coefficient,
    flexo_tolerance_check,
)
from aiida_flexo.calcjobs.gnn import GnnPredictCalculation
from aiida_flexo.flexo.crystal_symmetry import ZERO_BORN_CHARGES_NOTE, born_charges_vanish
from aiida_flexo.nodes.coefficient import FlexoCoefficientData
from aiida_flexo.workflows.mlip_relax import MlipRelaxWorkChain
from aiida_flexo.workflows.protocols import ProtocolMixin


class FlexoCoefficientWorkChain(ProtocolMixin, WorkChain):
    """μ of one component: supercell → MLIP relaxation → GNN dipoles → extraction."""

    _protocol_name = 'flexo_coefficient'

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.input(
            'structure',
            valid_type=orm.StructureData,
            help='Bulk crystal (any cell; an orthogonal one is made).',
        )
        spec.input(
            'supercell',
            valid_type=orm.Dict,
            help='component (e.g. "3333"), repeat (N), max_strain, fix (species of the fixed sublattice), shape.',
        )
        spec.input(
            'dipole_model', valid_type=orm.SinglefileData, help='Trained dipole GNN (flexo.gnn.train).'
        )
        spec.input(
            'mlip_model',
            valid_type=orm.SinglefileData,
            required=False,
            help='Trained potential (flexo.mlip.train: Allegro, fine-tuned or committee); without it the imposed field is '
            'used unrelaxed.',
        )
        spec.input(
            'born_charges',
            valid_type=orm.ArrayData,
            required=False,
            help='Z* (array "born_charges", per bulk/basis/supercell atom, e) for the Born-charge baseline.',
        )
        spec.input(
            'bec_from_model',
            valid_type=orm.Bool,
            default=lambda: orm.Bool(False),
            help='Baseline with the GNN Born charges at the undistorted reference (when no born_charges given).',
        )
        spec.input(
            'decompose', valid_type=orm.Bool, default=lambda: orm.Bool(True), help='Clamped/lattice split.'
        )
        spec.input(
            'check_fmax',
            valid_type=orm.Bool,
            default=lambda: orm.Bool(False),
            help='Continue the relaxation to fmax/2 and compare μ at both tolerances (2 % criterion, in the result '
            'and the report); μ comes from the tighter structure.',
        )
        spec.input(
            'extract_options',
            valid_type=orm.Dict,
            required=False,
            help='two_point_method, fit_strain_term...',
        )
        spec.expose_inputs(
            MlipRelaxWorkChain,
            namespace='relax',
            exclude=('relax.structure', 'relax.model', 'relax.fix'),
            namespace_options={'required': False, 'populate_defaults': False, 'help': 'MLIP relaxation.'},
        )
        spec.expose_inputs(
            GnnPredictCalculation,
            namespace='predict',
            exclude=('model', 'structures', 'born_charges'),
            namespace_options={'help': 'GNN prediction (code, options).'},
        )
        spec.outline(
            cls.build,
            if_(cls.should_relax)(
                cls.relax,
                cls.inspect_relax,
                if_(cls.should_check_fmax)(cls.relax_tight, cls.inspect_relax_tight),
            ),
            cls.predict,
            cls.inspect_predict,
            cls.extract,
        )
        spec.output(
            'coefficient', valid_type=FlexoCoefficientData, help='μ (nC/m): two-point, fit and its error.'
        )
        spec.output(
            'result', valid_type=orm.Dict, help='Full result: profile, residual, decomposition, BEC route.'
        )
        spec.output(
            'profile', valid_type=orm.ArrayData, help='Per-cell strain, gradient, P and fit along the axis.'
        )
        spec.output(
            'plot', valid_type=orm.SinglefileData, help='Displacement and polarization profile (PNG).'
        )
        spec.output('supercell', valid_type=orm.Dict, help='The supercell: reference, assignment, fields.')
        spec.output('relaxed_structure', valid_type=orm.StructureData)
        spec.output(
            'tolerance_check',
            valid_type=orm.Dict,
            required=False,
            help='μ at fmax and fmax/2 and their relative change (check_fmax).',
        )
        spec.exit_code(401, 'ERROR_RELAXATION_FAILED', message='the MLIP relaxation failed: {message}')
        spec.exit_code(402, 'ERROR_PREDICTION_FAILED', message='the GNN prediction failed: {message}')

    @classmethod
    def get_builder_from_protocol(
        cls,
        code: orm.AbstractCode,
        structure: orm.StructureData | None,
        dipole_model: orm.SinglefileData | None,
        mlip_model: orm.SinglefileData | None = None,
        protocol: str | None = None,
        overrides: dict | None = None,
        options: dict | None = None,
        relax: bool | None = None,
    ):
        """A builder with the inputs of ``protocol`` (fast / moderate / precise) and ``overrides`` on top.

        Args:
            code: the ``aiida-flexo`` code used for the relaxation and the predictions.
            structure, dipole_model: the bulk and the GNN; ``None`` leaves them to a parent workflow that makes
                them (``flexo.pipeline`` exposes this builder in its ``flexo`` namespace).
            options: scheduler options (resources, max_wallclock_seconds, account, queue_name) of both CalcJobs.
            relax: fill the relaxation inputs (default: when ``mlip_model`` is given).
        """
        inputs = cls.get_protocol_inputs(protocol, overrides)
        builder = cls.get_builder()
        if structure is not None:
            builder.structure = structure
        if dipole_model is not None:
            builder.dipole_model = dipole_model
        builder.supercell = orm.Dict(inputs['supercell'])
        builder.extract_options = orm.Dict(inputs['extract_options'])
        builder.decompose = orm.Bool(inputs['decompose'])
        builder.check_fmax = orm.Bool(bool(inputs.get('check_fmax', False)))
        builder.predict.code = code
        if options:
            builder.predict.metadata.options = options
        if mlip_model is not None:
            builder.mlip_model = mlip_model
        if relax or (relax is None and mlip_model is not None):
            builder.relax.relax.code = code
            builder.relax.relax.parameters = orm.Dict(inputs['relax_parameters'])
            builder.relax.max_iterations = orm.Int(inputs['max_iterations'])
            if options:
                builder.relax.relax.metadata.options = options
        return builder

    def build(self):
        outputs = build_flexo_supercell(self.inputs.structure, self.inputs.supercell)
        self.ctx.supercell = outputs['supercell']
        self.ctx.structure = outputs['structure']
        self.ctx.reference = outputs['reference']
        self.ctx.fixed_indices = outputs['fixed_indices']
        data = self.ctx.supercell.get_dict()
        self.report(
            f'built μ{data["component"]} supercell: {len(data["atoms"]["symbols"])} atoms, repeat {data["repeat"]}, '
            f'max strain {data["max_strain"]}, {len(self.ctx.fixed_indices.value.split(",")) if self.ctx.fixed_indices.value else 0} '
            'atoms fixed'
        )

    def should_relax(self):
        return 'mlip_model' in self.inputs

    def should_check_fmax(self):
        return self.inputs.check_fmax.value

    def _relax_parameters(self) -> dict:
        relax_inputs = self.inputs.relax.relax
        return relax_inputs.parameters.get_dict() if 'parameters' in relax_inputs else {}

    def _fmax(self) -> float:
        """The relaxation's force tolerance, eV/Å (the setting's default when none is given)."""
        from aiida_flexo.mlip.relax import RelaxSettings

        return float(self._relax_parameters().get('fmax', RelaxSettings.fmax))

    def _submit_relax(self, structure, fmax_factor: float, label: str, link: str):
        inputs = AttributeDict(self.exposed_inputs(MlipRelaxWorkChain, namespace='relax'))
        inputs.relax = AttributeDict(inputs.get('relax', {}))
        inputs.relax.structure = structure
        inputs.relax.model = self.inputs.mlip_model
        if fmax_factor != 1.0:
            parameters = self._relax_parameters()
            parameters['fmax'] = self._fmax() * fmax_factor
            inputs.relax.parameters = orm.Dict(parameters)
        if self.ctx.fixed_indices.value:
            inputs.relax.fix = self.ctx.fixed_indices
        inputs.metadata = AttributeDict(inputs.get('metadata', {}))
        inputs.metadata.call_link_label = link
        inputs.metadata.label = label
        node = self.submit(MlipRelaxWorkChain, **inputs)
        self.report(f'{label} with the potential: {node.process_label}<{node.pk}>')
        return node

    def relax(self):
        return ToContext(
            relax=self._submit_relax(self.ctx.structure, 1.0, 'flexo supercell relaxation', 'relax')
        )

    def _relaxation_record(self, node) -> tuple[dict, int]:
        steps = [
            child.outputs.summary['n_steps']
            for child in node.called
            if isinstance(child, orm.CalcJobNode) and 'summary' in child.outputs
        ]
        return node.outputs.summary.get_dict(), steps

    def inspect_relax(self):
        node = self.ctx.relax
        if not node.is_finished_ok:
            return self.exit_codes.ERROR_RELAXATION_FAILED.format(
                message=f'<{node.pk}> [{node.exit_status}] {node.exit_message}'
            )
        self.ctx.relaxed = node.outputs.relaxed_structure
        summary, steps = self._relaxation_record(node)
        fmax = self._fmax()
        # stored with the result: what the last calculation reported, the tolerance and the steps of all restarts
        self.ctx.relaxation = {
            **summary,
            'fmax_eV_A': fmax,
            'n_steps': int(sum(steps)),
            'n_calculations': len(steps),
        }
        self.report(
            f'relaxed: E = {node.outputs.energy.value:.6f} eV, max |F| = {node.outputs.max_force.value:.3g} eV/Å '
            f'(fmax {fmax}) in {sum(steps)} steps over {len(steps)} calculation(s)'
        )
        return None

    def relax_tight(self):
        node = self._submit_relax(
            self.ctx.relaxed, 0.5, 'tolerance check: relaxation to fmax/2', 'relax_tight'
        )
        return ToContext(relax_tight=node)

    def inspect_relax_tight(self):
        node = self.ctx.relax_tight
        if not node.is_finished_ok:
            return self.exit_codes.ERROR_RELAXATION_FAILED.format(
                message=f'tolerance check <{node.pk}> [{node.exit_status}] {node.exit_message}'
            )
        self.ctx.relaxed_loose = self.ctx.relaxed
        self.ctx.relaxed = node.outputs.relaxed_structure
        summary, steps = self._relaxation_record(node)
        previous = self.ctx.relaxation
        self.ctx.relaxation = {
            **summary,
            'fmax_eV_A': previous['fmax_eV_A'] * 0.5,
            'n_steps': previous['n_steps'] + int(sum(steps)),
            'n_calculations': previous['n_calculations'] + len(steps),
        }
        return None

    def predict(self):
        relaxed = self.ctx.get('relaxed', self.ctx.structure)
        structures = {'relaxed': relaxed}
        if self.should_relax() and self.inputs.decompose.value:
            structures['clamped'] = self.ctx.structure
        if 'relaxed_loose' in self.ctx:
            structures['loose'] = self.ctx.relaxed_loose
        inputs = AttributeDict(self.exposed_inputs(GnnPredictCalculation, namespace='predict'))
        inputs.model = self.inputs.dipole_model
        inputs.structures = structures
        inputs.metadata = AttributeDict(inputs.get('metadata', {}))
        inputs.metadata.call_link_label = 'predict'
        inputs.metadata.label = 'flexo supercell dipoles'
        calcs = {'predict': self.submit(GnnPredictCalculation, **inputs)}
        if (
            'born_charges' not in self.inputs
            and self.inputs.bec_from_model.value
            and self._born_route_vanishes()
        ):
            self.report(f'Born-charge route skipped: {ZERO_BORN_CHARGES_NOTE}')
        elif 'born_charges' not in self.inputs and self.inputs.bec_from_model.value:
            bec_inputs = AttributeDict(inputs)
            bec_inputs.structures = {'reference': self.ctx.reference}
            bec_inputs.born_charges = orm.Bool(True)
            bec_inputs.metadata = AttributeDict(inputs.metadata)
            bec_inputs.metadata.call_link_label = 'predict_born_charges'
            bec_inputs.metadata.label = 'GNN Born charges at the reference'
            calcs['predict_bec'] = self.submit(GnnPredictCalculation, **bec_inputs)
        return ToContext(**calcs)

    def _born_route_vanishes(self) -> bool:
        """Whether the bulk's Born charges vanish by symmetry (diamond Si): the Born-charge route would give 0."""
        return born_charges_vanish(self.inputs.structure.get_ase())

    def inspect_predict(self):
        for key in ('predict', 'predict_bec'):
            node = self.ctx.get(key)
            if node is not None and not node.is_finished_ok:
                return self.exit_codes.ERROR_PREDICTION_FAILED.format(
                    message=f'<{node.pk}> [{node.exit_status}] {node.exit_message}'
                )
        return None

    def extract(self):
        dipoles = self.ctx.predict.outputs.dipoles
        extra = {}
        if 'clamped' in dipoles:
            extra['clamped_dipoles'] = dipoles['clamped']
        if 'born_charges' in self.inputs:
            extra['born_charges'] = self.inputs.born_charges
        elif 'predict_bec' in self.ctx:
            extra['born_charges'] = self.ctx.predict_bec.outputs.dipoles['reference']
        if 'relaxation' in self.ctx:
            extra['relaxation'] = orm.Dict(self.ctx.relaxation)
        if 'loose' in dipoles:
            check = flexo_tolerance_check(
                self.ctx.supercell,
                self.ctx.relaxed_loose,
                dipoles['loose'],
                self.ctx.relaxed,
                dipoles['relaxed'],
                orm.Float(self.ctx.relaxation['fmax_eV_A'] * 2),
            )
            extra['tolerance_check'] = check
            self.out('tolerance_check', check)
            data = check.get_dict()
            self.report(
                f'tolerance check: μ (fit) {data["mu_fit_nC_per_m"][0]:.4f} → {data["mu_fit_nC_per_m"][1]:.4f} nC/m '
                f'at fmax {data["fmax_eV_A"][0]:g} → {data["fmax_eV_A"][1]:g} eV/Å ({100 * data["relative_change"]:.2f} %'
                f'{", stable" if data["stable"] else "; " + data["warning"]})'
            )
        if 'extract_options' in self.inputs:
            extra['options'] = self.inputs.extract_options
        relaxed = self.ctx.get('relaxed', self.ctx.structure)
        outputs = extract_flexo_coefficient(self.ctx.supercell, relaxed, dipoles['relaxed'], **extra)
        for key in ('coefficient', 'result', 'profile', 'plot'):
            self.out(key, outputs[key])
        self.out('supercell', self.ctx.supercell)
        self.out('relaxed_structure', relaxed)
        coefficient = outputs['coefficient']
        self.report(f'{coefficient}')
