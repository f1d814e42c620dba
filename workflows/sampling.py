"""``flexo.sampling``: configurations to label: MD at several temperatures plus random perturbations, per phase.

For each input phase: MD at each temperature with the open DFT engine (``flexo.gpaw.base``, for tiny cells), with
VASP AIMD (``flexo.vasp.label``, through aiida-vasp) or with an existing Allegro potential (``flexo.mlip.md``,
cheap, for larger cells), thinned by a decorrelation stride after an equilibration skip (``skip`` counts thinned
frames: the MD steps kept are ``skip * stride``, ``(skip + 1) * stride``, ...); plus random atomic displacements and
small random strains of the equilibrium cell; plus, for every centrosymmetric reference given (``references``), the
path from it to each phase with the same atoms (interpolated positions and cell, as in a Berry-phase branch
calculation, with perturbations along it): the frames that fix the absolute polarization of each phase
(:mod:`aiida_flexo.polarization.reference`). The output is one unlabelled flexo.frames node whose frames record
where they came from (``info['origin']``: ``md_<phase>_<T>K`` for MD, with the step in ``info['md_step']``; and
``path``, ``path_fraction``, ``path_reference`` on a path).
"""

from __future__ import annotations

import copy

import numpy as np
from aiida import orm
from aiida.common import AttributeDict
from aiida.engine import WorkChain, if_

from aiida_flexo.calcjobs.base import serial_options
from aiida_flexo.calcjobs.functions.frames import (
    gather_frames,
    path_frames,
    perturbed_frames,
    reference_frame,
    thin_frames,
    trajectory_to_frames,
)
from aiida_flexo.calcjobs.mlip import MlipMdCalculation
from aiida_flexo.nodes.frames import FramesData
from aiida_flexo.workflows.gpaw_base import GpawBaseWorkChain
from aiida_flexo.workflows.protocols import ProtocolMixin

SAMPLERS = ('gpaw', 'vasp', 'mlip')


def _same_structure(a: orm.StructureData, b: orm.StructureData) -> bool:
    """Whether two structures are the same (the reference among the phases: no path to itself)."""
    if a.uuid == b.uuid:
        return True
    atoms_a, atoms_b = a.get_ase(), b.get_ase()
    return np.allclose(atoms_a.cell[:], atoms_b.cell[:]) and np.allclose(atoms_a.positions, atoms_b.positions)


def _validate_sampler(value, _):
    return None if value.value in SAMPLERS else f'unknown sampler "{value.value}": choose one of {SAMPLERS}'


def _vasp_workchain():
    from aiida_flexo.workflows.vasp_label import VaspLabelWorkChain

    return VaspLabelWorkChain


def _runs_md(temperatures: orm.List | None, md: orm.Dict | None) -> bool:
    """Whether the sampling runs MD: at least one temperature and ``md.steps`` > 0."""
    return bool(temperatures and temperatures.get_list()) and bool(md and int(md.get('steps', 0)) > 0)


def _validate_inputs(inputs, _):
    """Refuse, at submission, MD without the inputs of its sampler (its namespace: code, options, ...)."""
    sampler = inputs.get('sampler')
    if sampler is None or sampler.value not in SAMPLERS:
        return None
    if _runs_md(inputs.get('temperatures'), inputs.get('md')) and not inputs.get(sampler.value):
        needs = {
            'gpaw': 'gpaw.gpaw.code',
            'vasp': 'vasp.code and vasp.potential_family',
            'mlip': 'mlip.code and mlip.model',
        }[sampler.value]
        return (
            f'sampler "{sampler.value}" runs MD but no `{sampler.value}` inputs were given: set {needs} '
            f'(get_builder_from_protocol(..., sampler="{sampler.value}") does), or set temperatures to [] '
            'for no MD'
        )
    return None


class SamplingWorkChain(ProtocolMixin, WorkChain):
    """MD (GPAW, VASP or MLIP) at several temperatures and random perturbations of each phase."""

    _protocol_name = 'sampling'

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.input_namespace('structures', valid_type=orm.StructureData, dynamic=True, help='Phases by name.')
        spec.input(
            'sampler', valid_type=orm.Str, validator=_validate_sampler, help='MD engine: gpaw, vasp or mlip.'
        )
        spec.input('temperatures', valid_type=orm.List, help='MD temperatures, K (empty: no MD).')
        spec.input(
            'md', valid_type=orm.Dict, help='steps, timestep_fs, stride (thinning), skip (equilibration).'
        )
        spec.input('perturbations', valid_type=orm.Dict, help='n_frames, displacement (Å), strain, seed.')
        spec.input_namespace(
            'references',
            valid_type=orm.StructureData,
            dynamic=True,
            required=False,
            help='Centrosymmetric references by name: a path is sampled from each to every phase with its atoms.',
        )
        spec.input(
            'path',
            valid_type=orm.Dict,
            required=False,
            help='n_points (λ = 0 and 1 included), n_perturbations per λ > 0, displacement (Å), seed.',
        )
        spec.input(
            'engine_inputs',
            valid_type=orm.Dict,
            required=False,
            help='Engine-neutral DFT settings of the DFT MD (samplers gpaw and vasp; its md is set from `md` and '
            '`temperatures`).',
        )
        spec.expose_inputs(
            GpawBaseWorkChain,
            namespace='gpaw',
            exclude=('gpaw.structure', 'gpaw.parameters'),
            namespace_options={
                'required': False,
                'populate_defaults': False,
                'help': 'GPAW MD (sampler gpaw).',
            },
        )
        spec.expose_inputs(
            _vasp_workchain(),
            namespace='vasp',
            exclude=('structure', 'engine_inputs'),
            namespace_options={
                'required': False,
                'populate_defaults': False,
                'help': 'VASP AIMD (sampler vasp): code, potential_family, options, ...',
            },
        )
        spec.expose_inputs(
            MlipMdCalculation,
            namespace='mlip',
            exclude=('structure', 'schedule', 'restart_trajectory'),
            namespace_options={
                'required': False,
                'populate_defaults': False,
                'help': 'MLIP MD (sampler mlip).',
            },
        )
        spec.inputs.validator = _validate_inputs
        spec.outline(cls.setup, if_(cls.has_md)(cls.run_md, cls.inspect_md), cls.gather)
        spec.output('frames', valid_type=FramesData, help='Unlabelled frames with their origin.')
        spec.exit_code(400, 'ERROR_SAMPLER_INPUTS_MISSING', message='no inputs for the "{sampler}" sampler')
        spec.exit_code(401, 'ERROR_MD_FAILED', message='{n} MD run(s) failed: {details}')
        spec.exit_code(
            402,
            'ERROR_REFERENCE_WITHOUT_PHASE',
            message='reference "{name}" ({formula}) has no phase with the same atoms in the same order: {fix}',
        )

    @classmethod
    def get_builder_from_protocol(
        cls,
        code: orm.AbstractCode,
        structures: dict[str, orm.StructureData],
        sampler: str = 'mlip',
        mlip_model: orm.SinglefileData | None = None,
        protocol: str | None = None,
        overrides: dict | None = None,
        options: dict | None = None,
        engine_inputs: dict | None = None,
        potential_family: str | None = None,
    ):
        """Builder with the sampling of ``protocol``; ``code`` runs the MD (``aiida-flexo``, or VASP).

        ``engine_inputs`` (samplers gpaw and vasp): engine-neutral DFT settings (default: the fast protocol);
        ``potential_family``: the POTCAR family of sampler vasp (default PBE.54).
        """
        inputs = cls.get_protocol_inputs(protocol, overrides)
        builder = cls.get_builder()
        builder.structures = structures
        builder.sampler = orm.Str(sampler)
        builder.temperatures = orm.List([float(t) for t in inputs['temperatures']])
        builder.md = orm.Dict(inputs['md'])
        builder.perturbations = orm.Dict(inputs['perturbations'])
        builder.path = orm.Dict(inputs['path'])
        if sampler == 'gpaw':
            builder.gpaw.gpaw.code = code
            builder.engine_inputs = orm.Dict(engine_inputs or {'protocol': 'fast'})
            builder.gpaw.gpaw.metadata.options = copy.deepcopy(options) if options else serial_options()
        elif sampler == 'vasp':
            builder.vasp.code = code
            builder.vasp.potential_family = orm.Str(potential_family or 'PBE.54')
            builder.engine_inputs = orm.Dict(engine_inputs or {'protocol': 'fast'})
            if options:
                builder.vasp.options = orm.Dict(options)
        else:
            builder.mlip.code = code
            builder.mlip.model = mlip_model
            if options:
                builder.mlip.metadata.options = options
        return builder

    def setup(self):
        sampler = self.inputs.sampler.value
        if self.has_md() and (sampler not in self.inputs or not self.inputs[sampler]):
            return self.exit_codes.ERROR_SAMPLER_INPUTS_MISSING.format(sampler=sampler)
        self.ctx.md_keys = []
        self.ctx.paths = []
        for name, reference in sorted(self.inputs.get('references', {}).items()):
            symbols = reference.get_ase().get_chemical_symbols()
            phases = [
                phase
                for phase, structure in sorted(self.inputs.structures.items())
                if structure.get_ase().get_chemical_symbols() == symbols
                and not _same_structure(structure, reference)
            ]
            if not phases and any(_same_structure(s, reference) for s in self.inputs.structures.values()):
                continue  # a non-polar crystal (diamond Si) is its own reference: its frame, no path
            if not phases:
                return self.exit_codes.ERROR_REFERENCE_WITHOUT_PHASE.format(
                    name=name,
                    formula=reference.get_formula(),
                    fix='build each polar phase from its reference (same supercell, same atom order)',
                )
            self.ctx.paths.extend((name, phase) for phase in phases)
        return None

    def has_md(self):
        return _runs_md(self.inputs.temperatures, self.inputs.md)

    def _dft_md_inputs(self, temperature: float) -> orm.Dict:
        """Engine-neutral inputs of one DFT MD run: ``engine_inputs`` with its md set by ``md`` (timestep fs,
        a frame every ``stride`` steps) at ``temperature`` (K); other md settings (thermostat, ...) are kept."""
        md = self.inputs.md.get_dict()
        parameters = copy.deepcopy(
            self.inputs.engine_inputs.get_dict() if 'engine_inputs' in self.inputs else {}
        )
        parameters['md'] = {
            **parameters.get('md', {}),
            'steps': int(md['steps']),
            'temperature': float(temperature),
            'timestep': float(md.get('timestep_fs', 1.0)),
            'interval': int(md.get('stride', 1)),
            'seed': int(self.inputs.perturbations.get('seed', 0)),
        }
        return orm.Dict(parameters)

    def run_md(self):
        md = self.inputs.md.get_dict()
        for phase, structure in sorted(self.inputs.structures.items()):
            for temperature in self.inputs.temperatures.get_list():
                key = f'md_{phase}_{int(round(temperature))}K'
                if self.inputs.sampler.value == 'gpaw':
                    inputs = AttributeDict(self.exposed_inputs(GpawBaseWorkChain, namespace='gpaw'))
                    inputs.gpaw = AttributeDict(inputs.gpaw)
                    inputs.gpaw.structure = structure
                    inputs.gpaw.parameters = self._dft_md_inputs(temperature)
                    process = GpawBaseWorkChain
                elif self.inputs.sampler.value == 'vasp':
                    process = _vasp_workchain()
                    inputs = AttributeDict(self.exposed_inputs(process, namespace='vasp'))
                    inputs.structure = structure
                    inputs.engine_inputs = self._dft_md_inputs(temperature)
                else:
                    inputs = AttributeDict(self.exposed_inputs(MlipMdCalculation, namespace='mlip'))
                    inputs.structure = structure
                    inputs.schedule = orm.List([[float(temperature), int(md['steps'])]])
                    parameters = dict(inputs['parameters'].get_dict()) if 'parameters' in inputs else {}
                    parameters.update(
                        {'timestep_fs': float(md.get('timestep_fs', 1.0)), 'stride': int(md.get('stride', 1))}
                    )
                    inputs.parameters = orm.Dict(parameters)
                    process = MlipMdCalculation
                inputs.metadata = AttributeDict(inputs.get('metadata', {}))
                inputs.metadata.call_link_label = key
                inputs.metadata.label = f'{phase} MD at {temperature:g} K'
                self.to_context(**{key: self.submit(process, **inputs)})
                self.ctx.md_keys.append(key)
        self.report(f'submitted {len(self.ctx.md_keys)} {self.inputs.sampler.value} MD runs')

    def inspect_md(self):
        failed = [self.ctx[key] for key in self.ctx.md_keys if not self.ctx[key].is_finished_ok]
        if failed:
            details = '; '.join(f'<{n.pk}> [{n.exit_status}] {n.exit_message}' for n in failed)
            return self.exit_codes.ERROR_MD_FAILED.format(n=len(failed), details=details)
        return None

    def gather(self):
        md = self.inputs.md.get_dict()
        sets = {}
        for key in self.ctx.md_keys:
            node = self.ctx[key]
            if self.inputs.sampler.value in ('gpaw', 'vasp'):
                # the engine wrote every stride-th step (labelled): drop the equilibration and the labels
                written = (
                    node.outputs.md_frames if self.inputs.sampler.value == 'gpaw' else node.outputs.frames
                )
                sets[key] = thin_frames(written, orm.Int(1), orm.Int(int(md.get('skip', 0))))
            else:
                sets[key] = trajectory_to_frames(
                    node.outputs.trajectory, orm.Int(int(md.get('skip', 0))), orm.Str(key)
                )
        perturbations = self.inputs.perturbations.get_dict()
        if int(perturbations.get('n_frames', 0)) > 0:
            for index, (phase, structure) in enumerate(sorted(self.inputs.structures.items())):
                # a different random pattern for each phase (seed + phase index, phases in sorted order)
                seed = int(perturbations.get('seed', 0)) + index
                parameters = orm.Dict({**perturbations, 'seed': seed, 'label': f'{phase} perturbation'})
                sets[f'perturbed_{phase}'] = perturbed_frames(structure, parameters)
        sets.update(self._path_sets())
        frames = gather_frames(**sets)
        self.out('frames', frames)
        self.report(f'sampled {frames.n_frames} frames from {len(sets)} sources')

    def _path_sets(self) -> dict:
        """The reference frames and the frames of every path from a reference to a phase with its atoms."""
        sets = {}
        path = self.inputs.path.get_dict() if 'path' in self.inputs else {}
        for name, reference in sorted(self.inputs.get('references', {}).items()):
            sets[f'reference_{name}'] = reference_frame(reference, orm.Str(name))
        for index, (name, phase) in enumerate(self.ctx.paths):
            parameters = {
                **path,
                'seed': int(path.get('seed', 0)) + index,
                'path': f'{name}->{phase}',
                'reference': name,
            }
            sets[f'path_{name}_{phase}'] = path_frames(
                self.inputs.references[name], self.inputs.structures[phase], orm.Dict(parameters)
            )
        if self.ctx.paths:
            self.report(f'sampled {len(self.ctx.paths)} path(s) from the references: {self.ctx.paths}')
        return sets
