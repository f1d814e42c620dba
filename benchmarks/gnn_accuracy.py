"""Accuracy of the dipole GNN on the bundled BaTiO3 frames (59 × 135 atoms, QE Berry-phase dipoles and DFPT
Born charges) with the default split 0.8/0.1/0.1 and the default hyperparameters.

Targets (issue 4): dipole MAE ≤ 0.05 e·Å per 135-atom cell, Born-charge MAE ≤ 0.1 e; the training wall time is
reported as measured (the cores may be shared: say so when quoting it).

    python benchmarks/gnn_accuracy.py --out /tmp/gnn_accuracy [--epochs 600] [--max-time 3600] [--threads 1]

Prints a table and writes OUT/benchmark.json (plus the training outputs model.pt, metrics.json, parity.png, ...).
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch

from aiida_flexo.data import read_frames
from aiida_flexo.gnn import GNNConfig, TrainConfig, train
from aiida_flexo.resources import bundled_path

TARGETS = {'dipole_mae_eA': 0.05, 'bec_mae_e': 0.1}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument('--out', type=Path, default=Path('gnn_accuracy'))
    parser.add_argument(
        '--data', type=Path, default=None, help='extxyz frames (default: the bundled BaTiO3 set)'
    )
    parser.add_argument('--epochs', type=int, default=TrainConfig().epochs)
    parser.add_argument('--max-time', type=float, default=None, help='stop training after this many seconds')
    parser.add_argument('--threads', type=int, default=1)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--resume', action='store_true')
    parser.add_argument('--quiet', action='store_true')
    args = parser.parse_args()

    data = args.data or bundled_path('BaTiO3_qe_berry_bec.xyz')
    frames = read_frames(data, require=('dipole',))
    started = time.perf_counter()
    result = train(
        frames,
        args.out,
        GNNConfig(),
        TrainConfig(
            epochs=args.epochs,
            max_time=args.max_time,
            threads=args.threads,
            seed=args.seed,
            device=args.device,
        ),
        resume=args.resume,
        progress=not args.quiet,
        source=str(data),
    )
    total = time.perf_counter() - started
    m = result.metrics
    rows = []
    for subset in ('train', 'val', 'test'):
        rows.append(
            {
                'subset': subset,
                'n_frames': m.get(f'{subset}_n_frames', 0),
                'dipole_mae_eA': m.get(f'{subset}_dipole_mae_eA'),
                'dipole_rmse_eA': m.get(f'{subset}_dipole_rmse_eA'),
                'bec_mae_e': m.get(f'{subset}_bec_mae_e'),
                'bec_rmse_e': m.get(f'{subset}_bec_rmse_e'),
            }
        )
    report = {
        'data': str(data),
        'n_frames': len(frames),
        'split': result.split.as_dict(),
        'rows': rows,
        'targets': TARGETS,
        'test_meets_targets': {
            key: (m.get(f'test_{key}') is not None and m[f'test_{key}'] <= value)
            for key, value in TARGETS.items()
        },
        'bond_model_only': {
            'dipole_rmse_eA': m.get('bond_model_dipole_rmse_eA'),
            'bec_rmse_e': m.get('bond_model_bec_rmse_e'),
        },
        'dipole_offset_fractional': m.get('dipole_offset_fractional'),
        'epochs_run': m['epochs_run'],
        'best_epoch': m['best_epoch'],
        'stop_reason': m['stop_reason'],
        'train_wall_time_s': m['train_wall_time_s'],
        'total_wall_time_s': total,
        'threads': args.threads,
        'torch': torch.__version__,
        'machine': f'{platform.machine()} {platform.processor() or ""}'.strip(),
        'model_config': m['model_config'],
        'train_config': m['train_config'],
    }
    (args.out / 'benchmark.json').write_text(json.dumps(report, indent=2))

    print(f'\ndipole GNN accuracy on {data} ({len(frames)} frames)')
    print(f'{"subset":<6} {"frames":>6} {"dipole MAE":>11} {"dipole RMSE":>12} {"Z* MAE":>8} {"Z* RMSE":>8}')
    for row in rows:
        fmt = lambda x: f'{x:.4f}' if x is not None else '-'  # noqa: E731
        print(
            f'{row["subset"]:<6} {row["n_frames"]:>6} {fmt(row["dipole_mae_eA"]):>11} {fmt(row["dipole_rmse_eA"]):>12}'
            f' {fmt(row["bec_mae_e"]):>8} {fmt(row["bec_rmse_e"]):>8}'
        )
    print('units: dipole e·Å (folded residuals), Z* e')
    print(
        f'targets (test): dipole MAE ≤ {TARGETS["dipole_mae_eA"]} e·Å, Z* MAE ≤ {TARGETS["bec_mae_e"]} e -> '
        f'{report["test_meets_targets"]}'
    )
    print(
        f'training: {m["epochs_run"]} epochs ({m["stop_reason"]}), best epoch {m["best_epoch"]}, '
        f'{m["train_wall_time_s"]:.0f} s wall, {args.threads} thread(s)'
    )
    print(f'written: {args.out / "benchmark.json"}')


if __name__ == '__main__':
    main()
