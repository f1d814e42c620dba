"""``flexo.polarization``: the polarization along a path of Berry-phase runs, computed where the runs live.

Inputs: ``outcars`` (a FolderData with one sub-folder per step holding its OUTCAR, optionally POSCAR) and
``steps`` (the sub-folder names in path order). Outputs: ``polarization`` (Dict: the ``aiida-flexo polarization
--json`` result in µC/cm²) and ``spontaneous`` (ArrayData ``spontaneous_uC_cm2``, ``polarization_uC_cm2``).
"""

from __future__ import annotations

import numpy as np
from aiida import orm
from aiida.engine import ExitCode

from aiida_flexo.calcjobs.base import FlexoCalcJob, FlexoParser


class PolarizationCalculation(FlexoCalcJob):
    """Same-branch polarization along a path of VASP Berry-phase runs (µC/cm²)."""

    SUBCOMMAND = ('polarization',)

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.input(
            'outcars', valid_type=orm.FolderData, help='One sub-folder per step with its OUTCAR (and POSCAR).'
        )
        spec.input('steps', valid_type=orm.List, help='Sub-folder names of `outcars` in path order.')
        spec.input(
            'charge_quantum',
            valid_type=orm.Float,
            default=lambda: orm.Float(1.0),
            help='Charge quantum q (e).',
        )
        spec.inputs['metadata']['options']['parser_name'].default = 'flexo.polarization'
        spec.output(
            'polarization', valid_type=orm.Dict, help='Per-step polarization, quanta, spontaneous, µC/cm².'
        )
        spec.output(
            'spontaneous', valid_type=orm.ArrayData, help='Same-branch spontaneous polarization, µC/cm².'
        )
        spec.exit_code(
            310, 'ERROR_INVALID_STEPS', message='steps name sub-folders that `outcars` lacks: {missing}'
        )

    def write_inputs(self, folder):
        steps = list(self.inputs.steps.get_list())
        present = set(self.inputs.outcars.base.repository.list_object_names())
        missing = [step for step in steps if step not in present]
        if missing:
            raise ValueError(f'steps name sub-folders that the outcars FolderData lacks: {missing}')
        return [(self.inputs.outcars.uuid, step, f'steps/{step}') for step in steps]

    def command_arguments(self) -> list[str]:
        steps = [f'steps/{step}' for step in self.inputs.steps.get_list()]
        return [*steps, '--charge-quantum', str(float(self.inputs.charge_quantum.value))]


class PolarizationParser(FlexoParser):
    """Stores the JSON result and the spontaneous polarization as arrays."""

    def parse_summary(self, summary: dict):
        self.out('polarization', orm.Dict(summary))
        arrays = orm.ArrayData()
        arrays.set_array('spontaneous_uC_cm2', np.array(summary['spontaneous_uC_cm2']))
        arrays.set_array('polarization_uC_cm2', np.array(summary['polarization_uC_cm2']))
        arrays.set_array('quantum_uC_cm2', np.array(summary['quantum_uC_cm2']))
        self.out('spontaneous', arrays)
        return ExitCode(0)
