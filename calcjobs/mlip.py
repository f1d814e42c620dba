"""CalcJobs of the potentials: ``flexo.mlip.train``, ``.relax``, ``.md``, ``.sample`` (teacher frames) and ``.eval``.

Each runs ``aiida-flexo mlip <train|relax|md|sample|eval>`` on the target computer; its exit statuses and their
exit codes are one table, :data:`aiida_flexo.mlip.exit_codes.MLIP_EXIT`. The parameters of each are its settings
(:mod:`aiida_flexo.mlip.settings`), checked by a port validator before submission.
"""

from __future__ import annotations

from aiida import orm
from aiida.engine import ExitCode

from aiida_flexo.calcjobs.base import (
    FlexoCalcJob,
    FlexoParser,
    declare_exit_codes,
    settings_arguments,
    settings_input,
)
from aiida_flexo.calcjobs.utils import (
    md_trajectory_from_frames,
    read_ase_trajectory,
    read_extxyz_text,
    singlefile_from_text,
    structure_to_extxyz,
    trajectory_from_frames,
)
from aiida_flexo.mlip.exit_codes import MLIP_EXIT
from aiida_flexo.nodes.frames import FramesData

#: the model file names ``aiida-flexo mlip train`` may write (the route and committee decide which)
MODEL_FILES = ('model.nequip.zip', 'model.sevenn.pth', 'model.chgnet.pt', 'model.committee.zip')


def _from_settings(name: str):
    """The function ``name`` of :mod:`aiida_flexo.mlip.settings` (imported when called): a settings table, or the
    config built from parsed values (which raises ``ValueError`` on a bad one)."""

    def call(*args):
        from aiida_flexo.mlip import settings

        return getattr(settings, name)(*args)

    return call


TRAINING_TABLE = _from_settings('training_settings_table')
RELAX_TABLE = _from_settings('relax_settings_table')
MD_TABLE = _from_settings('md_settings_table')
SAMPLING_TABLE = _from_settings('sampling_settings_table')


def _validate_model(value, _):
    """A model file of a kind the calculator factory knows, or a known pretrained potential name."""
    from aiida_flexo.mlip.calculator import MODEL_SUFFIXES
    from aiida_flexo.mlip.universal import UNIVERSAL_POTENTIALS, is_universal_name

    if isinstance(value, orm.Str):
        if not is_universal_name(value.value):
            return f'unknown pretrained potential {value.value!r}; known: {", ".join(UNIVERSAL_POTENTIALS)}'
        return None
    if not value.filename.endswith(MODEL_SUFFIXES):
        return f'model file {value.filename!r}: expected a name ending in {", ".join(MODEL_SUFFIXES)}'
    return None


class _MlipParser(FlexoParser):
    EXIT_TABLE = MLIP_EXIT


def _mlip_exit_codes(spec) -> None:
    declare_exit_codes(spec, MLIP_EXIT)


# -------------------------------------------------------------------------------------------------- training


class MlipTrainCalculation(FlexoCalcJob):
    """Train a potential on a flexo.frames node: Allegro, a fine-tuned universal potential (``from_potential``)
    or a committee (``committee``) (``aiida-flexo mlip train``)."""

    SUBCOMMAND = ('mlip', 'train', 'frames.xyz', '--out', '.')
    RETRIEVE = (*MODEL_FILES, 'metrics.json', 'learning_curve.csv', 'split.json')
    #: continues from parent_folder/run/ (flexo.mlip.train.base)
    RESUMABLE = True

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.input('frames', valid_type=FramesData, help='Labelled frames (energy, forces; stress optional).')
        settings_input(spec, TRAINING_TABLE, _from_settings('training_settings'))
        spec.inputs['metadata']['options']['parser_name'].default = 'flexo.mlip.train'
        spec.output(
            'model',
            valid_type=orm.SinglefileData,
            help='The trained potential: model.nequip.zip (Allegro), model.sevenn.pth / model.chgnet.pt (fine-tuned '
            'universal potential) or model.committee.zip (a committee).',
        )
        spec.output(
            'metrics', valid_type=orm.Dict, help='Force/energy/stress MAE on validation and test frames.'
        )
        spec.output('learning_curve', valid_type=orm.SinglefileData, help='Per-epoch metrics (CSV).')
        spec.output('split', valid_type=orm.Dict, required=False, help='Frame indices of train/val/test.')
        _mlip_exit_codes(spec)

    def write_inputs(self, folder):
        self.write_text(folder, 'frames.xyz', frames_text(self.inputs.frames))
        return []

    def command_arguments(self):
        return settings_arguments(self.inputs, TRAINING_TABLE)


def frames_text(frames: FramesData) -> str:
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        return frames.write_extxyz(Path(tmp) / 'frames.xyz').read_text()


class MlipTrainParser(_MlipParser):
    def parse_summary(self, summary):
        name = summary.get('model_file', MODEL_FILES[0])
        if name not in MODEL_FILES or not self.out_file('model', name):
            return self.exit_codes.ERROR_MISSING_FILE.format(filename=name)
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


class ModelOnStructure(FlexoCalcJob):
    """A structure, a model, fixed atoms and an optional trajectory to continue from (relax and md)."""

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.input('structure', valid_type=orm.StructureData, help='The starting structure.')
        spec.input(
            'model',
            valid_type=(orm.SinglefileData, orm.Str),
            validator=_validate_model,
            help='A trained potential (the `model` output of flexo.mlip.train: Allegro, fine-tuned or committee) or '
            'the name of a pretrained universal potential (zero-shot).',
        )
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

    def model_argument(self) -> str:
        """The model as the executable sees it: the copied file's name (its suffix tells the kind) or a name."""
        model = self.inputs.model
        return model.value if isinstance(model, orm.Str) else model.filename

    def write_inputs(self, folder):
        self.write_text(folder, 'structure.xyz', structure_to_extxyz(self.inputs.structure))
        copies = []
        if isinstance(self.inputs.model, orm.SinglefileData):
            copies.append((self.inputs.model.uuid, self.inputs.model.filename, self.inputs.model.filename))
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


class MlipRelaxCalculation(ModelOnStructure):
    """Relax a structure with a potential, some atoms fixed (``aiida-flexo mlip relax``)."""

    SUBCOMMAND = ('mlip', 'relax')
    RETRIEVE = ('relaxed.xyz', 'relax.traj', 'relax.log')

    @classmethod
    def define(cls, spec):
        super().define(spec)
        settings_input(spec, RELAX_TABLE, _from_settings('relax_settings'))
        spec.inputs['metadata']['options']['parser_name'].default = 'flexo.mlip.relax'
        spec.output('relaxed_structure', valid_type=orm.StructureData, required=False)
        spec.output('energy', valid_type=orm.Float, required=False, help='Energy of the last frame, eV.')
        spec.output(
            'max_force',
            valid_type=orm.Float,
            required=False,
            help='Largest force norm over the free atoms, eV/Å.',
        )
        spec.output('trajectory', valid_type=orm.TrajectoryData, required=False)

    def command_arguments(self):
        arguments = [self.model_argument(), 'structure.xyz', '--out', 'relaxed.xyz']
        arguments += settings_arguments(self.inputs, RELAX_TABLE)
        arguments += ['--trajectory', 'relax.traj', '--log', 'relax.log', '--summary', 'relax.json']
        return arguments + self.common_arguments()


class MlipRelaxParser(_MlipParser):
    PARSE_ON_STATUS = (MLIP_EXIT.NOT_CONVERGED.status,)

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


class MlipMdCalculation(ModelOnStructure):
    """Molecular dynamics through a temperature schedule with a potential (``aiida-flexo mlip md``)."""

    SUBCOMMAND = ('mlip', 'md')
    RETRIEVE = ('md.traj', 'final.xyz', 'md.log')

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.input(
            'schedule',
            valid_type=orm.List,
            help='Temperature stages [[temperature_K, n_steps], ...], e.g. an anneal [[1000, 2000], [1, 2000]].',
        )
        settings_input(spec, MD_TABLE, _from_settings('md_settings'))
        spec.inputs['metadata']['options']['parser_name'].default = 'flexo.mlip.md'
        spec.output('trajectory', valid_type=orm.TrajectoryData, required=False, help='Thinned trajectory.')
        spec.output('final_structure', valid_type=orm.StructureData, required=False)

    def command_arguments(self):
        schedule = ','.join(f'{float(t)}:{int(n)}' for t, n in self.inputs.schedule.get_list())
        arguments = [self.model_argument(), 'structure.xyz', '--out', 'md.traj', '--schedule', schedule]
        arguments += settings_arguments(self.inputs, MD_TABLE)
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


# -------------------------------------------------------------------------------------- teacher frames, eval


class ModelCalcJob(FlexoCalcJob):
    """A CalcJob whose first argument is a potential: a model file (copied under its own name) or a name."""

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.input(
            'model',
            valid_type=(orm.SinglefileData, orm.Str),
            validator=_validate_model,
            help='A trained potential (any kind flexo.mlip.train writes) or a pretrained potential name.',
        )

    def model_argument(self) -> str:
        model = self.inputs.model
        return model.value if isinstance(model, orm.Str) else model.filename

    def model_copy(self) -> list[tuple[str, str, str]]:
        model = self.inputs.model
        return [(model.uuid, model.filename, model.filename)] if isinstance(model, orm.SinglefileData) else []


class MlipSampleCalculation(ModelCalcJob):
    """Frames labelled by a teacher potential: MD and random strains/displacements (``aiida-flexo mlip sample``)."""

    SUBCOMMAND = ('mlip', 'sample')
    RETRIEVE = ('teacher_frames.xyz',)

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.input('structures', valid_type=FramesData, help='Periodic starting structures (labels unused).')
        settings_input(spec, SAMPLING_TABLE, _from_settings('sampling_settings'))
        spec.inputs['metadata']['options']['parser_name'].default = 'flexo.mlip.sample'
        spec.output('frames', valid_type=FramesData, help='Teacher-labelled frames (energy, forces, stress).')
        spec.output('summary', valid_type=orm.Dict, help='Frames per source, MD steps, wall time, settings.')
        _mlip_exit_codes(spec)

    def write_inputs(self, folder):
        self.write_text(folder, 'structures.xyz', frames_text(self.inputs.structures))
        return self.model_copy()

    def command_arguments(self):
        arguments = [self.model_argument(), '--structures', 'structures.xyz', '--out', 'teacher_frames.xyz']
        return arguments + settings_arguments(self.inputs, SAMPLING_TABLE)


class MlipSampleParser(_MlipParser):
    def parse_summary(self, summary):
        text = self._text('teacher_frames.xyz')
        if not text.strip():
            return self.exit_codes.ERROR_MISSING_FILE.format(filename='teacher_frames.xyz')
        teacher = self.node.inputs.model
        source = f'labelled by {teacher.value if isinstance(teacher, orm.Str) else teacher.uuid}'
        self.out('frames', FramesData.from_frames(read_extxyz_text(text), source=source))
        self.out('summary', orm.Dict(summary))
        return ExitCode(0)


class MlipEvalCalculation(ModelCalcJob):
    """Errors of a potential on labelled frames (``aiida-flexo mlip eval``): held-out DFT checks, verification."""

    SUBCOMMAND = ('mlip', 'eval')

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.input('frames', valid_type=FramesData, help='Labelled frames (energy, forces; stress optional).')
        spec.input(
            'indices',
            valid_type=orm.List,
            required=False,
            help='Evaluate only these frames (0-based), e.g. the test split of a training.',
        )
        spec.inputs['metadata']['options']['parser_name'].default = 'flexo.mlip.eval'
        spec.output(
            'metrics', valid_type=orm.Dict, help='Force/energy/stress MAE and RMSE (and committee spread).'
        )
        _mlip_exit_codes(spec)

    def write_inputs(self, folder):
        frames = self.inputs.frames
        if 'indices' in self.inputs:
            import tempfile
            from pathlib import Path

            from aiida_flexo.data import write_frames

            chosen = [frames.get_frames()[i] for i in self.inputs.indices.get_list()]
            with tempfile.TemporaryDirectory() as tmp:
                text = write_frames(Path(tmp) / 'frames.xyz', chosen).read_text()
        else:
            text = frames_text(frames)
        self.write_text(folder, 'frames.xyz', text)
        return self.model_copy()

    def command_arguments(self):
        return [self.model_argument(), 'frames.xyz']


class MlipEvalParser(_MlipParser):
    def parse_summary(self, summary):
        self.out('metrics', orm.Dict(summary))
        return ExitCode(0)
