"""The dipole GNN: equivariant per-atom dipoles trained on folded Berry-phase dipoles and Born charges.

Plain torch (no AiiDA). Main entry points:

* :class:`GNNConfig`, :class:`DipoleGNN` — hyperparameters and network (:mod:`.model` explains the architecture);
* :func:`build_graph`, :func:`batch_graphs` — periodic graphs with vesin neighbour lists and triplets;
* :func:`train` with :class:`TrainConfig` — reproducible, resumable training;
* :func:`load_model` → :class:`DipolePredictor` — inference (per-atom, per-cell, Born charges), large cells chunked;
* :func:`save_model` — the one-file model format.
"""

from aiida_flexo.gnn.config import GNNConfig
from aiida_flexo.gnn.evaluate import evaluate_frames
from aiida_flexo.gnn.graph import Graph, batch_graphs, build_graph, neighbour_list, triplets
from aiida_flexo.gnn.io import ModelFileError, read_model_file, save_model
from aiida_flexo.gnn.io import load_model as load_model
from aiida_flexo.gnn.losses import fold_residuals, folded_dipole_loss
from aiida_flexo.gnn.model import DipoleGNN, cell_dipoles, dipoles_and_born_charges, init_parameters
from aiida_flexo.gnn.predict import DipolePredictor
from aiida_flexo.gnn.train import TrainConfig, TrainResult, evaluate_samples, make_samples, train

__all__ = [
    'DipoleGNN',
    'DipolePredictor',
    'GNNConfig',
    'Graph',
    'ModelFileError',
    'TrainConfig',
    'TrainResult',
    'batch_graphs',
    'build_graph',
    'cell_dipoles',
    'dipoles_and_born_charges',
    'evaluate_frames',
    'evaluate_samples',
    'fold_residuals',
    'folded_dipole_loss',
    'init_parameters',
    'load_model',
    'make_samples',
    'neighbour_list',
    'read_model_file',
    'save_model',
    'train',
    'triplets',
]
