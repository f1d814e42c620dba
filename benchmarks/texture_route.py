"""The polar-texture route on a (PbTiO3)m/(SrTiO3)n superlattice: anneal with Allegro, predict P with the GNN, analyse.

Two uses (issue 9):

1. Cost of the route at the seed's size (default 20×20×(8+4) = 24,000 atoms): builds the superlattice with a
   polar bubble seed, times ``--steps`` MD steps with the Allegro potential (eager, CPU), the GNN prediction of
   every per-atom dipole, the polarization field and its analysis, and reports the peak memory and the wall time
   of a whole anneal extrapolated from the measured step rate (``--anneal`` schedule, default the seed's
   1000 K → 1 K ramp in 10 stages of 500 steps).
2. A small real anneal (``--run-anneal``, e.g. ``--size 6``): runs the whole schedule, thins the trajectory, and
   reports the skyrmion number per layer, the domains and the walls of the time-averaged field of the last frames.

Each field is computed twice: with the dipole GNN and with the Born-charge baseline (literature Z* times the
displacement from the undistorted superlattice, :mod:`aiida_flexo.textures.born`); both analyses are reported.

The models must know Pb, Sr, Ti and O (``examples/submit_pto_sto.py`` trains both through ``flexo.pipeline`` on
GPAW labels of small PbTiO3/SrTiO3 cells).

Usage::

    python benchmarks/texture_route.py --mlip MODEL.nequip.zip --dipole model.pt              # 24,000 atoms
    python benchmarks/texture_route.py --mlip M --dipole D --size 6 --run-anneal \\
        --anneal 1000:300,600:300,300:300,1:300 --out anneal6

Measured: see the closing note of issue 9 and README (Benchmarks).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time
from pathlib import Path

import numpy as np


def peak_rss_gb() -> float:
    """Peak resident memory of this process so far, GB (Linux ru_maxrss is in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def structure_health(frames, superlattice) -> dict:
    """Temperature per stage (mean over the written frames, K) and the displacement (Å) of the last frame from
    the undistorted superlattice: a bad potential shows up as heating above the target and as atoms leaving their
    sites."""
    from aiida_flexo.textures.born import undistorted_superlattice
    from aiida_flexo.textures.health import displacement_summary

    moved = displacement_summary(frames[-1], undistorted_superlattice(superlattice).atoms)
    stages: dict[str, list[float]] = {}
    for atoms in frames:
        target = atoms.info.get('target_temperature_K')
        if target is not None:
            stages.setdefault(f'{float(target):.0f}', []).append(float(atoms.get_temperature()))
    return {
        'final_rms_displacement_A': moved['rms_displacement_A'],
        'final_max_displacement_A': moved['max_displacement_A'],
        'final_atoms_off_site': moved['atoms_off_site'],
        'temperature_by_target_K': {k: float(np.mean(v)) for k, v in stages.items()},
    }


def seed_anneal(stages: int = 10, steps: int = 500, t_hot: float = 1000.0, t_cold: float = 1.0) -> str:
    """The seed's anneal as a schedule string: ``stages`` linear steps from ``t_hot`` to ``t_cold`` (K)."""
    temperatures = np.linspace(t_hot, t_cold, stages)
    return ','.join(f'{t:.0f}:{steps}' for t in temperatures)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        '--mlip', required=True, help='Packaged Allegro model (.nequip.zip) knowing Pb, Sr, Ti, O.'
    )
    parser.add_argument('--dipole', required=True, help='Dipole GNN (model.pt) knowing Pb, Sr, Ti, O.')
    parser.add_argument('--size', type=int, default=20, help='In-plane cells N (N×N).')
    parser.add_argument('-m', type=int, default=8, help='PbTiO3 cells per period.')
    parser.add_argument('-n', type=int, default=4, help='SrTiO3 cells per period.')
    parser.add_argument('--materials', default='PbTiO3,SrTiO3', help='The two perovskites A,B.')
    parser.add_argument('--seed', default='bubble', choices=['none', 'uniform', 'stripes', 'bubble'])
    parser.add_argument('--steps', type=int, default=10, help='MD steps timed (cost mode).')
    parser.add_argument('--anneal', default=seed_anneal(), help='Schedule T:steps,... (K).')
    parser.add_argument('--run-anneal', action='store_true', help='Run the whole --anneal schedule.')
    parser.add_argument('--stride', type=int, default=50, help='Trajectory stride (steps).')
    parser.add_argument('--average-last', type=int, default=4, help='Frames averaged for the field.')
    parser.add_argument('--threads', type=int, default=os.cpu_count(), help='torch threads.')
    parser.add_argument('--out', type=Path, default=Path('texture_route'), help='Output folder.')
    parser.add_argument(
        '--thermostat',
        default='langevin',
        help='MD thermostat: langevin, epitaxial (in-plane clamped, NPT along z).',
    )
    parser.add_argument('--substrate', default='SrTiO3', help='Substrate fixing the in-plane lattice.')
    parser.add_argument('--timestep', type=float, default=1.0, help='MD time step, fs.')
    args = parser.parse_args()

    import torch
    from ase.io import read

    from aiida_flexo.gnn import load_model
    from aiida_flexo.mlip import load_calculator
    from aiida_flexo.mlip.md import parse_schedule, run_md
    from aiida_flexo.textures.analysis import analyse_texture
    from aiida_flexo.textures.born import born_charge_model
    from aiida_flexo.textures.field import field_from_model
    from aiida_flexo.textures.health import implausible_cells, off_site_warning
    from aiida_flexo.textures.plots import plot_cross_section, plot_layers
    from aiida_flexo.textures.superlattice import build_superlattice

    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    report: dict = {
        'materials': args.materials,
        'threads': args.threads,
        'size': args.size,
        'm': args.m,
        'n': args.n,
        'seed': args.seed,
    }

    t0 = time.perf_counter()
    superlattice = build_superlattice(
        args.m, args.n, args.size, tuple(args.materials.split(',')), seed=args.seed, substrate=args.substrate
    )
    report.update(thermostat=args.thermostat, substrate=args.substrate, timestep_fs=args.timestep)
    atoms = superlattice.atoms
    report['n_atoms'] = len(atoms)
    report['build_s'] = time.perf_counter() - t0
    print(f'superlattice {args.size}×{args.size}×({args.m}+{args.n}): {len(atoms)} atoms')

    calculator = load_calculator(args.mlip)
    predictor = load_model(args.dipole)
    stages = parse_schedule(args.anneal)
    total_steps = sum(stage.n_steps for stage in stages)
    report['anneal'] = args.anneal
    report['anneal_steps'] = total_steps

    trajectory = args.out / 'md.traj'
    if args.run_anneal:
        schedule, stride = args.anneal, args.stride
    else:
        schedule, stride = f'{stages[0].temperature_K}:{args.steps}', args.steps
    # one step first: model loading and graph set-up are not part of the step rate
    t0 = time.perf_counter()
    warm = run_md(atoms, calculator, f'{stages[0].temperature_K}:1', seed=0)
    report['md_first_step_s'] = time.perf_counter() - t0
    t0 = time.perf_counter()
    result = run_md(
        warm.atoms,
        calculator,
        schedule,
        trajectory=trajectory,
        stride=stride,
        seed=1,
        thermostat=args.thermostat,
        timestep_fs=args.timestep,
    )
    md_s = time.perf_counter() - t0
    n_steps = result.n_steps
    report['md_steps'] = n_steps
    report['md_s'] = md_s
    report['md_steps_per_s'] = n_steps / md_s
    report['md_atom_steps_per_s'] = n_steps * len(atoms) / md_s
    report['anneal_extrapolated_h'] = total_steps / report['md_steps_per_s'] / 3600
    report['final_temperature_K'] = float(result.atoms.get_temperature())
    report['peak_rss_after_md_GB'] = peak_rss_gb()
    print(f'MD: {n_steps} steps in {md_s:.1f} s ({report["md_steps_per_s"]:.3f} steps/s)')

    written = read(trajectory, index=':')
    report.update(structure_health(written, superlattice))
    if args.run_anneal:  # the check flexo.textures makes: each stage within 10 % of its target, atoms on site
        from aiida_flexo.textures.health import anneal_check

        check = anneal_check(
            np.array([a.get_temperature() for a in written[1:]]),
            np.array([a.info['target_temperature_K'] for a in written[1:]]),
            written[-1],
            atoms,
        )
        report['anneal_check'] = check
        print(
            'anneal check: '
            + ', '.join(f'{s["target_K"]:g} K → {s["mean_K"]:.1f} K' for s in check['stages'])
            + f'; max displacement {check["max_displacement_A"]:.2f} Å; '
            + ('holds' if check['holds'] else 'DOES NOT HOLD: ' + '; '.join(check['problems']))
        )
        report['final_c_A'] = float(written[-1].cell[2, 2])
        report['start_c_A'] = float(atoms.cell[2, 2])
    print(
        f'last frame: {report["final_temperature_K"]:.0f} K, displacement from the ideal sites rms '
        f'{report["final_rms_displacement_A"]:.3f} Å, max {report["final_max_displacement_A"]:.3f} Å'
    )
    if report['final_atoms_off_site'] > 0:
        print(off_site_warning(report['final_atoms_off_site'], len(atoms), reference='ideal site'))
    frames = written[-max(1, args.average_last) if args.run_anneal else -1 :]
    report['frames_averaged'] = len(frames)
    models = {'gnn': predictor, 'bec': born_charge_model(superlattice)}  # BEC: literature Z* × displacement
    for route, model in models.items():
        t0 = time.perf_counter()
        P = field_from_model(
            frames, model, superlattice.cell_index, superlattice.grid_shape, superlattice.cell_volumes()
        )
        if route == 'gnn':
            report['predict_s_per_frame'] = (time.perf_counter() - t0) / len(frames)
            report['predict_atoms_per_s'] = len(atoms) / report['predict_s_per_frame']
            report['peak_rss_GB'] = peak_rss_gb()
        t0 = time.perf_counter()
        analysis = analyse_texture(
            P,
            superlattice.cell_size_A(),
            layer_heights_A=superlattice.layer_heights,
            layers=f'0-{args.m - 1}',
            domain_threshold=0.1,
            out_json=args.out / f'analysis_{route}.json',
        )
        report[f'{route}_analysis_s'] = time.perf_counter() - t0
        np.save(args.out / f'field_{route}.npy', P)
        plot_layers(
            P,
            args.out / f'layers_{route}.png',
            superlattice.cell_size_A(),
            layers=analysis['layers'],
            skyrmion_numbers=analysis.get('skyrmion_number_per_layer'),
        )
        plot_cross_section(
            P,
            args.out / f'section_xz_{route}.png',
            superlattice.cell_size_A(),
            layer_heights_A=superlattice.layer_heights,
            plane='xz',
        )
        for key in (
            'skyrmion_number_per_layer',
            'skyrmion_number_rounded',
            'domain_count',
            'wall_types',
            'mean_abs_P_C_per_m2',
        ):
            report[f'{route}_{key}'] = analysis.get(key)
        report[f'{route}_mean_Pz_PTO_C_per_m2'] = float(P[:, :, : args.m, 2].mean())
        report[f'{route}_max_abs_P_C_per_m2'] = float(np.linalg.norm(P, axis=-1).max())
        report[f'{route}_implausible_cells'] = len(implausible_cells(P))
        report[f'{route}_mean_abs_Pz_PTO_C_per_m2'] = float(np.abs(P[:, :, : args.m, 2]).mean())
        if args.n:
            report[f'{route}_mean_abs_Pz_STO_C_per_m2'] = float(np.abs(P[:, :, args.m :, 2]).mean())
    (args.out / 'report.json').write_text(json.dumps(report, indent=2, default=float))
    print(json.dumps(report, indent=2, default=float))


if __name__ == '__main__':
    main()
