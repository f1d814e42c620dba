"""μ∞ with its error bar: μ(N) over supercell lengths, the large-N fit, and a seed spread of dipole GNNs.

Runs the user's commands (``aiida-flexo gnn train``, ``aiida-flexo mlip train``, ``aiida-flexo flexo
convergence``) in sequence:

1. K dipole GNNs on the same frames with different seeds (split and weights), ``--gnn-seeds K``;
2. the potential: SevenNet-0 fine-tuned for ``--finetune`` on the frames (or ``--mlip MODEL``);
3. ``flexo convergence`` with the first GNN relaxing nothing (the potential relaxes, once per N) and the other GNNs
   as ``--committee-dipole``: μ(N) of each on the same relaxed supercells; μ∞ = the large-N limit of their mean
   (μ∞ + a/N² or a/N, whichever fits), the error bar = fit ⊕ extrapolation ⊕ the seeds' spread of μ∞.

Presets (``--material``):

* ``BaTiO3``: the bundled Quantum ESPRESSO frames (BaTiO3_qe_berry_bec.xyz), μ3333 of the mean tetragonal cell of
  the frames (``builtin:BaTiO3-qe``), Ba fixed, 0.5 % maximum strain (the seed's setup);
* ``Si``: frames from ``benchmarks/si_pipeline.py`` (``--frames``, ``--mlip``), μ3113 and μ3333 of the cubic
  8-atom cell, one sublattice fixed, cosine field, 0.05 % maximum strain (the seed's setup), 3 cells across.

Usage (2 cores)::

    python benchmarks/mu_limit.py --material BaTiO3 --out bench_mu_bto                  # ~1 h
    python benchmarks/mu_limit.py --material Si --frames bench_si/si_frames.xyz --mlip bench_si/mlip.pt \\
        --out bench_mu_si

Prints μ(N) per seed, μ∞ ± error with its parts, and the wall time of each step; OUT/summary.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import time
from pathlib import Path

import numpy as np

PRESETS = {
    'BaTiO3': {
        'bulk': 'builtin:BaTiO3-qe',
        'components': ['3333'],
        'flexo': ['--fix', 'Ba'],
        'max_strain': '0.005',
        'repeats': '8,14,20,28',
        'gnn': ['--bec-weight', '1'],
    },
    'Si': {
        'bulk': 'builtin:Si-conventional',
        'components': ['3113', '3333'],
        'flexo': ['--fix', 'sublattice:0', '--shape', 'cosine'],
        'per_component': {'3113': ['--transverse-repeat', '3']},  # 3 cells across the bending-like field
        'max_strain': '0.0005',
        'repeats': '6,10,14,20',
        # Si's dipoles (~3 meÅ) sit on a plateau for the first ~50 epochs: no early stop before 200
        'gnn': ['--patience', '200'],
    },
}


def run(command: list[str], log: Path) -> float:
    """Run one CLI command (its output to ``log``); its wall time in s. Raises on a non-zero exit."""
    print('$ ' + ' '.join(command), flush=True)
    tick = time.perf_counter()
    with log.open('w') as handle:
        status = subprocess.run(command, stdout=handle, stderr=subprocess.STDOUT, check=False).returncode
    if status != 0:
        raise SystemExit(f'exit {status}: see {log}\n' + log.read_text()[-3000:])
    return time.perf_counter() - tick


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument('--material', choices=sorted(PRESETS), required=True)
    parser.add_argument('--out', type=Path, required=True)
    parser.add_argument(
        '--frames', default=None, help='Labelled frames (default: the bundled set of BaTiO3).'
    )
    parser.add_argument(
        '--mlip', default=None, help='A potential (default: fine-tune SevenNet-0 on the frames).'
    )
    parser.add_argument('--finetune', default='10m', help='Fine-tuning time of SevenNet-0.')
    parser.add_argument('--gnn-seeds', type=int, default=3)
    parser.add_argument('--gnn-epochs', type=int, default=300)
    parser.add_argument('--repeats', default=None, help='N values (default: the preset).')
    parser.add_argument('--components', default=None, help='Components (default: the preset).')
    parser.add_argument('--fmax', type=float, default=0.005)
    args = parser.parse_args()
    preset = PRESETS[args.material]
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    frames = args.frames
    if frames is None:
        from aiida_flexo.resources import bundled_path

        frames = str(bundled_path('BaTiO3_qe_berry_bec.xyz'))
    summary: dict = {'material': args.material, 'frames': frames, 'wall_s': {}, 'gnn': [], 'components': {}}
    models = []
    for seed in range(args.gnn_seeds):
        folder = out / f'gnn_seed{seed}'
        if not (folder / 'model.pt').exists():
            summary['wall_s'][f'gnn_seed{seed}'] = run(
                ['aiida-flexo', 'gnn', 'train', frames, '--out', str(folder), '--epochs', str(args.gnn_epochs),
                 '--seed', str(seed), '--threads', '2', '--quiet', '--overwrite', *preset['gnn']],
                out / f'gnn_seed{seed}.log',
            )  # fmt: skip
        metrics = json.loads((folder / 'metrics.json').read_text())
        summary['gnn'].append(
            {
                k: metrics.get(k)
                for k in ('val_dipole_mae_eA', 'test_dipole_mae_eA', 'epochs_run', 'best_epoch')
            }
            | {'seed': seed}
        )
        models.append(str(folder / 'model.pt'))
    # a seed whose validation error is not below half the labels' mean deviation learned nothing (Si's meÅ
    # dipoles can stall on the initial plateau until the learning rate has decayed): it is reported, not used
    from aiida_flexo.data import read_frames

    labels = np.array([a.info['dipole'] for a in read_frames(frames, require=('dipole',))])
    scale = float(np.abs(labels - labels.mean(axis=0)).mean())
    summary['label_mean_deviation_eA'] = scale
    kept = [
        (row['val_dipole_mae_eA'], m)
        for row, m in zip(summary['gnn'], models)
        if row['val_dipole_mae_eA'] < 0.5 * scale
    ]
    for row in summary['gnn']:
        row['used'] = row['val_dipole_mae_eA'] < 0.5 * scale
        print(
            f'GNN seed {row["seed"]}: val {row["val_dipole_mae_eA"]:.2e}, test {row["test_dipole_mae_eA"]:.2e} e·Å '
            f"(labels' mean deviation {scale:.2e}): {'used' if row['used'] else 'NOT used (learned nothing)'}"
        )
    if not kept:
        raise SystemExit("no GNN seed learned the dipoles (validation MAE above half the labels' deviation)")
    models = [m for _, m in sorted(kept)]  # the best seed relaxes nothing: it is the main dipole model
    mlip = args.mlip
    if mlip is None:
        folder = out / 'sevennet_finetuned'
        if not (folder / 'model.sevenn.pth').exists():
            summary['wall_s']['finetune'] = run(
                ['aiida-flexo', 'mlip', 'train', frames, '--from', 'sevennet-0', '--out', str(folder),
                 '--max-time', args.finetune, '--seed', '0'],
                out / 'finetune.log',
            )  # fmt: skip
        mlip = str(folder / 'model.sevenn.pth')
        summary['mlip_metrics'] = json.loads((folder / 'metrics.json').read_text())
    summary['mlip'] = mlip
    components = args.components.split(',') if args.components else preset['components']
    for component in components:
        folder = out / f'convergence_{component}'
        repeats = args.repeats or preset['repeats']
        first = repeats.split(',')[0]
        committee = [item for model in models[1:] for item in ('--committee-dipole', model)]
        summary['wall_s'][f'convergence_{component}'] = run(
            ['aiida-flexo', 'flexo', 'convergence', '--bulk', preset['bulk'], '--component', component,
             *preset['flexo'], *preset.get('per_component', {}).get(component, []), '--mlip', mlip, '--dipole', models[0], *committee, '--fmax', str(args.fmax),
             '--max-steps', '5000', '--repeats', repeats, '--max-strain', preset['max_strain'], '--repeat', first,
             '--strains', preset['max_strain'], '--out', str(folder)],
            out / f'convergence_{component}.log',
        )  # fmt: skip
        data = json.loads((folder / 'convergence.json').read_text())
        summary['components'][component] = {'limit': data['limit'], 'committee': data['committee']}
        limit = data['limit']
        print(f'μ{component} ({args.material}), fit, nC/m:')
        for name, row in zip(data['committee']['models'], data['committee']['mu_fit_nC_per_m']):
            print('  ' + '  '.join(f'N={n}: {m:+.4f}' for n, m in zip(limit['repeats'], row)) + f'  ({name})')
        parts = limit['error_parts_nC_per_m']
        print(
            f'  μ∞ = {limit["mu_inf_nC_per_m"]:+.4f} ± {limit["error_nC_per_m"]:.4f} nC/m ({limit["form"]}, '
            f'{limit["chosen_by"]}; fit {parts["fit_stderr"]:.4f}, extrapolation {parts["extrapolation"]:.4f}, '
            f'seeds {parts["spread"]:.4f}); N = {max(limit["repeats"])} is '
            f'{100 * limit["distance_from_limit"]:.1f} % from it',
            flush=True,
        )
    (out / 'summary.json').write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary['wall_s'], indent=2))


if __name__ == '__main__':
    main()
