"""Parity plots of predicted against DFT dipoles (and Born charges) with matplotlib's Agg backend."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def parity_plot(path: str | Path, evaluation: dict, title: str = 'dipole GNN') -> Path:
    """Write a parity plot from :func:`aiida_flexo.gnn.training.evaluate_samples` output.

    Dipole labels are drawn on the branch closest to the prediction (folded residuals), in e·Å; Born charges
    (when present) in e, all tensor components.
    """
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    path = Path(path)
    panels = [('dipole', 'e·Å', evaluation['_parity_dipole'], evaluation.get('dipole_mae_eA'))]
    if '_parity_bec' in evaluation:
        panels.append(('Born charge Z*', 'e', evaluation['_parity_bec'], evaluation.get('bec_mae_e')))
    fig, axes = plt.subplots(1, len(panels), figsize=(4.6 * len(panels), 4.4), squeeze=False)
    for ax, (name, unit, (predicted, reference), mae) in zip(axes[0], panels):
        predicted = np.asarray(predicted).reshape(len(predicted), -1)
        reference = np.asarray(reference).reshape(len(reference), -1)
        if name == 'dipole':
            for k, label in enumerate('xyz'):
                ax.scatter(reference[:, k], predicted[:, k], s=12, alpha=0.8, label=label)
            ax.legend(title='component', fontsize=8)
        else:
            ax.scatter(reference.reshape(-1), predicted.reshape(-1), s=3, alpha=0.4)
        low = float(min(reference.min(), predicted.min()))
        high = float(max(reference.max(), predicted.max()))
        ax.plot([low, high], [low, high], color='k', lw=0.8)
        ax.set_xlabel(f'DFT {name} ({unit})')
        ax.set_ylabel(f'GNN {name} ({unit})')
        ax.set_title(f'{name}: MAE {mae:.4f} {unit}' if mae is not None else name, fontsize=10)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
