"""The potentials benchmark of the potentials issue: which potential, how accurate, how fast, and how stable μ is.

Stages (each writes OUT/<stage>.json and is skipped when that file exists, so an interrupted run continues):

``zero_shot``  every universal potential on the bundled BaTiO3 held-out test frames (0.8/0.1/0.1 split, seed 0);
               energies after the per-element reference fit on the training frames (what fine-tuning starts from)
``allegro``    Allegro (small) from scratch, ``--minutes`` of training
``ft_<name>``  each universal potential fine-tuned, ``--minutes`` of training (``--candidates``)
``gnn``        the dipole GNN all μ below share (``--dipole`` skips it), ``--gnn-minutes``
``distill``    the best fine-tuned model as teacher → Allegro student (teacher frames: MD at 300/600/1000 K and
               perturbations of 2×2×2 cells of tetragonal and cubic BaTiO3), student vs teacher and vs DFT
``mu``         μ3333 (1×1×N, 0.5 % strain, Ba fixed) with each potential and the same GNN, N = 14 and 28, the
               relaxation continued through fmax 0.05 → 0.01 → 0.005 → 0.002 → 0.001 eV/Å (μ at each)
``seeds``      the fine-tuned route trained with seeds 1 and 2 as well (seed 0 is ``ft_<best>``): μ3333 at N = 14,
               fmax 0.001, the seed-to-seed spread
``speed``      MD atoms/s of teacher and student on ~1,000- and ~10,000-atom PbTiO3/SrTiO3 cells (a PbTiO3/SrTiO3
               teacher fine-tuned on the bundled GPAW frames and its student, both briefly trained: speed only)

Usage (2 cores, all of it takes several hours; the stages can be run one by one with ``--stages``)::

    python benchmarks/potentials.py --out bench_potentials
    python benchmarks/potentials.py --out bench_potentials --stages zero_shot,ft_sevennet-0 --minutes 20

Goals of the issue: fine-tuned force MAE ≤ 40 meV/Å within 20 min of CPU training; μ fmax-to-fmax change < 5 %,
N = 14 → 28 change < 10 %, seed-to-seed spread < 10 %. Timings on shared CPUs are noisy: compare within one run.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

STAGES = ('zero_shot', 'allegro', 'finetune', 'gnn', 'distill', 'mu', 'seeds', 'speed')
FMAX_CHAIN = (0.05, 0.01, 0.005, 0.002, 0.001)


def _frames():
    from aiida_flexo.data import make_split, read_frames
    from aiida_flexo.resources import bundled_path

    frames = read_frames(bundled_path('BaTiO3_qe_berry_bec.xyz'))
    split = make_split(len(frames), (0.8, 0.1, 0.1), seed=0)
    return frames, split


def _errors(calc, frames, reference=None) -> dict:
    """Force/stress MAE and the per-atom energy MAE (after a per-element reference when given)."""
    from aiida_flexo.mlip.metrics import error_metrics
    from aiida_flexo.mlip.universal import counts_matrix

    metrics = error_metrics(calc, frames)
    if reference is not None:
        from aiida_flexo.mlip.calculator import predict

        species, deltas = list(reference), np.array(list(reference.values()))
        shift = counts_matrix(frames, species) @ deltas
        energies = np.array([predict(calc, a)['energy'] for a in frames]) + shift
        errors = (energies - np.array([a.info['energy'] for a in frames])) / np.array(
            [len(a) for a in frames]
        )
        metrics['energy_mae_meV_atom'] = float(np.mean(np.abs(errors)) * 1e3)
    return metrics


def stage_zero_shot(args, frames, split) -> dict:
    from aiida_flexo.mlip import load_calculator
    from aiida_flexo.mlip.calculator import predict
    from aiida_flexo.mlip.reference import fit_reference_energies
    from aiida_flexo.mlip.universal import available_potentials, counts_matrix

    train = [frames[i] for i in split.train]
    test = [frames[i] for i in split.test]
    species = sorted(set(frames[0].get_chemical_symbols()))
    out = {}
    for name in available_potentials():
        start = time.perf_counter()
        calc = load_calculator(name)
        model_energies = [predict(calc, a)['energy'] for a in train]
        fit = fit_reference_energies(
            counts_matrix(train, species), [a.info['energy'] for a in train], model_energies, species
        )
        metrics = _errors(calc, test, dict(zip(fit.species, fit.deltas)))
        metrics['wall_s'] = time.perf_counter() - start
        metrics['atoms_per_s'] = sum(len(a) for a in train + test) / metrics['wall_s']
        out[name] = metrics
        print(f'zero-shot {name}: {_line(metrics)}', flush=True)
    return out


def _line(m: dict) -> str:
    stress = m.get('stress_mae_GPa')
    return (
        f'force MAE {m["force_mae_meV_A"]:.1f} meV/Å, energy MAE {m["energy_mae_meV_atom"]:.3f} meV/atom, '
        f'stress MAE {"n/a" if stress is None else f"{stress:.3f}"} GPa'
    )


def _train(frames, out: Path, minutes: float, **settings) -> dict:
    from aiida_flexo.mlip import TrainingSettings
    from aiida_flexo.mlip.route import train_potential

    start = time.perf_counter()
    result = train_potential(
        frames, out, TrainingSettings(max_epochs=10_000, max_time=minutes * 60, **settings), source='BaTiO3'
    )
    metrics = result.metrics
    return {
        'model': str(result.model_path),
        'test': metrics['test'],
        'val': metrics['val'],
        'epochs': metrics['epochs'],
        'best_epoch': metrics['best_epoch'],
        'train_time_s': metrics['train_time_s'],
        'wall_s': time.perf_counter() - start,
        'settings': metrics['settings'],
    }


def stage_allegro(args, frames, split) -> dict:
    result = _train(frames, Path(args.out) / 'allegro', args.minutes, model_size='small', seed=0)
    print(f'Allegro from scratch ({args.minutes} min): {_line(result["test"])}', flush=True)
    return result


def stage_finetune(args, frames, split, name: str, seed: int = 0, folder: str | None = None) -> dict:
    out = Path(args.out) / (folder or f'ft_{name}')
    result = _train(frames, out, args.minutes, from_potential=name, seed=seed)
    print(f'fine-tuned {name} seed {seed} ({args.minutes} min): {_line(result["test"])}', flush=True)
    return result


def stage_gnn(args, frames, split) -> dict:
    from aiida_flexo.gnn.training import TrainConfig, train

    out = Path(args.out) / 'gnn'
    start = time.perf_counter()
    result = train(
        frames,
        out,
        train_config=TrainConfig(epochs=10_000, max_time=args.gnn_minutes * 60, seed=0),
        progress=False,
    )
    metrics = json.loads((out / 'metrics.json').read_text())
    test = {k: v for k, v in metrics.items() if k.startswith('test_')}
    print(f'GNN: {test}', flush=True)
    return {
        'model': str(out / 'model.pt'),
        'metrics': metrics,
        'wall_s': time.perf_counter() - start,
        'result': str(result),
    }


def _distill_structures():
    from aiida_flexo.flexo.structures import batio3_qe_mean_cell, cubic_perovskite

    return [batio3_qe_mean_cell().repeat((2, 2, 2)), cubic_perovskite(('Ba', 'Ti'), 4.0).repeat((2, 2, 2))]


def stage_distill(args, frames, split, teacher_path: str) -> dict:
    from aiida_flexo.mlip import TrainingSettings, load_calculator
    from aiida_flexo.mlip.distill import (
        SamplingSettings,
        distillation_report,
        teacher_frames,
        write_teacher_frames,
    )
    from aiida_flexo.mlip.route import train_potential

    out = Path(args.out) / 'distill'
    out.mkdir(parents=True, exist_ok=True)
    teacher = load_calculator(teacher_path)
    sample = teacher_frames(
        _distill_structures(),
        teacher,
        SamplingSettings(n_frames=args.distill_frames),
        teacher_name=teacher_path,
    )
    write_teacher_frames(sample, out / 'teacher_frames.xyz')
    print(f'teacher frames: {sample.summary()["n_frames"]} in {sample.wall_time_s:.0f} s', flush=True)
    start = time.perf_counter()
    result = train_potential(
        sample.frames,
        out / 'student',
        TrainingSettings(max_epochs=10_000, max_time=args.minutes * 60, model_size='small'),
        source='teacher frames',
    )
    student = load_calculator(result.model_path)
    test = [frames[i] for i in split.test]
    report = distillation_report(student, teacher, test, result.metrics, sample)
    report['student_model'] = str(result.model_path)
    report['student_train_s'] = time.perf_counter() - start
    print(
        f'student vs teacher {_line(report["student_vs_teacher"])}; vs DFT {_line(report["student_vs_dft"])}; '
        f'teacher vs DFT {_line(report["teacher_vs_dft"])}',
        flush=True,
    )
    return report


def mu_chain(calc, dipole, repeat: int, fmaxes=FMAX_CHAIN, max_steps: int = 3000) -> list[dict]:
    """μ3333 of the 1×1×N BaTiO3 supercell after relaxing to each fmax in turn (each continues the last)."""
    from aiida_flexo.flexo.convention import mu_to_nc_per_m
    from aiida_flexo.flexo.run import analyse, predict_per_atom_dipoles, relax_structure
    from aiida_flexo.flexo.structures import batio3_qe_mean_cell
    from aiida_flexo.flexo.supercell import build_supercell

    supercell = build_supercell(batio3_qe_mean_cell(), '3333', repeat, 0.005, 'Ba')
    atoms, steps, rows = supercell.atoms.copy(), 0, []
    start = time.perf_counter()
    for fmax in fmaxes:
        atoms, info = relax_structure(
            atoms, calc, list(supercell.fixed_indices), fmax=fmax, max_steps=max_steps
        )
        steps += info['n_steps']
        result = analyse(supercell, atoms, predict_per_atom_dipoles(dipole, atoms), relaxation=info)
        rows.append(
            {
                'fmax_eV_A': fmax,
                'converged': info['converged'],
                'max_force_eV_A': info['max_force_eV_A'],
                'steps_total': steps,
                'mu_fit_nC_per_m': float(mu_to_nc_per_m(result.mu_fit)),
                'mu_two_point_nC_per_m': float(mu_to_nc_per_m(result.mu_two_point)),
                'fit_stderr_nC_per_m': float(mu_to_nc_per_m(result.fit_stderr)),
                'wall_s': time.perf_counter() - start,
            }
        )
        print(
            f'  N={repeat} fmax {fmax}: μ fit {rows[-1]["mu_fit_nC_per_m"]:.4f} nC/m ({steps} steps)',
            flush=True,
        )
        atoms = atoms.copy()
        atoms.calc = None
    return rows


def _relative(a: float, b: float) -> float:
    return abs(a - b) / max(abs(b), 1e-12)


def stage_mu(args, potentials: dict, dipole_path: str) -> dict:
    from aiida_flexo.gnn import load_model
    from aiida_flexo.mlip import load_calculator

    dipole = load_model(dipole_path)
    out = {}
    for label, path in potentials.items():
        calc = load_calculator(path)
        print(f'μ3333 with {label}', flush=True)
        entry = {'model': path}
        for repeat in (14, 28):
            entry[f'N{repeat}'] = mu_chain(calc, dipole, repeat)
        mu = {n: [r['mu_fit_nC_per_m'] for r in entry[f'N{n}']] for n in (14, 28)}
        # relative change of μ from each tolerance to the next, and N = 14 → 28 at the tightest
        entry['fmax_changes'] = {
            n: {
                f'{a}->{b}': _relative(mu[n][i], mu[n][i + 1])
                for i, (a, b) in enumerate(zip(FMAX_CHAIN, FMAX_CHAIN[1:]))
            }
            for n in (14, 28)
        }
        entry['N14_to_N28_change'] = _relative(mu[14][-1], mu[28][-1])
        print(
            f'{label}: μ(N=14) {mu[14]}, μ(N=28) {mu[28]}; fmax changes {entry["fmax_changes"]}; N 14→28 change '
            f'{100 * entry["N14_to_N28_change"]:.2f} %',
            flush=True,
        )
        out[label] = entry
    return out


def stage_seeds(args, frames, split, name: str, dipole_path: str, seed0: dict) -> dict:
    from aiida_flexo.gnn import load_model
    from aiida_flexo.mlip import load_calculator

    dipole = load_model(dipole_path)
    runs = {0: seed0}
    for seed in (1, 2):
        runs[seed] = stage_finetune(args, frames, split, name, seed=seed, folder=f'ft_{name}_seed{seed}')
    out = {'runs': {}}
    for seed, run in runs.items():
        rows = mu_chain(load_calculator(run['model']), dipole, 14, fmaxes=args.seed_fmaxes)
        out['runs'][seed] = {'test': run['test'], 'mu': rows}
    mu = np.array([out['runs'][s]['mu'][-1]['mu_fit_nC_per_m'] for s in runs])
    out['mu_fit_nC_per_m'] = mu.tolist()
    out['spread_relative'] = float((mu.max() - mu.min()) / abs(mu.mean()))
    out['std_relative'] = float(mu.std(ddof=1) / abs(mu.mean()))
    forces = [out['runs'][s]['test']['force_mae_meV_A'] for s in runs]
    out['test_force_mae_meV_A'] = forces
    print(f'seeds: μ {mu.round(4).tolist()} nC/m, spread {100 * out["spread_relative"]:.1f} %', flush=True)
    return out


def stage_speed(args) -> dict:
    from aiida_flexo.data import read_frames
    from aiida_flexo.mlip import TrainingSettings, load_calculator
    from aiida_flexo.mlip.distill import SamplingSettings, md_speed, teacher_frames
    from aiida_flexo.mlip.route import train_potential
    from aiida_flexo.resources import pto_sto_frame_paths
    from aiida_flexo.textures.superlattice import build_superlattice

    out = Path(args.out) / 'speed'
    frames = [a for path in pto_sto_frame_paths() for a in read_frames(path)]
    teacher_run = train_potential(
        frames,
        out / 'teacher',
        TrainingSettings(
            from_potential='sevennet-0', max_epochs=1000, max_time=args.speed_minutes * 60, stress_weight=0.0
        ),
        source='PbTiO3/SrTiO3',
    )
    teacher = load_calculator(teacher_run.model_path)
    cells = [build_superlattice(2, 2, 2).atoms, build_superlattice(1, 1, 2).atoms]
    sample = teacher_frames(cells, teacher, SamplingSettings(n_frames=200, temperatures=(300.0, 600.0)))
    student_run = train_potential(
        sample.frames,
        out / 'student',
        TrainingSettings(max_epochs=1000, max_time=args.speed_minutes * 60, model_size='small'),
        source='teacher frames',
    )
    student = load_calculator(student_run.model_path)
    report = {
        'teacher_test': teacher_run.metrics['test'],
        'student_test': student_run.metrics['test'],
        'md': [],
    }
    for lateral, layers in ((5, (4, 4)), (16, (4, 4))):
        atoms = build_superlattice(layers[0], layers[1], lateral).atoms
        row = {'n_atoms': len(atoms)}
        for label, calc in (('student', student), ('teacher', teacher)):
            try:
                row[label] = md_speed(calc, atoms, steps=3 if len(atoms) < 5000 else 2)
            except (RuntimeError, MemoryError) as exc:  # torch raises RuntimeError when out of memory
                row[label] = {'error': f'{type(exc).__name__}: {exc}'[:300]}
            print(f'MD {label} {len(atoms)} atoms: {row[label]}', flush=True)
        if 'atoms_per_second' in row['student'] and 'atoms_per_second' in row['teacher']:
            row['speed_ratio'] = row['student']['atoms_per_second'] / row['teacher']['atoms_per_second']
        report['md'].append(row)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument('--out', default='bench_potentials')
    parser.add_argument('--stages', default=','.join(STAGES), help=f'comma-separated subset of {STAGES}')
    parser.add_argument('--minutes', type=float, default=20.0, help='training budget of each potential')
    parser.add_argument('--gnn-minutes', type=float, default=20.0)
    parser.add_argument('--speed-minutes', type=float, default=10.0)
    parser.add_argument(
        '--candidates', default='sevennet-0,chgnet-0.3.0', help='universal potentials to fine-tune'
    )
    parser.add_argument('--distill-frames', type=int, default=400)
    parser.add_argument(
        '--seed-fmaxes',
        type=lambda text: tuple(float(x) for x in text.split(',')),
        default=(0.002, 0.001),
        help='relaxation tolerances (eV/Å) of the seeds stage, in turn; μ at the last',
    )
    parser.add_argument('--dipole', default=None, help='a trained dipole GNN (skips the gnn stage)')
    args = parser.parse_args()

    import torch

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stages = [s.strip() for s in args.stages.split(',') if s.strip()]
    frames, split = _frames()
    candidates = [c.strip() for c in args.candidates.split(',') if c.strip()]
    print(f'{len(frames)} frames, split {len(split.train)}/{len(split.val)}/{len(split.test)}; '
          f'{torch.get_num_threads()} torch threads', flush=True)  # fmt: skip

    def cached(name: str, compute):
        path = out / f'{name}.json'
        if path.exists():
            return json.loads(path.read_text())
        value = compute()
        path.write_text(json.dumps(value, indent=2, default=float))
        return value

    results = {}
    if 'zero_shot' in stages:
        results['zero_shot'] = cached('zero_shot', lambda: stage_zero_shot(args, frames, split))
    if 'allegro' in stages:
        results['allegro'] = cached('allegro', lambda: stage_allegro(args, frames, split))
    for name in candidates:
        if 'finetune' in stages or f'ft_{name}' in stages:
            results[f'ft_{name}'] = cached(
                f'ft_{name}', lambda name=name: stage_finetune(args, frames, split, name)
            )
    finetuned = {k: v for k, v in results.items() if k.startswith('ft_')}
    for name in candidates:
        if f'ft_{name}' not in finetuned and (out / f'ft_{name}.json').exists():
            finetuned[f'ft_{name}'] = json.loads((out / f'ft_{name}.json').read_text())
    best = min(finetuned, key=lambda k: finetuned[k]['test']['force_mae_meV_A']) if finetuned else None
    dipole = args.dipole
    if dipole is None and ({'gnn', 'mu', 'seeds'} & set(stages)):
        dipole = cached('gnn', lambda: stage_gnn(args, frames, split))['model']
    if 'distill' in stages and best:
        results['distill'] = cached(
            'distill', lambda: stage_distill(args, frames, split, finetuned[best]['model'])
        )
    if 'mu' in stages:
        potentials = {}
        if (out / 'allegro.json').exists():
            potentials['allegro'] = json.loads((out / 'allegro.json').read_text())['model']
        potentials.update({k: v['model'] for k, v in finetuned.items()})
        if (out / 'distill.json').exists():
            potentials['student'] = json.loads((out / 'distill.json').read_text())['student_model']
        results['mu'] = cached('mu', lambda: stage_mu(args, potentials, dipole))
    if 'seeds' in stages and best:
        results['seeds'] = cached(
            'seeds', lambda: stage_seeds(args, frames, split, best[3:], dipole, finetuned[best])
        )
    if 'speed' in stages:
        results['speed'] = cached('speed', lambda: stage_speed(args))
    (out / 'summary.json').write_text(json.dumps(results, indent=2, default=float))
    print(f'wrote {out / "summary.json"}')


if __name__ == '__main__':
    main()
