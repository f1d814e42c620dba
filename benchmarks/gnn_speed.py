"""Inference speed and peak memory of the dipole GNN on BaTiO3 supercells of 10^3 … 10^6 atoms.

Each size runs in its own subprocess (clean peak resident memory, from ``getrusage``). The structure is the first
bundled BaTiO3 frame (135 atoms, thermally distorted) repeated k×k×k. Reported per size: the neighbour-list
time, the forward time (per-atom dipoles, chunked, ``torch.inference_mode``), atoms/s for neighbour list +
forward, the neighbour-list share, the forward+Born-charges time (autograd, halo chunks) where asked, and the
peak memory. Timings on shared cores are noisy: quote them with the load. ``atoms/cpu-s`` divides by the process
CPU time instead (all threads together), which the load on other processes hardly changes.

    python benchmarks/gnn_speed.py --out /tmp/gnn_speed.json [--sizes 2,4,9,20] [--threads 2] [--bec-max 100000]
        [--model DIR/model.pt]

Targets (issue 4): ≥ 2×10^4 atoms/s forward on 2 cores; 10^6 atoms under 16 GB.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path


def run_one(args: argparse.Namespace) -> dict:
    """Benchmark one size (in this process)."""
    import resource

    import numpy as np
    import torch

    torch.set_num_threads(args.threads)
    from aiida_flexo.data import read_frames
    from aiida_flexo.gnn import DipoleGNN, DipolePredictor, GNNConfig, init_parameters, load_model
    from aiida_flexo.gnn.graph import neighbour_list
    from aiida_flexo.resources import bundled_path

    base = read_frames(bundled_path('BaTiO3_qe_berry_bec.xyz'), index='0')[0]
    atoms = base.repeat((args.size,) * 3)
    if args.model:
        predictor = load_model(args.model, chunk_size=args.chunk_size)
    else:
        model = DipoleGNN(GNNConfig(species=['Ba', 'Ti', 'O']))
        init_parameters(model, seed=0, zero_readout=False)
        predictor = DipolePredictor(
            model.eval(), chunk_size=args.chunk_size, bec_chunk_size=args.bec_chunk_size
        )
    predictor.bec_chunk_size = args.bec_chunk_size
    cutoff = predictor.cutoff
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if len(atoms) <= 20000:  # warm-up (allocator, lazy initialisation) on small sizes
        predictor.per_atom_dipoles(atoms)
    t0 = time.perf_counter()
    neighbour_list(atoms.positions, atoms.cell[:], cutoff)
    t_nl = time.perf_counter() - t0
    t0, c0 = time.perf_counter(), time.process_time()
    graph = predictor.graph(atoms)
    t_graph, c_graph = time.perf_counter() - t0, time.process_time() - c0
    n_edges = graph.n_edges
    t0, c0 = time.perf_counter(), time.process_time()
    with torch.inference_mode():
        p = predictor.model(graph, chunk_size=predictor.chunk_size)
    t_model, c_model = time.perf_counter() - t0, time.process_time() - c0
    del graph
    out = {
        'size': f'{args.size}x{args.size}x{args.size} of 135',
        'n_atoms': len(atoms),
        'n_edges_per_atom': n_edges / len(atoms),
        'threads': args.threads,
        'neighbour_list_s': t_nl,
        'graph_s': t_graph,
        'model_s': t_model,
        'forward_s': t_graph + t_model,
        'forward_atoms_per_s': len(atoms) / (t_graph + t_model),
        'neighbour_list_share': t_graph / (t_graph + t_model),
        'forward_cpu_s': c_graph + c_model,
        'forward_atoms_per_cpu_s': len(atoms) / (c_graph + c_model),
        'dipole_norm_eA': float(torch.linalg.vector_norm(p.sum(0))),
    }
    if len(atoms) <= args.bec_max:
        t0, c0 = time.perf_counter(), time.process_time()
        z = predictor.born_charges(atoms)
        out['forward_bec_s'] = time.perf_counter() - t0
        out['forward_bec_cpu_s'] = time.process_time() - c0
        out['forward_bec_atoms_per_s'] = len(atoms) / out['forward_bec_s']
        out['asr_residual_e'] = float(np.abs(z.sum(0)).max())
    out['peak_rss_GB'] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    out['rss_before_GB'] = rss_before / 1024**2
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        '--sizes', default='2,4,9,20', help='supercell repeats k of the 135-atom cell (k³·135 atoms)'
    )
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--chunk-size', type=int, default=4000)
    parser.add_argument('--bec-chunk-size', type=int, default=8000)
    parser.add_argument('--bec-max', type=int, default=120000, help='largest size with forward+Born charges')
    parser.add_argument(
        '--model', default=None, help='a trained model.pt (default: random weights, same cost)'
    )
    parser.add_argument('--out', type=Path, default=Path('gnn_speed.json'))
    parser.add_argument('--timeout', type=float, default=3600)
    parser.add_argument('--size', type=int, default=None, help=argparse.SUPPRESS)  # internal: one size
    args = parser.parse_args()

    if args.size is not None:
        print(json.dumps(run_one(args)))
        return

    results = []
    for size in (int(s) for s in args.sizes.split(',')):
        command = [
            sys.executable,
            __file__,
            '--size',
            str(size),
            '--threads',
            str(args.threads),
            '--chunk-size',
            str(args.chunk_size),
            '--bec-chunk-size',
            str(args.bec_chunk_size),
            '--bec-max',
            str(args.bec_max),
        ]
        if args.model:
            command += ['--model', args.model]
        started = time.perf_counter()
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=args.timeout, check=False)
        except subprocess.TimeoutExpired:
            results.append({'size': size, 'error': f'timeout after {args.timeout} s'})
            continue
        if done.returncode != 0:
            results.append({'size': size, 'error': done.stderr[-2000:]})
            print(f'size {size}: failed\n{done.stderr[-2000:]}', file=sys.stderr)
            continue
        row = json.loads(done.stdout.strip().splitlines()[-1])
        row['subprocess_wall_s'] = time.perf_counter() - started
        results.append(row)
        print(json.dumps(row), file=sys.stderr)

    load = os.getloadavg() if hasattr(os, 'getloadavg') else None
    report = {
        'results': results,
        'threads': args.threads,
        'cpu_count': os.cpu_count(),
        'load_average_at_end': load,
        'machine': f'{platform.machine()} {platform.processor() or ""}'.strip(),
        'targets': {'forward_atoms_per_s': 2e4, 'peak_GB_at_1e6_atoms': 16},
    }
    args.out.write_text(json.dumps(report, indent=2))
    header = (
        f'{"atoms":>9} {"NL s":>7} {"fwd s":>8} {"atoms/s":>9} {"atoms/cpu-s":>11} {"NL share":>8} {"fwd+Z* s":>9}'
        f' {"peak GB":>8}'
    )
    print(header)
    for r in results:
        if 'error' in r:
            print(f'{r["size"]:>9} error')
            continue
        bec = f'{r["forward_bec_s"]:.2f}' if 'forward_bec_s' in r else '-'
        print(
            f'{r["n_atoms"]:>9} {r["graph_s"]:>7.2f} {r["forward_s"]:>8.2f} {r["forward_atoms_per_s"]:>9.0f} '
            f'{r["forward_atoms_per_cpu_s"]:>11.0f} {r["neighbour_list_share"]:>8.2f} {bec:>9} {r["peak_rss_GB"]:>8.2f}'
        )
    print(f'threads {args.threads}, load average at end {load}; written {args.out}')


if __name__ == '__main__':
    main()
