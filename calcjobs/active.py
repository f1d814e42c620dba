"""CalcJob of active learning: ``flexo.active.select`` (``aiida-flexo active select``)."""

from __future__ import annotations

from aiida import orm
from aiida.engine import ExitCode

from aiida_flexo.calcjobs.base import FlexoCalcJob, FlexoParser
from aiida_flexo.calcjobs.mlip import frames_text, options_to_arguments
from aiida_flexo.calcjobs.utils import read_extxyz_text
from aiida_flexo.nodes.frames import FramesData

SELECT_OPTIONS = {
    'per_generation': '--per-generation',
    'force_floor': '--force-floor',
    'dipole_floor': '--dipole-floor',
    'force_ceiling': '--force-ceiling',
    'min_separation': '--min-separation',
}


def validate_select(value, _):
    """Selection settings that :class:`aiida_flexo.active.score.SelectSettings` accepts (thresholds > 0, ...)."""
    from aiida_flexo.active.score import SelectSettings

    if value is None:
        return None
    try:
        SelectSettings.from_dict(value.get_dict())
    except (TypeError, ValueError) as exc:
        return str(exc)
    return None


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
        spec.input(
            'parameters',
            valid_type=orm.Dict,
            required=False,
            validator=validate_select,
            help=f'Selection options: {", ".join(SELECT_OPTIONS)}.',
        )
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
        parameters = self.inputs.parameters.get_dict() if 'parameters' in self.inputs else {}
        return arguments + options_to_arguments(parameters, SELECT_OPTIONS)


class ActiveSelectParser(FlexoParser):
    def parse_summary(self, summary):
        self.out('scores', orm.Dict(summary))
        text = self._text('selected.xyz')
        if summary.get('selected'):
            if not text.strip():
                return self.exit_codes.ERROR_MISSING_FILE.format(filename='selected.xyz')
            self.out('selected', FramesData.from_frames(read_extxyz_text(text), source='active selection'))
        return ExitCode(0)
