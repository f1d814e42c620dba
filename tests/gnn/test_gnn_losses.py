"""The folded dipole loss is blind to quanta of the labels (any cell shape, charge quantum 1 or 2)."""

from __future__ import annotations

import numpy as np
import torch

from aiida_flexo.gnn import fold_residuals, folded_dipole_loss
from aiida_flexo.gnn.losses import born_charge_loss, error_metrics
from aiida_flexo.polarization import minimum_image


def test_folded_loss_is_invariant_to_quanta_added_to_labels():
    rng = np.random.default_rng(0)
    cells = np.stack(
        [
            np.diag([4.0, 4.0, 4.2]),
            np.array([[5.0, 0.0, 0.0], [4.3, 1.2, 0.0], [0.4, 0.7, 3.1]]),  # strongly skewed triclinic cell
            np.array([[3.0, 0.2, -0.1], [-1.4, 2.8, 0.3], [1.1, 1.3, 6.0]]),
        ]
    )
    quanta = np.array([1.0, 1.0, 2.0])
    predicted = torch.tensor(rng.normal(scale=0.3, size=(3, 3)), requires_grad=True)
    labels = torch.tensor(rng.normal(scale=0.3, size=(3, 3)))
    reference = folded_dipole_loss(predicted, labels, cells, quanta)
    for _ in range(5):
        n = rng.integers(-4, 5, size=(3, 3)).astype(float)
        shifted = labels + torch.as_tensor(quanta[:, None] * np.einsum('bi,bij->bj', n, cells))
        torch.testing.assert_close(
            folded_dipole_loss(predicted, shifted, cells, quanta), reference, rtol=0, atol=1e-12
        )
    # the residual is the minimum image of aiida_flexo.polarization, and the gradient is that of a plain MSE
    residual = fold_residuals(predicted - labels, cells, quanta)
    expected = [
        minimum_image(r, c, q) for r, c, q in zip((predicted - labels).detach().numpy(), cells, quanta)
    ]
    np.testing.assert_allclose(residual.detach().numpy(), expected, atol=1e-12)
    reference.backward()
    np.testing.assert_allclose(predicted.grad.numpy(), 2 * residual.detach().numpy() / 9, atol=1e-12)


def test_large_residuals_fold_onto_the_nearest_image_in_a_triclinic_cell():
    cell = np.array([[5.0, 0.0, 0.0], [4.3, 1.2, 0.0], [0.4, 0.7, 3.1]])
    # a residual just off a lattice vector that plain rounding of fractional coordinates gets wrong
    lattice_vector = np.array([1, -1, 0]) @ cell
    residual = torch.as_tensor((lattice_vector + np.array([0.05, -0.02, 0.01]))[None])
    folded = fold_residuals(residual, cell[None], [1.0]).numpy()
    np.testing.assert_allclose(folded[0], [0.05, -0.02, 0.01], atol=1e-12)


def test_born_charge_loss_and_metrics():
    predicted = torch.zeros(2, 3, 3)
    label = torch.full((2, 3, 3), 0.5)
    assert float(born_charge_loss(predicted, label)) == 0.25
    metrics = error_metrics(np.array([0.1, -0.3, 0.2]), 'dipole', 'eA')
    assert metrics.keys() == {'dipole_mae_eA', 'dipole_rmse_eA', 'dipole_max_eA'}
    np.testing.assert_allclose(
        [metrics['dipole_mae_eA'], metrics['dipole_rmse_eA'], metrics['dipole_max_eA']],
        [0.2, np.sqrt((0.01 + 0.09 + 0.04) / 3), 0.3],
        rtol=1e-14,
    )
