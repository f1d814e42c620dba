"""Dipole GNN on the bundled PbTiO3/SrTiO3 GPAW frames: folded labels versus labels on their Born-charge branch.

Trains the GNN twice on the same frames and split (both bundled sets, 67 frames, 0.8/0.1/0.1): once with the folded
(minimum-image) dipole loss, once with ``label_branches='perovskite-born'`` (each label moved to the branch closest
to its literature Born-charge dipole, then fitted without folding). Prints train/val/test dipole MAE (e·Å) of both,
and the Born charges the fixed-branch model predicts for cubic PbTiO3 and SrTiO3 next to the literature values of
Zhong, King-Smith and Vanderbilt (PRL 72, 3618 (1994)), which the model never saw (it learns dipoles only).

Usage::

    python benchmarks/pto_sto_gnn.py --out bench_pto_sto [--epochs 600] [--lr 1e-3] [--threads 2]

Measured: see the closing note of issue 9 and README (Benchmarks).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument('--out', type=Path, default=Path('bench_pto_sto'), help='Output folder.')
    parser.add_argument('--epochs', type=int, default=600)
    parser.add_argument('--patience', type=int, default=150)
    parser.add_argument('--lr', type=float, default=1e-3)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--threads', type=int, default=2)
    args = parser.parse_args()

    from aiida_flexo.data import read_frames
    from aiida_flexo.gnn import TrainConfig, load_model, train
    from aiida_flexo.polarization.perovskite import LITERATURE_BORN_CHARGES
    from aiida_flexo.resources import pto_sto_frame_paths
    from aiida_flexo.textures.superlattice import build_superlattice

    frames = []
    for path in pto_sto_frame_paths():
        frames += read_frames(path, require=('dipole',))
    report: dict = {'n_frames': len(frames)}
    print(f'{len(frames)} frames (both bundled PbTiO3/SrTiO3 sets)')
    print(f'{"labels":<16} {"train MAE":>10} {"val MAE":>10} {"test MAE":>10}  e·Å   (epochs, s)')
    for branches in ('folded', 'perovskite-born'):
        config = TrainConfig(
            epochs=args.epochs,
            patience=args.patience,
            lr=args.lr,
            seed=args.seed,
            threads=args.threads,
            label_branches=branches,
        )
        result = train(
            frames, args.out / branches, train_config=config, progress=False, source='PbTiO3/SrTiO3'
        )
        m = result.metrics
        report[branches] = {k: v for k, v in m.items() if isinstance(v, (int, float, str))}
        print(
            f'{branches:<16} {m["train_dipole_mae_eA"]:>10.3f} {m["val_dipole_mae_eA"]:>10.3f} '
            f'{m["test_dipole_mae_eA"]:>10.3f}        ({m["epochs_run"]}, {m["train_wall_time_s"]:.0f})'
        )
    predictor = load_model(args.out / 'perovskite-born' / 'model.pt', device='cpu')
    print('\nBorn charges of the fixed-branch model (learned from dipoles only) vs literature, e (diagonal)')
    report['born_charges'] = {}
    for material, other in (('PbTiO3', 'SrTiO3'), ('SrTiO3', 'PbTiO3')):
        cubic = build_superlattice(
            1, 0, 1, (material, other), a_inplane=3.905, c_out_of_plane={material: 3.905}
        )
        z = predictor.born_charges(cubic.atoms)
        lit = LITERATURE_BORN_CHARGES[material]
        rows = {
            'A': (z[0, 0, 0], lit['A']),
            'B': (z[1, 0, 0], lit['B']),
            'O_par': (z[2, 0, 0], lit['O_par']),  # O_x: bonded to B along x
            'O_perp': (z[2, 1, 1], lit['O_perp']),
        }
        report['born_charges'][material] = {k: [float(a), float(b)] for k, (a, b) in rows.items()}
        line = '  '.join(f'{k} {a:+.2f} ({b:+.2f})' for k, (a, b) in rows.items())
        print(f'  cubic {material} (a = 3.905 Å): {line}   ASR residual {np.trace(z.sum(0)) / 3:+.3f}')
    (args.out / 'report.json').write_text(json.dumps(report, indent=2))
    print(f'\nreport: {args.out / "report.json"}')


if __name__ == '__main__':
    main()
