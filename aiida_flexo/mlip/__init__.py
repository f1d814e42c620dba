"""Allegro interatomic potential (nequip 0.19 + nequip-allegro 0.8): config, training, ase calculator, relaxation, MD.

Importing this package does not import torch or nequip; they load when a model is trained or loaded.

* :mod:`~aiida_flexo.mlip.config`: labelled frames -> split data files + nequip-train config (hydra YAML)
* :mod:`~aiida_flexo.mlip.train`: ``nequip-train`` -> packaged model, metrics.json, learning_curve.csv
* :mod:`~aiida_flexo.mlip.calculator`: :func:`load_calculator` (eager by default)
* :mod:`~aiida_flexo.mlip.metrics`: force/energy/stress errors against labelled frames
* :mod:`~aiida_flexo.mlip.relax`: :func:`relax` with fixed atoms, cell relaxation, trajectory
* :mod:`~aiida_flexo.mlip.md`: MD with temperature schedules, restart from a trajectory
"""

from aiida_flexo.mlip.calculator import MissingSpeciesError, ModelError, load_calculator, predict
from aiida_flexo.mlip.config import MODEL_SIZES, TrainingSettings, build_config, prepare_training
from aiida_flexo.mlip.md import MDExplosionError, MDResult, Stage, continue_md, parse_schedule, run_md
from aiida_flexo.mlip.metrics import error_metrics
from aiida_flexo.mlip.relax import RelaxationError, RelaxResult, parse_fix, read_structure, relax
from aiida_flexo.mlip.train import TrainingError, TrainResult, train

__all__ = [
    'MODEL_SIZES',
    'MDExplosionError',
    'MDResult',
    'MissingSpeciesError',
    'ModelError',
    'RelaxResult',
    'RelaxationError',
    'Stage',
    'TrainResult',
    'TrainingError',
    'TrainingSettings',
    'build_config',
    'continue_md',
    'error_metrics',
    'load_calculator',
    'parse_fix',
    'parse_schedule',
    'predict',
    'prepare_training',
    'read_structure',
    'relax',
    'run_md',
    'train',
]
