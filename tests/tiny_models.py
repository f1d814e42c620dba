"""Tiny dipole-GNN models shared by the tests (importable: ``pythonpath = ["tests"]`` in pyproject.toml)."""

from __future__ import annotations

import torch

from aiida_flexo.gnn import DipoleGNN, GNNConfig, init_parameters

SPECIES = ['Ba', 'Ti', 'O']


def tiny_config(**kwargs) -> GNNConfig:
    """A small float64 model (fast; exactness tests)."""
    defaults = dict(
        species=SPECIES,
        cutoff=4.5,
        triplet_cutoff=3.2,
        n_radial=4,
        n_radial_triplet=3,
        n_angular=3,
        hidden=8,
        edge_channels=8,
        triplet_channels=4,
        n_blocks=2,
        neighbour_norm=20.0,
        output_scale=1.0,
        dtype='float64',
    )
    defaults.update(kwargs)
    return GNNConfig(**defaults)


def random_model(seed: int = 0, **kwargs) -> DipoleGNN:
    """A tiny float64 model with random weights everywhere (readout and bond coefficients included)."""
    model = DipoleGNN(tiny_config(**kwargs))
    init_parameters(model, seed=seed, zero_readout=False)
    generator = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        model.bond_coefficients.copy_(
            0.3 * torch.randn(model.bond_coefficients.shape, generator=generator, dtype=torch.float64)
        )
        for t in range(model.aggregate_mean.shape[0]):
            model.aggregate_mean[t].normal_(generator=generator)
    return model.eval()
