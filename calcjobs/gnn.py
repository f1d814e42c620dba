"""CalcJobs of the dipole GNN: ``flexo.gnn.train``, ``flexo.gnn.eval`` and ``flexo.gnn.predict`` (``aiida-flexo gnn ...``)."""

from __future__ import annotations

import json

import numpy as np
from aiida import orm
from aiida.engine import ExitCode

from aiida_flexo.calcjobs.base import FlexoCalcJob, FlexoParser, settings_arguments, settings_input
from aiida_flexo.calcjobs.mlip import frames_text
from aiida_flexo.calcjobs.utils import read_extxyz_text
from aiida_flexo.gnn.settings import gnn_train_settings
from aiida_flexo.nodes.frames import FramesData

MODEL_FILE = 'model.pt'
#: the parameters of flexo.gnn.train: every user setting of a GNN training, from its one definition
TRAIN_SETTINGS = gnn_train_settings


def _train_check(values: dict) -> None:
    """The GNN's configs accept the parsed values together (``ValueError`` otherwise)."""
    from aiida_flexo.gnn.config import GNNConfig, TrainConfig
    from aiida_flexo.settings import config_kwargs, split_fractions

    table = gnn_train_settings()
    GNNConfig(**config_kwargs(values, table, 'model'))
    TrainConfig(fractions=split_fractions(values), **config_kwargs(values, table, 'train'))


class GnnTrainCalculation(FlexoCalcJob):
    """Train the per-atom dipole GNN on a flexo.frames node (``aiida-flexo gnn train``)."""

    #: the job's own working folder is the output folder (it holds frames.xyz and the submit script: --overwrite)
    SUBCOMMAND = ('gnn', 'train', 'frames.xyz', '--out', '.', '--quiet', '--overwrite')
    RETRIEVE = (MODEL_FILE, 'metrics.json', 'parity.png', 'split.json', 'log.csv')
    #: continues from parent_folder/checkpoint.pt (flexo.gnn.train.base)
    RESUMABLE = True

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.input('frames', valid_type=FramesData, help='Labelled frames with dipoles (and Born charges).')
        settings_input(spec, TRAIN_SETTINGS, _train_check)
        spec.inputs['metadata']['options']['parser_name'].default = 'flexo.gnn.train'
        spec.output(
            'model', valid_type=orm.SinglefileData, help='The trained model (aiida_flexo.gnn.load_model).'
        )
        spec.output(
            'metrics', valid_type=orm.Dict, help='Dipole MAE/RMSE (e·Å) and Born-charge MAE (e) per subset.'
        )
        spec.output('parity', valid_type=orm.SinglefileData, required=False, help='Parity plot (PNG).')
        spec.output('split', valid_type=orm.Dict, required=False, help='Frame indices of train/val/test.')
        spec.output('log', valid_type=orm.SinglefileData, required=False, help='Per-epoch metrics (CSV).')

    def write_inputs(self, folder):
        self.write_text(folder, 'frames.xyz', frames_text(self.inputs.frames))
        return []

    def command_arguments(self):
        return settings_arguments(self.inputs, TRAIN_SETTINGS)


class GnnTrainParser(FlexoParser):
    def parse_summary(self, summary):
        if not self.out_file('model', MODEL_FILE):
            return self.exit_codes.ERROR_MISSING_FILE.format(filename=MODEL_FILE)
        self.out('metrics', orm.Dict(summary))
        self.out_file('parity', 'parity.png')
        self.out_file('log', 'log.csv')
        split = self._text('split.json')
        if split:
            self.out('split', orm.Dict(json.loads(split)))
        return ExitCode(0)


class GnnEvalCalculation(FlexoCalcJob):
    """Errors of a trained dipole GNN on labelled frames (``aiida-flexo gnn eval``): held-out and DFT checks.

    Output ``metrics``: folded dipole MAE/RMSE/max (e·Å) and, when every frame has them, Born-charge errors (e).
    """

    SUBCOMMAND = ('gnn', 'eval', MODEL_FILE, 'frames.xyz')

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.input('model', valid_type=orm.SinglefileData, help='A trained dipole GNN (flexo.gnn.train).')
        spec.input('frames', valid_type=FramesData, help='Frames with DFT dipoles (Born charges optional).')
        spec.inputs['metadata']['options']['parser_name'].default = 'flexo.gnn.eval'
        spec.output('metrics', valid_type=orm.Dict, help='dipole_mae_eA, dipole_rmse_eA, ..., bec_mae_e.')

    def write_inputs(self, folder):
        self.write_text(folder, 'frames.xyz', frames_text(self.inputs.frames))
        return [(self.inputs.model.uuid, self.inputs.model.filename, MODEL_FILE)]

    def command_arguments(self):
        return []


class GnnEvalParser(FlexoParser):
    def parse_summary(self, summary):
        self.out('metrics', orm.Dict(summary))
        return ExitCode(0)


class GnnPredictCalculation(FlexoCalcJob):
    """Per-atom dipoles (and optionally Born charges) of several structures (``aiida-flexo gnn predict``).

    ``structures`` is a namespace: every structure given under a key gets an ArrayData under the same key in the
    ``dipoles`` output namespace, with arrays ``per_atom_dipoles`` (n, 3) e·Å, ``dipole`` (3,) e·Å,
    ``polarization`` (3,) C/m² and, with ``born_charges=True``, ``born_charges`` (n, 3, 3) e.
    """

    SUBCOMMAND = ('gnn', 'predict', MODEL_FILE, 'structures.xyz', '--out', 'predictions.xyz')
    RETRIEVE = ('predictions.xyz',)

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.input('model', valid_type=orm.SinglefileData, help='A trained dipole GNN (flexo.gnn.train).')
        spec.input_namespace(
            'structures', valid_type=orm.StructureData, dynamic=True, help='Structures by key.'
        )
        spec.input(
            'born_charges', valid_type=orm.Bool, default=lambda: orm.Bool(False), help='Also Z* (autograd).'
        )
        spec.input(
            'chunk_size', valid_type=orm.Int, required=False, help='Centre atoms per chunk (large cells).'
        )
        spec.inputs['metadata']['options']['parser_name'].default = 'flexo.gnn.predict'
        spec.output_namespace('dipoles', valid_type=orm.ArrayData, dynamic=True, help='Predictions by key.')
        spec.exit_code(310, 'ERROR_NO_STRUCTURES', message='no structures were given')

    def _keys(self) -> list[str]:
        return sorted(self.inputs.structures)

    def write_inputs(self, folder):
        from aiida_flexo.calcjobs.utils import structure_to_extxyz

        keys = self._keys()
        if not keys:
            raise ValueError('flexo.gnn.predict needs at least one structure in `structures`')
        with folder.open('structures.xyz', 'w') as handle:
            for key in keys:
                handle.write(structure_to_extxyz(self.inputs.structures[key]))
        with folder.open('keys.json', 'w') as handle:
            handle.write(json.dumps(keys))
        return [(self.inputs.model.uuid, self.inputs.model.filename, MODEL_FILE)]

    def command_arguments(self):
        arguments = []
        if self.inputs.born_charges.value:
            arguments.append('--born-charges')
        if 'chunk_size' in self.inputs:
            arguments += ['--chunk-size', str(self.inputs.chunk_size.value)]
        return arguments


class GnnPredictParser(FlexoParser):
    def parse_summary(self, summary):
        text = self._text('predictions.xyz')
        if not text:
            return self.exit_codes.ERROR_MISSING_FILE.format(filename='predictions.xyz')
        frames = read_extxyz_text(text)
        keys = sorted(self.node.inputs.structures)
        for key, atoms in zip(keys, frames):
            arrays = orm.ArrayData()
            arrays.set_array('per_atom_dipoles', np.asarray(atoms.arrays['dipoles'], dtype=float))
            arrays.set_array('dipole', np.asarray(atoms.info['dipole'], dtype=float))
            arrays.set_array('polarization', np.asarray(atoms.info['polarization_C_m2'], dtype=float))
            if 'born_charges' in atoms.arrays:
                arrays.set_array('born_charges', np.asarray(atoms.arrays['born_charges'], dtype=float))
            arrays.base.attributes.set(
                'units', {'dipole': 'e·Å', 'polarization': 'C/m²', 'born_charges': 'e'}
            )
            self.out(f'dipoles.{key}', arrays)
        return ExitCode(0)
