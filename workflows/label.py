"""``flexo.label``: label every frame of a frame set with DFT (GPAW or VASP), in parallel through the daemon.

Each frame is one sub-workflow (``flexo.gpaw.base`` or ``flexo.vasp.label``) with the same engine-neutral inputs;
Born charges are computed on a chosen subset of frames only. Identical frames with identical inputs are not
recomputed when caching is on (``aiida-flexo setup`` enables it for the DFT CalcJobs). The labelled frames are
gathered into one flexo.frames node; frames whose labelling failed are listed in the ``failed`` output and in the
report, never dropped silently.
"""

from __future__ import annotations

import copy

from aiida import orm
from aiida.common import AttributeDict
from aiida.engine import WorkChain

from aiida_flexo.calcjobs.base import serial_options
from aiida_flexo.calcjobs.functions.frames import attach_sample_info, gather_frames
from aiida_flexo.calcjobs.gpaw import validate_engine_inputs
from aiida_flexo.nodes.frames import FramesData
from aiida_flexo.workflows.gpaw_base import GpawBaseWorkChain
from aiida_flexo.workflows.protocols import ProtocolMixin, builder_inputs, recursive_merge

ENGINES = ('gpaw', 'vasp')


def _validate_engine(value, _):
    if value.value not in ENGINES:
        return f'unknown engine "{value.value}": choose one of {ENGINES}'
    return None


def _vasp_workchain():
    from aiida_flexo.workflows.vasp_label import VaspLabelWorkChain

    return VaspLabelWorkChain


class LabelWorkChain(ProtocolMixin, WorkChain):
    """Label a frame set with energy, forces, stress, Berry-phase dipole (and Born charges on a subset)."""

    _protocol_name = 'label'

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.input(
            'frames', valid_type=FramesData, help='Structures to label (their labels, if any, are ignored).'
        )
        spec.input('engine', valid_type=orm.Str, validator=_validate_engine, help='gpaw or vasp.')
        spec.input(
            'engine_inputs',
            valid_type=orm.Dict,
            validator=validate_engine_inputs,
            help='Engine-neutral DFT inputs (EngineInputs.to_dict()), the same for every frame.',
        )
        spec.input(
            'born_charges_frames',
            valid_type=orm.List,
            required=False,
            help='Indices of the frames that also get Born charges (default: as engine_inputs say, for all).',
        )
        spec.input(
            'max_failed_fraction',
            valid_type=orm.Float,
            default=lambda: orm.Float(0.5),
            help='Fail (exit 401) when more than this fraction of the frames could not be labelled.',
        )
        spec.expose_inputs(
            GpawBaseWorkChain,
            namespace='gpaw',
            exclude=('gpaw.structure', 'gpaw.parameters'),
            namespace_options={
                'required': False,
                'populate_defaults': False,
                'help': 'GPAW code and options.',
            },
        )
        spec.expose_inputs(
            _vasp_workchain(),
            namespace='vasp',
            exclude=('structure', 'engine_inputs'),
            namespace_options={
                'required': False,
                'populate_defaults': False,
                'help': 'VASP code, POTCARs, options.',
            },
        )
        spec.outline(cls.setup, cls.label, cls.gather)
        spec.output(
            'labelled', valid_type=FramesData, help='The labelled frames (failed ones left out, see failed).'
        )
        spec.output(
            'failed', valid_type=orm.List, help='Frames that could not be labelled: index, pk, exit status.'
        )
        spec.exit_code(
            400, 'ERROR_ENGINE_INPUTS_MISSING', message='no inputs for the "{engine}" engine were given'
        )
        spec.exit_code(
            401, 'ERROR_TOO_MANY_FAILED', message='{failed} of {total} frames could not be labelled'
        )
        spec.exit_code(402, 'ERROR_NOTHING_LABELLED', message='no frame could be labelled')

    @classmethod
    def get_builder_from_protocol(
        cls,
        code: orm.AbstractCode,
        frames: FramesData | None,
        engine: str = 'gpaw',
        protocol: str | None = None,
        overrides: dict | None = None,
        options: dict | None = None,
        born_charges_frames: list[int] | None = None,
        potential_family: str | None = None,
    ):
        """Builder for ``engine`` with the DFT settings of ``protocol`` (fast / moderate / precise).

        Args:
            code: the GPAW-capable ``aiida-flexo`` code, or the VASP code.
            options: scheduler options of every DFT calculation.
            born_charges_frames: indices of the frames that also get Born charges.
            potential_family: POTCAR family (VASP only).
        """
        inputs = cls.get_protocol_inputs(protocol, overrides)
        builder = cls.get_builder()
        if frames is not None:
            builder.frames = frames
        builder.engine = orm.Str(engine)
        builder.engine_inputs = orm.Dict(inputs['engine_inputs'])
        builder.max_failed_fraction = orm.Float(inputs['max_failed_fraction'])
        if born_charges_frames is not None:
            builder.born_charges_frames = orm.List(list(born_charges_frames))
        if engine == 'gpaw':
            builder.gpaw.gpaw.code = code
            builder.gpaw.gpaw.metadata.options = copy.deepcopy(options) if options else serial_options()
        else:
            builder.vasp.code = code
            builder.vasp.potential_family = orm.Str(potential_family or 'PBE.54')
            if options:
                builder.vasp.options = orm.Dict(options)
        return builder

    @classmethod
    def namespace_inputs_from_protocol(cls, code: orm.AbstractCode, engine: str = 'gpaw', **kwargs) -> dict:
        """The builder's inputs less ``frames``, for a workflow that exposes this one in a ``label`` namespace and
        gives the frames itself (keyword arguments as :meth:`get_builder_from_protocol`)."""
        builder = cls.get_builder_from_protocol(code, None, engine=engine, **kwargs)
        return builder_inputs(builder, exclude=('frames',))

    def setup(self):
        engine = self.inputs.engine.value
        if engine not in self.inputs or not self.inputs[engine]:
            return self.exit_codes.ERROR_ENGINE_INPUTS_MISSING.format(engine=engine)
        self.ctx.frame_keys = []
        return None

    def _engine_inputs(self, index: int) -> dict:
        parameters = copy.deepcopy(self.inputs.engine_inputs.get_dict())
        if 'born_charges_frames' in self.inputs:
            enabled = index in set(self.inputs.born_charges_frames.get_list())
            parameters['born_charges'] = recursive_merge(
                parameters.get('born_charges', {}), {'enabled': enabled}
            )
        return parameters

    def label(self):
        engine = self.inputs.engine.value
        frames = self.inputs.frames.get_frames()
        for index, atoms in enumerate(frames):
            structure = orm.StructureData(ase=atoms)
            parameters = orm.Dict(self._engine_inputs(index))
            key = f'frame_{index:05d}'
            if engine == 'gpaw':
                inputs = AttributeDict(self.exposed_inputs(GpawBaseWorkChain, namespace='gpaw'))
                inputs.gpaw = AttributeDict(inputs.gpaw)
                inputs.gpaw.structure = structure
                inputs.gpaw.parameters = parameters
                process = GpawBaseWorkChain
            else:
                process = _vasp_workchain()
                inputs = AttributeDict(self.exposed_inputs(process, namespace='vasp'))
                inputs.structure = structure
                inputs.engine_inputs = parameters
            inputs.metadata = AttributeDict(inputs.get('metadata', {}))
            inputs.metadata.call_link_label = key
            inputs.metadata.label = f'frame {index} ({atoms.get_chemical_formula()})'
            node = self.submit(process, **inputs)
            self.to_context(**{key: node})
            self.ctx.frame_keys.append(key)
        self.report(f'submitted {len(frames)} {engine} labelling workflows')

    def gather(self):
        output_name = 'frame' if self.inputs.engine.value == 'gpaw' else 'frames'
        labelled, failed = {}, []
        for key in self.ctx.frame_keys:
            node = self.ctx[key]
            if node.is_finished_ok and output_name in node.outputs:
                labelled[key] = node.outputs[output_name]
            else:
                failed.append(
                    {
                        'index': int(key.split('_')[1]),
                        'pk': node.pk,
                        'exit_status': node.exit_status,
                        'message': node.exit_message
                        or (str(node.exception)[-300:] if node.exception else ''),
                    }
                )
        for record in failed:
            self.report(
                f'frame {record["index"]} not labelled: <{record["pk"]}> [{record["exit_status"]}] {record["message"]}'
            )
        self.out('failed', orm.List(failed).store())
        total = len(self.ctx.frame_keys)
        if not labelled:
            return self.exit_codes.ERROR_NOTHING_LABELLED
        self.out('labelled', attach_sample_info(gather_frames(**labelled), self.inputs.frames))
        self.report(f'labelled {len(labelled)} of {total} frames')
        if len(failed) > self.inputs.max_failed_fraction.value * total:
            return self.exit_codes.ERROR_TOO_MANY_FAILED.format(failed=len(failed), total=total)
        return None
