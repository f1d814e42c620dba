"""BaTiO3 μ_3333 with a dipole GNN and an Allegro MLIP: the issue-7 run, its convergence, and the checks.

1. Bulk: the mean unit cell of the bundled QE frames (tetragonal, PBE: a = 3.966 Å, c = 4.304 Å, Ti and O displaced;
   ``--bulk dataset``), cubic BaTiO3 (``--bulk cubic``, a = 4.0 Å) or a file; ``--relax-bulk`` relaxes it (cell
   too) with the MLIP first.
2. μ_3333 from the seed's 1×1×14 cell, 0.5 % maximum strain, Ba fixed: GNN route, BEC route with the GNN's Z* at the
   reference, and BEC route with the DFT Z* of the bundled frames (averaged per basis site); the clamped and
   lattice-mediated parts of each.
3. μ against N (``--repeats``) and against the maximum strain (``--strains``).
4. Single-atom sensitivity (3×3×3 cubic BaTiO3) and the phase report.

Writes OUT/benchmark.json, OUT/coefficient/ (result.json, profile.png, ...), OUT/convergence.png.

Usage::

    python benchmarks/flexo_batio3.py --dipole GNN/model.pt --mlip MLIP/model.nequip.zip --out bench_flexo
    python benchmarks/flexo_batio3.py --dipole GNN/model.pt --out bench_flexo_unrelaxed     # no MLIP: imposed field

Seed (PRB 111, 184105 (2025)): μ_3333 = −0.758 nC/m (GNN), about −0.36 nC/m from Born charges. Timings on shared
CPUs are noisy.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

SEED_MU_3333 = -0.758
SEED_BEC_MU_3333 = -0.36


def _bulk(spec: str):
    from aiida_flexo.flexo.structures import batio3_qe_mean_cell, cubic_perovskite

    if spec == 'dataset':
        return batio3_qe_mean_cell()
    if spec == 'cubic':
        return cubic_perovskite()
    from ase.io import read

    return read(spec)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument('--dipole', required=True, help='dipole GNN model file (aiida_flexo.gnn.load_model)')
    parser.add_argument('--mlip', default=None, help='MLIP model file (aiida_flexo.mlip.load_calculator)')
    parser.add_argument('--bulk', default='dataset', help="'dataset', 'cubic' or a structure file")
    parser.add_argument(
        '--relax-bulk', action='store_true', help='relax the bulk cell (and its cell) with the MLIP'
    )
    parser.add_argument('--repeat', type=int, default=14)
    parser.add_argument('--max-strain', type=float, default=0.005)
    parser.add_argument('--repeats', default='8,10,14,20')
    parser.add_argument('--strains', default='0.0025,0.005,0.01')
    parser.add_argument('--fmax', type=float, default=0.005)
    parser.add_argument('--max-steps', type=int, default=1000)
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--skip-checks', action='store_true', help='skip sensitivity and phase report')
    parser.add_argument('--out', required=True)
    args = parser.parse_args()

    import torch

    from aiida_flexo.flexo.born import read_born_charges_file, supercell_born_charges
    from aiida_flexo.flexo.convergence import mu_vs_repeat, mu_vs_strain
    from aiida_flexo.flexo.extract import extract_from_dipoles
    from aiida_flexo.flexo.plots import plot_convergence
    from aiida_flexo.flexo.run import bec_per_atom_dipoles, coefficient_runner, compute_coefficient, summary
    from aiida_flexo.flexo.sensitivity import phase_report, single_atom_sensitivity
    from aiida_flexo.gnn import load_model
    from aiida_flexo.resources import bundled_path

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    report: dict = {
        'threads': torch.get_num_threads(),
        'seed': {'mu_3333': SEED_MU_3333, 'bec': SEED_BEC_MU_3333},
    }
    start = time.perf_counter()
    model = load_model(args.dipole, device=args.device)
    calculator = None
    if args.mlip:
        from aiida_flexo.mlip import load_calculator

        calculator = load_calculator(args.mlip, device=args.device)
    bulk = _bulk(args.bulk)
    if args.relax_bulk:
        if calculator is None:
            parser.error('--relax-bulk needs --mlip')
        from aiida_flexo.mlip import relax

        relaxed_bulk = relax(bulk, calculator, fmax=1e-3, relax_cell=True, max_steps=2000)
        bulk = relaxed_bulk.atoms.copy()
        bulk.calc = None
        report['bulk_relaxation'] = {'converged': relaxed_bulk.converged, 'energy_eV': relaxed_bulk.energy}
    report['bulk'] = {
        'cellpar': bulk.cell.cellpar().tolist(),
        'scaled_positions': bulk.get_scaled_positions().tolist(),
    }
    report['load_s'] = time.perf_counter() - start

    options = {'calculator': calculator, 'relax_options': {'fmax': args.fmax, 'max_steps': args.max_steps}}
    result = compute_coefficient(
        bulk,
        '3333',
        args.repeat,
        args.max_strain,
        'Ba',
        model,
        bec='model',
        out_dir=out / 'coefficient',
        **options,
    )
    print(summary(result))
    data = result.to_dict()
    report['coefficient'] = {
        k: data[k]
        for k in ('mu_nC_per_m', 'residual', 'two_point', 'relaxation', 'timings_s', 'notes', 'supercell')
    }
    report['coefficient']['bec_gnn_z'] = data['bec']['mu_nC_per_m']
    report['coefficient']['decomposition'] = data.get('decomposition')
    # BEC route with the DFT Born charges of the bundled frames, on the same relaxed structure
    sc = result.supercell
    z_dft, _ = read_born_charges_file(bundled_path('BaTiO3_qe_berry_bec.xyz'), unit=sc.unit)
    charges = supercell_born_charges(z_dft, sc)
    bec_dft = extract_from_dipoles(sc, bec_per_atom_dipoles(sc, result.relaxed, charges.born_charges))
    report['coefficient']['bec_dft_z'] = bec_dft.to_dict()['mu_nC_per_m']
    report['coefficient']['bec_dft_z_clamped'] = extract_from_dipoles(
        sc, bec_per_atom_dipoles(sc, sc.atoms, charges.born_charges)
    ).to_dict()['mu_nC_per_m']
    print(f'BEC route with DFT Z*: fit {report["coefficient"]["bec_dft_z"]["fit"]:.4f} nC/m')

    run = coefficient_runner(bulk, '3333', 'Ba', model, bec='model', decompose=False, **options)
    by_n = mu_vs_repeat(lambda n: run(n, args.max_strain), [int(v) for v in args.repeats.split(',')])
    by_strain = mu_vs_strain(lambda e: run(args.repeat, e), [float(v) for v in args.strains.split(',')])
    report['mu_vs_repeat'] = by_n.to_dict()
    report['mu_vs_strain'] = by_strain.to_dict()
    plot_convergence([by_n, by_strain], out / 'convergence.png')
    for table in (by_n, by_strain):
        for v, a, b, s, w in zip(
            table.values, table.mu_two_point, table.mu_fit, table.fit_stderr, table.wall_s
        ):
            print(f'{table.parameter} {v}: two-point {a:.4f}, fit {b:.4f} ± {s:.4f} nC/m ({w:.1f} s)')

    if not args.skip_checks:
        report['sensitivity'] = single_atom_sensitivity(model)
        report['phases'] = phase_report(model)
    report['total_s'] = time.perf_counter() - start
    (out / 'benchmark.json').write_text(json.dumps(report, indent=2, default=float))
    print(f'total {report["total_s"]:.1f} s; wrote {out / "benchmark.json"}')


if __name__ == '__main__':
    np.set_printoptions(precision=4, suppress=True)
    main()
