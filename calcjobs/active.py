"""CalcJob of active learning: ``flexo.active.select`` (``aiida-flexo active select``)."""

from __future__ import annotations

from aiida import orm
from aiida.engine import ExitCode

from aiida_flexo.calcjobs.base import (
    FlexoCalcJob,
    FlexoParser,
    settings_arguments,
    settings_input,
    settings_validator,
)
from aiida_flexo.calcjobs.mlip import frames_text
from aiida_flexo.calcjobs.utils import read_extxyz_text
from aiida_flexo.nodes.frames import FramesData


def _select_table() -> dict:
    from aiida_flexo.active.score import select_settings_table

    return select_settings_table()


def _select_settings(values: dict):
    """The selection config of parsed values (thresholds > 0, ...; ``ValueError`` otherwise)."""
    from aiida_flexo.active.score import SelectSettings

    return SelectSettings(**values)


#: port validator of selection settings given to a WorkChain that passes them on to the CalcJob
validate_select = settings_validator(_select_table, _select_settings)


class ActiveSelectCalculation(FlexoCalcJob):
    """Score explored frames by committee deviation and pick the most uncertain, diverse ones for DFT.

    Outputs ``scores`` (per-frame force deviation, meV/Å, and dipole deviation, e·Å; the indices selected; whether
    no frame was above the floors) and ``selected`` (unlabelled frames; absent when nothing was selected).
    """

    SUBCOMMAND = ('active', 'select', 'explored.xyz', '--out', 'selected.xyz')
    RETRIEVE = ('selected.xyz',)

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.input('frames', valid_type=FramesData, help='Frames explored by a potential committee.')
        spec.input_namespace(
            'gnn_models',
            valid_type=orm.SinglefileData,
            dynamic=True,
            required=False,
            help='The GNN committee (two or more) for the dipole deviation.',
        )
        settings_input(spec, _select_table, _select_settings)
        spec.inputs['metadata']['options']['parser_name'].default = 'flexo.active.select'
        spec.output('scores', valid_type=orm.Dict, help='Deviations per frame, candidates, selected indices.')
        spec.output('selected', valid_type=FramesData, required=False, help='The frames to label with DFT.')

    def _gnn_keys(self) -> list[str]:
        return sorted(self.inputs.get('gnn_models') or {})

    def write_inputs(self, folder):
        self.write_text(folder, 'explored.xyz', frames_text(self.inputs.frames))
        models = self.inputs.get('gnn_models') or {}
        return [(models[key].uuid, models[key].filename, f'gnn_{key}.pt') for key in self._gnn_keys()]

    def command_arguments(self):
        arguments = []
        for key in self._gnn_keys():
            arguments += ['--gnn', f'gnn_{key}.pt']
        return arguments + settings_arguments(self.inputs, _select_table)


class ActiveSelectParser(FlexoParser):
    def parse_summary(self, summary):
        self.out('scores', orm.Dict(summary))
        text = self._text('selected.xyz')
        if summary.get('selected'):
            if not text.strip():
                return self.exit_codes.ERROR_MISSING_FILE.format(filename='selected.xyz')
            self.out('selected', FramesData.from_frames(read_extxyz_text(text), source='active selection'))
        return ExitCode(0)
