"""CalcJob of the textures' bulk validation: ``flexo.textures.validate`` (``aiida-flexo textures validate``).

Bulk PbTiO3 and SrTiO3 with the potential and the dipole GNN of a texture, checked against the shipped DFT reference
(:mod:`aiida_flexo.textures.bulk`). The checks' verdicts are data (output ``validation``), not exit codes: the
``flexo.textures`` WorkChain decides whether a failed check stops it.
"""

from __future__ import annotations

from aiida import orm
from aiida.engine import ExitCode

from aiida_flexo.calcjobs.base import FlexoParser, declare_exit_codes
from aiida_flexo.calcjobs.mlip import ModelCalcJob
from aiida_flexo.mlip.exit_codes import MLIP_EXIT

VALIDATION_FILE = 'validation.json'


def _validate_c_values(value, _):
    from aiida_flexo.textures.bulk import check_c_values

    if value is None:
        return None
    try:
        check_c_values(value.get_list())
    except (TypeError, ValueError) as exc:
        return f'c_values: {exc}'
    return None


HEATING_KEYS = ('temperatures', 'steps', 'size', 'timestep_fs')


def validate_heating(value, _):
    """A heating run's settings, checked as the command checks them
    (:func:`aiida_flexo.textures.heating.check_heating`)."""
    from aiida_flexo.textures.heating import check_heating

    if value is None:
        return None
    heating = value.get_dict()
    unknown = sorted(set(heating) - set(HEATING_KEYS))
    if unknown:
        return f'heating: unknown keys {unknown}; known: {list(HEATING_KEYS)}'
    try:
        check_heating(
            heating.get('temperatures') or [],
            heating.get('steps'),
            heating.get('size'),
            heating.get('timestep_fs'),
        )
    except (TypeError, ValueError) as exc:
        return f'heating: {exc}'
    return None


class TexturesValidateCalculation(ModelCalcJob):
    """Bulk PbTiO3/SrTiO3 with a potential and a dipole GNN against DFT (``aiida-flexo textures validate``)."""

    SUBCOMMAND = ('textures', 'validate')
    RETRIEVE = (VALIDATION_FILE,)

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.input('dipole_model', valid_type=orm.SinglefileData, help='Dipole GNN (flexo.gnn.train).')
        spec.input(
            'c_values',
            valid_type=orm.List,
            required=False,
            validator=_validate_c_values,
            help='PbTiO3 c scan at a = 3.905 Å (Å); default that of the command.',
        )
        spec.input(
            'heating',
            valid_type=orm.Dict,
            required=False,
            validator=validate_heating,
            help='Also a PbTiO3 heating run: temperatures (K, rising), steps per temperature (1000), size (N×N×N, 3), '
            'timestep_fs (2).',
        )
        spec.inputs['metadata']['options']['parser_name'].default = 'flexo.textures.validate'
        spec.output(
            'validation',
            valid_type=orm.Dict,
            help='model: the quantities (Å, C/m², meV/f.u.); reference (DFT row and its source); checks (value, '
            'reference, tolerance, ok); failed; summary.',
        )
        declare_exit_codes(spec, MLIP_EXIT)

    def write_inputs(self, folder):
        dipole = self.inputs.dipole_model
        return [*self.model_copy(), (dipole.uuid, dipole.filename, f'dipole_{dipole.filename}')]

    def command_arguments(self):
        arguments = [self.model_argument(), '--dipole', f'dipole_{self.inputs.dipole_model.filename}']
        if 'c_values' in self.inputs:
            arguments += ['--c-values', ','.join(f'{float(c):g}' for c in self.inputs.c_values.get_list())]
        if 'heating' in self.inputs:
            heating = self.inputs.heating.get_dict()
            arguments += ['--heating', ','.join(f'{float(t):g}' for t in heating['temperatures'])]
            for key, flag in (
                ('steps', '--heating-steps'),
                ('size', '--heating-size'),
                ('timestep_fs', '--heating-timestep'),
            ):
                if key in heating:
                    arguments += [flag, f'{heating[key]:g}']
        return [*arguments, '--out', VALIDATION_FILE]


class TexturesValidateParser(FlexoParser):
    EXIT_TABLE = MLIP_EXIT

    def parse_summary(self, summary):
        if not summary.get('checks'):
            return self.exit_codes.ERROR_EXECUTABLE_FAILED.format(message='no checks in the JSON summary')
        self.out('validation', orm.Dict(summary))
        return ExitCode(0)
