"""``flexo.textures``: polar textures of a perovskite superlattice, from an MLIP anneal and a dipole GNN.

Outline: build the (A)m/(B)n superlattice with its B-centred cell grid, or assign the grid of a given structure
(calcfunction) → for PbTiO3/SrTiO3, check both models on the bulk materials against DFT
(``flexo.textures.validate``; exit 409 when a check fails and ``require_bulk_valid``) → anneal it with the Allegro
potential through a temperature schedule (``flexo.mlip.md.base``; a killed run continues from its last frame) →
predict per-atom dipoles with the GNN (``flexo.gnn.predict``) of the final structure, or of the last
``average_last`` trajectory frames → polarization field P(x, y, z) in C/m², time averaged over those frames
(calcfunction) → skyrmion number per layer, domains, domain walls, mean |P|
(calcfunction) → pictures: per-layer quiver maps, cross-sections, VTK and HTML (calcfunction).

Every number of the analysis links back through the field, the dipoles, the MD and the built superlattice to the
two models and the build parameters.
"""

from __future__ import annotations

import numpy as np
from aiida import orm
from aiida.common import AttributeDict
from aiida.engine import ToContext, WorkChain, if_

from aiida_flexo.calcjobs.base import scheduler_options
from aiida_flexo.calcjobs.functions.textures import (
    ANALYSIS_KEYS,
    GRID_KEYS,
    PICTURE_KEYS,
    analyse_texture_field,
    assign_texture_grid,
    build_texture_superlattice,
    check_anneal,
    draw_texture_field,
    select_trajectory_frames,
    superlattice_from_parameters,
    texture_field,
)
from aiida_flexo.calcjobs.gnn import GnnPredictCalculation
from aiida_flexo.calcjobs.textures import TexturesValidateCalculation, validate_heating
from aiida_flexo.textures.health import (
    IMPLAUSIBLE_P_C_PER_M2,
    implausible_cells,
    off_site_warning,
)
from aiida_flexo.workflows.mlip_md import MlipMdWorkChain
from aiida_flexo.workflows.protocols import ProtocolMixin


def _keys_validator(allowed: tuple[str, ...], what: str):
    def validator(value, _):
        if value is None:
            return None
        unknown = set(value.get_dict()) - set(allowed)
        if unknown:
            return f'unknown {what} {sorted(unknown)}; allowed: {list(allowed)}'
        return None

    return validator


def validate_superlattice(value, _):
    """The superlattice must build (unknown keys, materials, sizes and seeds are caught at submission)."""
    if value is None:
        return None
    try:
        superlattice_from_parameters(value.get_dict())
    except (TypeError, ValueError) as exc:
        return f'the superlattice cannot be built: {exc}'
    return None


def validate_schedule(value, _):
    from aiida_flexo.mlip.md import parse_schedule

    try:
        parse_schedule(value.get_list())
    except (TypeError, ValueError, IndexError) as exc:
        return f'schedule must be [[temperature_K, n_steps], ...], e.g. [[1000, 2000], [1, 2000]]: {exc}'
    return None


def validate_inputs(inputs, _):
    """Either a superlattice to build, or a structure with its grid."""
    has_superlattice, has_structure = 'superlattice' in inputs, 'structure' in inputs
    if has_superlattice == has_structure:
        return 'give either `superlattice` (parameters to build one) or `structure` with its `grid`, not both'
    if has_structure and 'grid' not in inputs:
        return '`structure` needs `grid` (at least grid_shape [Nx, Ny, L]: unit cells along a, b and c)'
    if 'average_last' in inputs and inputs['average_last'].value < 1:
        return f'average_last must be at least 1 (1: the final frame), got {inputs["average_last"].value}'
    return None


#: the materials the bulk validation knows (aiida_flexo.textures.bulk)
BULK_MATERIALS = ('PbTiO3', 'SrTiO3')


def bulk_validation_inputs(predict: dict, mlip_model, dipole_model, heating=None) -> dict:
    """Inputs of flexo.textures.validate from the exposed ``predict`` inputs (its code and the scheduler part of
    its options: ``parser_name`` and file names belong to flexo.gnn.predict) and the two models."""
    return {
        'code': predict['code'],
        'model': mlip_model,
        'dipole_model': dipole_model,
        **({'heating': heating} if heating is not None else {}),
        'metadata': {
            'call_link_label': 'validate_bulk',
            'label': 'bulk PbTiO3/SrTiO3 validation',
            'options': scheduler_options(predict.get('metadata', {}).get('options', {})),
        },
    }


def bulk_report(result: dict) -> list[str]:
    """Report lines of a bulk validation (the ``validation`` output of flexo.textures.validate): every quantity
    with its DFT reference, then the verdict."""
    model = result['model']
    pairs = '; '.join(
        f'{c["quantity"]} {c["value"]:.3g} | {"–" if c["reference"] is None else format(c["reference"], ".3g")}'
        for c in result['checks']
        if c['value'] is not None and c['quantity'] != 'SrTiO3_paraelectric'
    )
    edge = 'at the scan edge' if model.get('PbTiO3_c_min_at_scan_edge') else 'inside the scan'
    lines = [
        f'bulk (model | {result["reference"]["method"]}): {pairs}; PbTiO3 E(c) minimum {edge}',
        f'bulk validation: {result["summary"]}',
    ]
    if 'heating' in result:
        from aiida_flexo.textures.heating import describe_transition

        heating = result['heating']
        steps = ', '.join(
            f'{p["target_K"]:g} K: |P| {p["magnitude_C_m2"]:.2f} C/m², c/a {p["c_over_a"]:.3f}'
            for p in heating['points']
        )
        lines.append(
            f'PbTiO3 heating ({heating["settings"]["n_atoms"]} atoms, {heating["settings"]["steps"]} steps each): '
            f'{steps}; {describe_transition(heating["transition_born"])} (Born charges; experiment '
            f'{heating["experiment_Tc_K"]:.0f} K, which PBE overestimates)'
        )
    return lines


def format_schedule(schedule: list) -> str:
    return ' → '.join(f'{float(t):g} K × {int(n)}' for t, n in schedule)


def _format_walls(types: dict[str, int]) -> str:
    if not types:
        return 'no walls'
    total = sum(types.values())
    return (
        f'{total} wall{"s" if total != 1 else ""} ('
        + ', '.join(f'{n} {kind}' for kind, n in types.items())
        + ')'
    )


class TextureWorkChain(ProtocolMixin, WorkChain):
    """Superlattice → MLIP anneal → GNN dipoles → polarization field → skyrmion numbers, domains, walls, pictures."""

    _protocol_name = 'textures'

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.input(
            'superlattice',
            valid_type=orm.Dict,
            required=False,
            validator=validate_superlattice,
            help='Superlattice to build: m, n, size (N or [Nx, Ny]), materials, a_inplane or substrate, '
            'c_out_of_plane, seed (none/uniform/stripes/bubble), seed_in (A/B/both), displacement_B, '
            'displacement_O, stripe_width, stripe_axis, bubble_radius, bubble_center.',
        )
        spec.input(
            'structure',
            valid_type=orm.StructureData,
            required=False,
            help='A given perovskite superlattice (orthorhombic, atoms near their ideal sites) instead of building one.',
        )
        spec.input(
            'grid',
            valid_type=orm.Dict,
            required=False,
            validator=_keys_validator(GRID_KEYS, 'grid keys'),
            help='The cell grid of `structure`: grid_shape [Nx, Ny, L], layer_heights (Å), layer_materials.',
        )
        spec.input(
            'mlip_model',
            valid_type=orm.SinglefileData,
            help='Potential (flexo.mlip.train: Allegro, a distilled student, fine-tuned).',
        )
        spec.input('dipole_model', valid_type=orm.SinglefileData, help='Dipole GNN (flexo.gnn.train).')
        spec.input(
            'schedule',
            valid_type=orm.List,
            validator=validate_schedule,
            help='Anneal: temperature stages [[temperature_K, n_steps], ...], e.g. [[1000, 2000], [1, 2000]].',
        )
        spec.input(
            'average_last',
            valid_type=orm.Int,
            default=lambda: orm.Int(1),
            help='Time-average the field over the last this many trajectory frames (1: the final structure).',
        )
        spec.input(
            'require_anneal_holds',
            valid_type=orm.Bool,
            default=lambda: orm.Bool(True),
            help='Stop with exit 407 when the anneal does not hold (a stage more than 10 % (at least 10 K) from its '
            'target temperature, or an atom more than 1 Å from its site at the end) instead of analysing a melt; '
            'False: report it only (the fast protocol: short test anneals).',
        )
        spec.input(
            'bulk_validation',
            valid_type=orm.Bool,
            default=lambda: orm.Bool(True),
            help='Before the anneal, check both models on bulk PbTiO3 and SrTiO3 against DFT (flexo.textures.validate: '
            'lattice constant, c/a, Ti off-centring, P_s, double well, cubic vs tetragonal, SrTiO3 paraelectric); '
            'PbTiO3/SrTiO3 superlattices only.',
        )
        spec.input(
            'bulk_heating',
            valid_type=orm.Dict,
            required=False,
            validator=validate_heating,
            help='With the bulk validation, a PbTiO3 heating run with the potential (where |P| vanishes, c/a): '
            'temperatures (K, rising), steps, size, timestep_fs.',
        )
        spec.input(
            'require_bulk_valid',
            valid_type=orm.Bool,
            default=lambda: orm.Bool(True),
            help='Stop with exit 409 when a bulk check fails (a texture inherits the bulk errors); False: report it.',
        )
        spec.input(
            'analysis_options',
            valid_type=orm.Dict,
            required=False,
            validator=_keys_validator(ANALYSIS_KEYS, 'analysis options'),
            help=f'Options of the analysis: {", ".join(ANALYSIS_KEYS)}.',
        )
        spec.input(
            'pictures',
            valid_type=orm.Dict,
            required=False,
            validator=_keys_validator(PICTURE_KEYS, 'picture options'),
            help='vtk (bool), html (bool), plotlyjs ("cdn" or "embed"), dpi.',
        )
        spec.expose_inputs(
            MlipMdWorkChain,
            namespace='md',
            exclude=('md.structure', 'md.model', 'md.schedule'),
            namespace_options={'help': 'The anneal (flexo.mlip.md.base): code, MD parameters, options.'},
        )
        spec.expose_inputs(
            GnnPredictCalculation,
            namespace='predict',
            exclude=('model', 'structures', 'born_charges'),
            namespace_options={'help': 'The GNN prediction (flexo.gnn.predict): code, options.'},
        )
        spec.inputs.validator = validate_inputs
        spec.outline(
            cls.build,
            if_(cls.should_validate_bulk)(cls.validate_bulk, cls.inspect_bulk_validation),
            cls.anneal,
            cls.inspect_anneal,
            cls.predict,
            cls.inspect_predict,
            cls.field,
            cls.analyse,
            cls.draw,
        )
        spec.output('initial_structure', valid_type=orm.StructureData, help='The superlattice before the MD.')
        spec.output(
            'grid', valid_type=orm.ArrayData, help='Cell assignment (cell_index, site) and grid geometry.'
        )
        spec.output(
            'final_structure', valid_type=orm.StructureData, help='The structure at the end of the MD.'
        )
        spec.output(
            'trajectory', valid_type=orm.TrajectoryData, required=False, help='The whole MD trajectory.'
        )
        spec.output(
            'field',
            valid_type=orm.ArrayData,
            help='polarization (Nx, Ny, L, 3) C/m², cell_size_A, layer_heights_A, cell centres, per-frame means.',
        )
        spec.output(
            'analysis',
            valid_type=orm.Dict,
            help='Skyrmion number per layer, domains, walls (type, position, width), mean magnitude of P (C/m²).',
        )
        spec.output_namespace(
            'plots',
            valid_type=orm.SinglefileData,
            dynamic=True,
            help='layers (PNG), section_xz, section_yz (PNG), vtk, html.',
        )
        spec.exit_code(
            401, 'ERROR_BUILD_FAILED', message='the superlattice or its cell grid failed: {message}'
        )
        spec.exit_code(402, 'ERROR_MD_FAILED', message='the MLIP anneal failed: {message}')
        spec.exit_code(403, 'ERROR_PREDICTION_FAILED', message='the GNN dipole prediction failed: {message}')
        spec.exit_code(404, 'ERROR_FIELD_FAILED', message='the polarization field failed: {message}')
        spec.exit_code(405, 'ERROR_ANALYSIS_FAILED', message='the texture analysis failed: {message}')
        spec.exit_code(
            406,
            'ERROR_PICTURES_FAILED',
            message='the pictures failed (field and analysis are stored): {message}',
        )
        spec.exit_code(
            407,
            'ERROR_ANNEAL_DID_NOT_HOLD',
            message='the anneal did not hold, so there is no texture to analyse: {message}; the trajectory and '
            'the check are in the outputs (a better potential, a smaller timestep or a slower schedule)',
        )
        spec.exit_code(
            408, 'ERROR_BULK_VALIDATION_FAILED', message='the bulk validation calculation failed: {message}'
        )
        spec.exit_code(
            409,
            'ERROR_BULK_NOT_VALID',
            message='the models fail the bulk PbTiO3/SrTiO3 checks, so a texture from them would inherit those errors: '
            '{message}; the checks are in the bulk_validation output (retrain, or require_bulk_valid False to run '
            'anyway)',
        )
        spec.output(
            'bulk_validation',
            valid_type=orm.Dict,
            required=False,
            help='Bulk PbTiO3/SrTiO3 with both models against DFT: quantities, reference, checks (flexo.textures.validate).',
        )
        spec.output(
            'anneal_check',
            valid_type=orm.Dict,
            required=False,
            help='Per stage: target and mean temperature (K, second half), whether it held; atoms off their sites.',
        )

    @classmethod
    def get_builder_from_protocol(
        cls,
        code: orm.AbstractCode,
        mlip_model: orm.SinglefileData,
        dipole_model: orm.SinglefileData,
        superlattice: dict | None = None,
        structure: orm.StructureData | None = None,
        grid: dict | None = None,
        protocol: str | None = None,
        overrides: dict | None = None,
        options: dict | None = None,
    ):
        """A builder with the inputs of ``protocol`` (fast / moderate / precise) and ``overrides`` on top.

        Args:
            code: the ``aiida-flexo`` code that runs the MD and the prediction.
            superlattice: build parameters merged over the protocol's (m, n, size, materials, seed, ...).
            structure, grid: a given superlattice and its grid (grid_shape, ...) instead of ``superlattice``.
            overrides: on top of the protocol: schedule, md_parameters, average_last, analysis_options, pictures,
                max_iterations, superlattice.
            options: scheduler options (resources, max_wallclock_seconds, account, queue_name) of both CalcJobs.
        """
        inputs = cls.get_protocol_inputs(protocol, overrides)
        builder = cls.get_builder()
        if structure is not None:
            builder.structure = structure
            builder.grid = orm.Dict(grid or {})
        else:
            from aiida_flexo.workflows.protocols import recursive_merge

            builder.superlattice = orm.Dict(recursive_merge(inputs['superlattice'], superlattice or {}))
        builder.mlip_model = mlip_model
        builder.dipole_model = dipole_model
        builder.schedule = orm.List([[float(t), int(n)] for t, n in inputs['schedule']])
        builder.average_last = orm.Int(inputs['average_last'])
        builder.require_anneal_holds = orm.Bool(inputs['require_anneal_holds'])
        builder.bulk_validation = orm.Bool(inputs['bulk_validation'])
        builder.require_bulk_valid = orm.Bool(inputs['require_bulk_valid'])
        if inputs.get('bulk_heating'):
            builder.bulk_heating = orm.Dict(inputs['bulk_heating'])
        builder.analysis_options = orm.Dict(inputs['analysis_options'])
        builder.pictures = orm.Dict(inputs['pictures'])
        builder.md.md.code = code
        builder.md.md.parameters = orm.Dict(inputs['md_parameters'])
        builder.md.max_iterations = orm.Int(inputs['max_iterations'])
        builder.predict.code = code
        if options:
            builder.md.md.metadata.options = options
            builder.predict.metadata.options = options
        return builder

    # ------------------------------------------------------------------------------------------------- steps

    def build(self):
        try:
            if 'superlattice' in self.inputs:
                outputs = build_texture_superlattice(
                    self.inputs.superlattice, metadata={'call_link_label': 'build'}
                )
                self.ctx.structure = outputs['structure']
            else:
                outputs = assign_texture_grid(
                    self.inputs.structure, self.inputs.grid, metadata={'call_link_label': 'assign_grid'}
                )
                self.ctx.structure = self.inputs.structure
        except Exception as exc:  # noqa: BLE001 - the calcfunction is stored as excepted; say why here
            return self.exit_codes.ERROR_BUILD_FAILED.format(message=f'{type(exc).__name__}: {exc}')
        self.ctx.grid = outputs['grid']
        self.out('initial_structure', self.ctx.structure)
        self.out('grid', self.ctx.grid)
        attributes = self.ctx.grid.base.attributes
        shape = attributes.get('grid_shape')
        materials = attributes.get('layer_materials') or []
        stack = stack_name(materials) if materials else 'given'
        message = (
            f'{stack} superlattice: {len(self.ctx.structure.sites)} atoms, grid {shape[0]}×{shape[1]}×{shape[2]}, '
            f'cell {" × ".join(f"{x:.3f}" for x in attributes.get("cell_size_A"))} Å'
        )
        if 'superlattice' in self.inputs:
            seed = self.inputs.superlattice.get('seed', 'none')
            seeded = int((abs(self.ctx.grid.get_array('seed')).sum(axis=-1) > 0).sum())
            message = f'built {message}, seed {seed} ({seeded} seeded cells)'
        else:
            message = f'assigned the cells of the given {message}'
        self.report(message)
        return None

    def should_validate_bulk(self) -> bool:
        if not self.inputs.bulk_validation.value:
            return False
        materials = set(self.ctx.grid.base.attributes.get('layer_materials') or [])
        if materials != set(BULK_MATERIALS):
            self.report(
                f'bulk validation skipped: it checks PbTiO3 and SrTiO3, this superlattice is '
                f'{sorted(materials) or "of unknown materials"}'
            )
            return False
        return True

    def validate_bulk(self):
        predict = self.exposed_inputs(GnnPredictCalculation, namespace='predict')
        heating = self.inputs.bulk_heating if 'bulk_heating' in self.inputs else None
        inputs = bulk_validation_inputs(predict, self.inputs.mlip_model, self.inputs.dipole_model, heating)
        node = self.submit(TexturesValidateCalculation, **inputs)
        self.report(
            f'checking both models on bulk PbTiO3 and SrTiO3 against DFT: {node.process_label}<{node.pk}>'
        )
        return ToContext(bulk=node)

    def inspect_bulk_validation(self):
        node = self.ctx.bulk
        if not node.is_finished_ok:
            return self.exit_codes.ERROR_BULK_VALIDATION_FAILED.format(
                message=f'{node.process_label}<{node.pk}> [{node.exit_status}] {node.exit_message}'
            )
        validation = node.outputs.validation
        self.out('bulk_validation', validation)
        result = validation.get_dict()
        for line in bulk_report(result):
            self.report(line)
        if not result['failed']:
            return None
        if self.inputs.require_bulk_valid.value:
            return self.exit_codes.ERROR_BULK_NOT_VALID.format(message=result['summary'])
        self.report(f'WARNING: {result["summary"]}; the anneal goes on (require_bulk_valid False)')
        return None

    def anneal(self):
        inputs = AttributeDict(self.exposed_inputs(MlipMdWorkChain, namespace='md'))
        inputs.md = AttributeDict(inputs.get('md', {}))
        inputs.md.structure = self.ctx.structure
        inputs.md.model = self.inputs.mlip_model
        inputs.md.schedule = self.inputs.schedule
        inputs.metadata = AttributeDict(inputs.get('metadata', {}))
        inputs.metadata.call_link_label = 'anneal'
        schedule = format_schedule(self.inputs.schedule.get_list())
        inputs.metadata.setdefault('label', f'texture anneal {self.ctx.structure.get_formula()}: {schedule}')
        node = self.submit(MlipMdWorkChain, **inputs)
        self.report(f'annealing with the MLIP ({schedule} steps): {node.process_label}<{node.pk}>')
        return ToContext(anneal=node)

    def inspect_anneal(self):
        node = self.ctx.anneal
        if not node.is_finished_ok:
            return self.exit_codes.ERROR_MD_FAILED.format(
                message=f'{node.process_label}<{node.pk}> [{node.exit_status}] {node.exit_message}'
            )
        if 'trajectory' in node.outputs:
            self.out('trajectory', node.outputs.trajectory)
        summary = node.outputs.summary.get_dict() if 'summary' in node.outputs else {}
        runs = len([n for n in node.called if isinstance(n, orm.CalcJobNode)])
        self.report(
            f'anneal done in {runs} calculation(s): {summary.get("n_steps", "?")} steps, final temperature '
            f'{summary.get("final_temperature_K", float("nan")):.1f} K'
        )
        return self.check_anneal_holds(node)

    def check_anneal_holds(self, node):
        """Thermostat within 10 % (10 K) of each stage's target, every atom within 1 Å of its site at the end:
        reported in numbers; exit 407 when it does not hold and ``require_anneal_holds``."""
        if 'trajectory' not in node.outputs or 'final_structure' not in node.outputs:
            self.report('anneal check: no trajectory or final structure to check')
            return None
        check = check_anneal(
            node.outputs.trajectory,
            node.outputs.final_structure,
            self.ctx.structure,
            metadata={'call_link_label': 'check_anneal'},
        )
        self.out('anneal_check', check)
        stages = ', '.join(
            f'{s["target_K"]:g} K → {s["mean_K"]:.1f} K {"ok" if s["holds"] else "NOT HELD"}'
            for s in check['stages']
        )
        message = (
            f'anneal check: stages (mean over each second half) {stages}; displacement from the start rms '
            f'{check["rms_displacement_A"]:.3f} Å, max {check["max_displacement_A"]:.3f} Å'
        )
        if check['atoms_off_site']:
            n_atoms = len(self.ctx.structure.sites)
            message += '; ' + off_site_warning(check['atoms_off_site'], n_atoms, check['off_site_A'], 'start')
        self.report(message)
        if check['holds']:
            return None
        problems = '; '.join(check['problems'])
        if self.inputs.require_anneal_holds.value:
            return self.exit_codes.ERROR_ANNEAL_DID_NOT_HOLD.format(message=problems)
        self.report(
            f'WARNING: the anneal did not hold ({problems}); analysed anyway (require_anneal_holds False)'
        )
        return None

    def predict(self):
        md = self.ctx.anneal
        count = self.inputs.average_last.value
        if count == 1 and 'final_structure' in md.outputs:
            structures = {'final': md.outputs.final_structure}
        elif 'trajectory' in md.outputs:
            structures = select_trajectory_frames(
                md.outputs.trajectory, self.inputs.average_last, metadata={'call_link_label': 'select_frames'}
            )
        else:
            return self.exit_codes.ERROR_MD_FAILED.format(
                message='the MD left neither a final structure nor frames'
            )
        self.ctx.final_structure = md.outputs.final_structure if 'final_structure' in md.outputs else None
        inputs = AttributeDict(self.exposed_inputs(GnnPredictCalculation, namespace='predict'))
        inputs.model = self.inputs.dipole_model
        inputs.structures = dict(structures)
        inputs.metadata = AttributeDict(inputs.get('metadata', {}))
        inputs.metadata.call_link_label = 'predict'
        inputs.metadata.setdefault('label', f'texture dipoles ({len(structures)} frame(s))')
        node = self.submit(GnnPredictCalculation, **inputs)
        self.report(
            f'predicting the dipoles of {len(structures)} frame(s) ({", ".join(sorted(structures))}) with the GNN: '
            f'{node.process_label}<{node.pk}>'
        )
        return ToContext(predict=node)

    def inspect_predict(self):
        node = self.ctx.predict
        if not node.is_finished_ok:
            return self.exit_codes.ERROR_PREDICTION_FAILED.format(
                message=f'{node.process_label}<{node.pk}> [{node.exit_status}] {node.exit_message}'
            )
        return None

    def field(self):
        node = self.ctx.predict
        dipoles = {key: node.outputs.dipoles[key] for key in node.outputs.dipoles}
        try:
            outputs = texture_field(self.ctx.grid, **dipoles, metadata={'call_link_label': 'field'})
        except Exception as exc:  # noqa: BLE001
            return self.exit_codes.ERROR_FIELD_FAILED.format(message=f'{type(exc).__name__}: {exc}')
        self.ctx.field = outputs['field']
        final = self.ctx.final_structure
        if final is None:  # the last selected frame
            final = node.inputs.structures[sorted(node.inputs.structures)[-1]]
        self.out('final_structure', final)
        self.out('field', self.ctx.field)
        attributes = self.ctx.field.base.attributes
        polarization = self.ctx.field.get_array('polarization')
        mean = ', '.join(f'{x:+.3f}' for x in attributes.get('mean_P_C_per_m2'))
        self.report(
            f'polarization field on {"×".join(str(x) for x in attributes.get("grid_shape"))} cells from '
            f'{attributes.get("n_frames")} frame(s): mean |P| = {attributes.get("mean_abs_P_C_per_m2"):.3f} C/m², '
            f'mean P = ({mean}) C/m², max |P| = {np.linalg.norm(polarization, axis=-1).max():.3f} C/m²'
        )
        implausible = implausible_cells(polarization)
        if len(implausible):
            self.report(
                f'WARNING: {len(implausible)} cell(s) with |P| > {IMPLAUSIBLE_P_C_PER_M2:.1f} C/m² (first at cell '
                f'{tuple(int(i) for i in implausible[0])}): the dipole model is outside its training data there'
            )
        return None

    def analyse(self):
        extra = {'options': self.inputs.analysis_options} if 'analysis_options' in self.inputs else {}
        try:
            analysis = analyse_texture_field(self.ctx.field, **extra, metadata={'call_link_label': 'analyse'})
        except Exception as exc:  # noqa: BLE001
            return self.exit_codes.ERROR_ANALYSIS_FAILED.format(message=f'{type(exc).__name__}: {exc}')
        self.ctx.analysis = analysis
        self.out('analysis', analysis)
        result = analysis.get_dict()
        charges = ', '.join(f'{q:+.2f}' for q in result['skyrmion_number_per_layer'])
        self.report(
            f'layer Q = [{charges}], {result["domain_count"]} domain{"s" if result["domain_count"] != 1 else ""}, '
            f'{_format_walls(result["wall_types"])}, mean |P| = {result["mean_abs_P_C_per_m2"]:.3f} C/m²'
        )
        return None

    def draw(self):
        extra = {'options': self.inputs.pictures} if 'pictures' in self.inputs else {}
        try:
            pictures = draw_texture_field(
                self.ctx.field, self.ctx.analysis, **extra, metadata={'call_link_label': 'draw'}
            )
        except Exception as exc:  # noqa: BLE001
            return self.exit_codes.ERROR_PICTURES_FAILED.format(message=f'{type(exc).__name__}: {exc}')
        for name, node in pictures.items():
            self.out(f'plots.{name}', node)
        self.report('pictures: ' + ', '.join(node.filename for node in pictures.values()))
        return None


def stack_name(layer_materials: list[str]) -> str:
    """'(PbTiO3)8/(SrTiO3)4' from the material of each layer."""
    runs: list[list] = []
    for name in layer_materials:
        if runs and runs[-1][0] == name:
            runs[-1][1] += 1
        else:
            runs.append([name, 1])
    return '/'.join(f'({name}){count}' for name, count in runs)
