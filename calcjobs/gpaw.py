"""``flexo.gpaw``: label one structure with the open DFT engine GPAW (``aiida-flexo engine gpaw input.json``).

Inputs: ``structure`` and ``parameters`` (the engine-neutral :class:`aiida_flexo.engines.inputs.EngineInputs` as a
dict: protocol, cutoff, k-points, smearing, berry_phase, born_charges, md, ...). Outputs: ``frame`` (a one-frame
flexo.frames node with energy, forces, stress, dipole, charge quantum and Born charges when computed),
``results`` (Dict: everything the driver reports, including the acoustic-sum-rule residual and timings),
``displaced_frames`` and ``md_frames`` (flexo.frames) when those stages ran. A failed run keeps what finished
(e.g. the SCF labels of a run whose Born charges failed) and returns the driver's exit status as an exit code.
"""

from __future__ import annotations

import json

from aiida import orm
from aiida.engine import ExitCode

from aiida_flexo.calcjobs.base import FlexoCalcJob, FlexoParser, declare_exit_codes
from aiida_flexo.calcjobs.utils import jsonable, read_extxyz_text, structure_to_extxyz
from aiida_flexo.engines.exit_codes import ENGINE_EXIT
from aiida_flexo.nodes.frames import FramesData


def validate_engine_inputs(value, _):
    """Port validator: a Dict of engine-neutral inputs (:class:`aiida_flexo.engines.inputs.EngineInputs`)."""
    from aiida_flexo.engines.inputs import EngineInputs, InputsError

    try:
        EngineInputs.from_dict(value.get_dict()).validate()
    except (InputsError, TypeError, ValueError) as exc:
        return f'invalid engine inputs: {exc}'
    return None


class GpawCalculation(FlexoCalcJob):
    """One GPAW labelling job (SCF, Berry phase, Born charges, MD as the parameters ask)."""

    SUBCOMMAND = ('engine', 'gpaw', 'input.json')
    RETRIEVE = ('results.json', 'labelled.xyz', 'displaced.xyz', 'md.xyz', 'gpaw.txt')
    JSON_SUMMARY = False

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.input('structure', valid_type=orm.StructureData, help='The structure to label (3D periodic).')
        spec.input(
            'parameters',
            valid_type=orm.Dict,
            validator=validate_engine_inputs,
            help='Engine-neutral inputs (aiida_flexo.engines.inputs.EngineInputs.to_dict()).',
        )
        spec.input(
            'parent_folder',
            valid_type=orm.RemoteData,
            required=False,
            help='Work folder of an earlier run of the same inputs: its finished stages are reused.',
        )
        spec.inputs['metadata']['options']['parser_name'].default = 'flexo.gpaw'
        spec.output(
            'frame', valid_type=FramesData, required=False, help='The structure as one labelled frame.'
        )
        spec.output(
            'results', valid_type=orm.Dict, required=False, help='All driver results (units in keys/doc).'
        )
        spec.output(
            'displaced_frames', valid_type=FramesData, required=False, help='Born-charge displacements.'
        )
        spec.output(
            'md_frames', valid_type=FramesData, required=False, help='MD trajectory as labelled frames.'
        )
        declare_exit_codes(spec, ENGINE_EXIT)

    def write_inputs(self, folder):
        self.write_text(folder, 'input.json', json.dumps(self.inputs.parameters.get_dict(), indent=1))
        self.write_text(folder, 'structure.xyz', structure_to_extxyz(self.inputs.structure))
        return []

    def command_arguments(self):
        return []

    def prepare_for_submission(self, folder):
        calcinfo = super().prepare_for_submission(folder)
        if 'parent_folder' in self.inputs:
            parent = self.inputs.parent_folder
            calcinfo.remote_copy_list = [
                (parent.computer.uuid, f'{parent.get_remote_path()}/results.json', 'results.json')
            ]
        return calcinfo


class GpawParser(FlexoParser):
    EXIT_TABLE = ENGINE_EXIT
    PARSE_ON_STATUS = tuple(entry.status for entry in ENGINE_EXIT)

    def _frames(self, name: str, source: str) -> FramesData | None:
        text = self._text(name)
        if not text.strip():
            return None
        return FramesData.from_frames(read_extxyz_text(text), source=source)

    def parse_partial(self):
        self.parse_summary({})

    def parse_summary(self, summary):
        results_text = self._text('results.json')
        if results_text:
            self.out('results', orm.Dict(jsonable(json.loads(results_text))))
        frame = self._frames('labelled.xyz', f'flexo.gpaw pk {self.node.pk}')
        if frame is not None:
            self.out('frame', frame)
        displaced = self._frames('displaced.xyz', f'flexo.gpaw pk {self.node.pk} (Born-charge displacements)')
        if displaced is not None:
            self.out('displaced_frames', displaced)
        md = self._frames('md.xyz', f'flexo.gpaw pk {self.node.pk} (MD)')
        if md is not None:
            self.out('md_frames', md)
        if frame is None and self.read_status() and self.read_status()['exit_status'] == 0:
            return self.exit_codes.ERROR_MISSING_FILE.format(filename='labelled.xyz')
        return ExitCode(0)
