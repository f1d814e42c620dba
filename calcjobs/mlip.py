"""CalcJobs of the Allegro potential: ``flexo.mlip.train``, ``flexo.mlip.relax`` and ``flexo.mlip.md``.

Each runs ``aiida-flexo mlip <train|relax|md>`` on the target computer (see :mod:`aiida_flexo.cli.mlip` for the
executable and its exit statuses: 3 not converged, 4 NaN or exploding MD, 5 species unknown to the model).
"""

from __future__ import annotations

from aiida import orm
from aiida.engine import ExitCode

from aiida_flexo.calcjobs.base import FlexoCalcJob, FlexoParser
from aiida_flexo.calcjobs.utils import (
    md_trajectory_from_frames,
    read_ase_trajectory,
    read_extxyz_text,
    singlefile_from_text,
    structure_to_extxyz,
    trajectory_from_frames,
)
from aiida_flexo.nodes.frames import FramesData

MODEL_FILE = 'model.nequip.zip'
TRAIN_OPTIONS = {
    'epochs': '--epochs',
    'cutoff': '--cutoff',
    'seed': '--seed',
    'val_fraction': '--val-fraction',
    'test_fraction': '--test-fraction',
    'energy_weight': '--energy-weight',
    'force_weight': '--force-weight',
    'stress_weight': '--stress-weight',
    'model_size': '--model-size',
    'dtype': '--dtype',
    'max_time': '--max-time',
    'patience': '--patience',
    'lr': '--lr',
    'batch_size': '--batch-size',
}
RELAX_OPTIONS = {
    'fmax': '--fmax',
    'max_steps': '--max-steps',
    'optimizer': '--optimizer',
    'device': '--device',
}
MD_OPTIONS = {
    'timestep_fs': '--timestep',
    'thermostat': '--thermostat',
    'friction_per_fs': '--friction',
    'tdamp_fs': '--tdamp',
    'pressure_GPa': '--pressure',
    'pdamp_fs': '--pdamp',
    'stride': '--stride',
    'device': '--device',
    'seed': '--seed',
}


def options_to_arguments(parameters: dict, mapping: dict[str, str], flags: tuple[str, ...] = ()) -> list[str]:
    """CLI arguments from a parameters dict; unknown keys raise a clear error naming the allowed ones."""
    unknown = set(parameters) - set(mapping) - set(flags)
    if unknown:
        raise ValueError(
            f'unknown parameters {sorted(unknown)}; allowed: {sorted(set(mapping) | set(flags))}'
        )
    arguments = []
    for key, value in parameters.items():
        if key in flags:
            if value:
                arguments.append('--' + key.replace('_', '-'))
        elif value is not None:
            arguments += [mapping[key], str(value)]
    return arguments


def _validate_parameters(mapping, flags=()):
    def validator(value, _):
        if value is None:
            return None
        try:
            options_to_arguments(value.get_dict(), mapping, flags)
        except ValueError as exc:
            return str(exc)
        return None

    return validator


class _MlipParser(FlexoParser):
    EXIT_STATUS_CODES = {3: 'ERROR_NOT_CONVERGED', 4: 'ERROR_UNSTABLE', 5: 'ERROR_MISSING_SPECIES'}


def _mlip_exit_codes(spec) -> None:
    spec.exit_code(303, 'ERROR_NOT_CONVERGED', message='not converged: {message}')
    spec.exit_code(304, 'ERROR_UNSTABLE', message='NaN energies/forces or an exploding run: {message}')
    spec.exit_code(
        305, 'ERROR_MISSING_SPECIES', message='the structure has species the model lacks: {message}'
    )


# -------------------------------------------------------------------------------------------------- training


class MlipTrainCalculation(FlexoCalcJob):
    """Train an Allegro potential on a flexo.frames node (``aiida-flexo mlip train``)."""

    SUBCOMMAND = ('mlip', 'train', 'frames.xyz', '--out', '.')
    RETRIEVE = (MODEL_FILE, 'metrics.json', 'learning_curve.csv', 'split.json')

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.input('frames', valid_type=FramesData, help='Labelled frames (energy, forces; stress optional).')
        spec.input(
            'parameters',
            valid_type=orm.Dict,
            required=False,
            validator=_validate_parameters(TRAIN_OPTIONS),
            help=f'Training options: {", ".join(TRAIN_OPTIONS)}.',
        )
        spec.inputs['metadata']['options']['parser_name'].default = 'flexo.mlip.train'
        spec.output(
            'model', valid_type=orm.SinglefileData, help='Packaged nequip/Allegro model (eager, CPU/GPU).'
        )
        spec.output(
            'metrics', valid_type=orm.Dict, help='Force/energy/stress MAE on validation and test frames.'
        )
        spec.output('learning_curve', valid_type=orm.SinglefileData, help='Per-epoch metrics (CSV).')
        spec.output('split', valid_type=orm.Dict, required=False, help='Frame indices of train/val/test.')
        _mlip_exit_codes(spec)

    def write_inputs(self, folder):
        self.write_text(folder, 'frames.xyz', _frames_text(self.inputs.frames))
        return []

    def command_arguments(self):
        parameters = self.inputs.parameters.get_dict() if 'parameters' in self.inputs else {}
        return options_to_arguments(parameters, TRAIN_OPTIONS)


def _frames_text(frames: FramesData) -> str:
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        return frames.write_extxyz(Path(tmp) / 'frames.xyz').read_text()


class MlipTrainParser(_MlipParser):
    def parse_summary(self, summary):
        if not self.out_file('model', MODEL_FILE):
            return self.exit_codes.ERROR_MISSING_FILE.format(filename=MODEL_FILE)
        self.out('metrics', orm.Dict(summary))
        self.out(
            'learning_curve', singlefile_from_text(self._text('learning_curve.csv'), 'learning_curve.csv')
        )
        split = self._text('split.json')
        if split:
            import json

            self.out('split', orm.Dict(json.loads(split)))
        return ExitCode(0)


# ------------------------------------------------------------------------------------------------ relaxation


class _ModelOnStructure(FlexoCalcJob):
    """A structure, a model, fixed atoms and an optional trajectory to continue from (relax and md)."""

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.input('structure', valid_type=orm.StructureData, help='The starting structure.')
        spec.input('model', valid_type=orm.SinglefileData, help='Packaged Allegro model (flexo.mlip.train).')
        spec.input(
            'fix', valid_type=orm.Str, required=False, help='Fixed atoms: species ("Ba") or indices ("0,3").'
        )
        spec.input(
            'restart_trajectory',
            valid_type=orm.SinglefileData,
            required=False,
            help='Continue from the last frame of this ase trajectory (an unconverged or killed run).',
        )
        spec.output('summary', valid_type=orm.Dict, required=False)
        spec.output(
            'trajectory_file', valid_type=orm.SinglefileData, required=False, help='ase .traj (restarts).'
        )
        _mlip_exit_codes(spec)

    def write_inputs(self, folder):
        self.write_text(folder, 'structure.xyz', structure_to_extxyz(self.inputs.structure))
        copies = [(self.inputs.model.uuid, self.inputs.model.filename, MODEL_FILE)]
        if 'restart_trajectory' in self.inputs:
            node = self.inputs.restart_trajectory
            copies.append((node.uuid, node.filename, 'restart.traj'))
        return copies

    def common_arguments(self) -> list[str]:
        arguments = []
        if 'fix' in self.inputs and self.inputs.fix.value:
            arguments += ['--fix', self.inputs.fix.value]
        if 'restart_trajectory' in self.inputs:
            arguments += ['--restart-from', 'restart.traj']
        return arguments


class MlipRelaxCalculation(_ModelOnStructure):
    """Relax a structure with an Allegro potential, some atoms fixed (``aiida-flexo mlip relax``)."""

    SUBCOMMAND = ('mlip', 'relax', MODEL_FILE, 'structure.xyz', '--out', 'relaxed.xyz')
    RETRIEVE = ('relaxed.xyz', 'relax.traj', 'relax.log')

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.input(
            'parameters',
            valid_type=orm.Dict,
            required=False,
            validator=_validate_parameters(RELAX_OPTIONS, ('relax_cell',)),
            help='fmax (eV/Å), max_steps, optimizer (FIRE/BFGS/LBFGS), relax_cell.',
        )
        spec.inputs['metadata']['options']['parser_name'].default = 'flexo.mlip.relax'
        spec.output('relaxed_structure', valid_type=orm.StructureData, required=False)
        spec.output('energy', valid_type=orm.Float, required=False, help='Energy of the last frame, eV.')
        spec.output('max_force', valid_type=orm.Float, required=False, help='Max |F| over free atoms, eV/Å.')
        spec.output('trajectory', valid_type=orm.TrajectoryData, required=False)

    def command_arguments(self):
        parameters = self.inputs.parameters.get_dict() if 'parameters' in self.inputs else {}
        arguments = options_to_arguments(parameters, RELAX_OPTIONS, ('relax_cell',))
        arguments += ['--trajectory', 'relax.traj', '--log', 'relax.log', '--summary', 'relax.json']
        return arguments + self.common_arguments()


class MlipRelaxParser(_MlipParser):
    PARSE_ON_STATUS = (3,)

    def parse_partial(self):
        """A killed or failed relaxation still leaves its trajectory: keep it for the restart."""
        self.out_file('trajectory_file', 'relax.traj')

    def parse_summary(self, summary):
        text = self._text('relaxed.xyz')
        if not text:
            return self.exit_codes.ERROR_MISSING_FILE.format(filename='relaxed.xyz')
        (relaxed,) = read_extxyz_text(text)
        self.out('relaxed_structure', orm.StructureData(ase=relaxed))
        self.out('energy', orm.Float(summary['energy_eV']))
        self.out('max_force', orm.Float(summary['max_force_eV_A']))
        self.out('summary', orm.Dict(summary))
        if self.out_file('trajectory_file', 'relax.traj'):
            frames = read_ase_trajectory(self._bytes('relax.traj'))
            if frames:
                self.out('trajectory', trajectory_from_frames(frames))
        return ExitCode(0)


# ------------------------------------------------------------------------------------------ molecular dynamics


class MlipMdCalculation(_ModelOnStructure):
    """Molecular dynamics through a temperature schedule with an Allegro potential (``aiida-flexo mlip md``)."""

    SUBCOMMAND = ('mlip', 'md', MODEL_FILE, 'structure.xyz', '--out', 'md.traj')
    RETRIEVE = ('md.traj', 'final.xyz', 'md.log')

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.input(
            'schedule',
            valid_type=orm.List,
            help='Temperature stages [[temperature_K, n_steps], ...], e.g. an anneal [[1000, 2000], [1, 2000]].',
        )
        spec.input(
            'parameters',
            valid_type=orm.Dict,
            required=False,
            validator=_validate_parameters(MD_OPTIONS),
            help=f'MD options: {", ".join(MD_OPTIONS)}.',
        )
        spec.inputs['metadata']['options']['parser_name'].default = 'flexo.mlip.md'
        spec.output('trajectory', valid_type=orm.TrajectoryData, required=False, help='Thinned trajectory.')
        spec.output('final_structure', valid_type=orm.StructureData, required=False)

    def command_arguments(self):
        schedule = ','.join(f'{float(t)}:{int(n)}' for t, n in self.inputs.schedule.get_list())
        parameters = self.inputs.parameters.get_dict() if 'parameters' in self.inputs else {}
        arguments = ['--schedule', schedule, *options_to_arguments(parameters, MD_OPTIONS)]
        arguments += ['--final', 'final.xyz', '--summary', 'md.json', '--log', 'md.log']
        return arguments + self.common_arguments()


class MlipMdParser(_MlipParser):
    def parse_partial(self):
        self.out_file('trajectory_file', 'md.traj')

    def parse_summary(self, summary):
        if not self.out_file('trajectory_file', 'md.traj'):
            return self.exit_codes.ERROR_MISSING_FILE.format(filename='md.traj')
        self.out('trajectory', md_trajectory_from_frames(read_ase_trajectory(self._bytes('md.traj'))))
        final = self._text('final.xyz')
        if final:
            (atoms,) = read_extxyz_text(final)
            self.out('final_structure', orm.StructureData(ase=atoms))
        self.out('summary', orm.Dict(summary))
        return ExitCode(0)
