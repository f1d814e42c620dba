"""Cost per frame of the GPAW engine on BaTiO3: SCF+forces(+stress), + Berry phase, + Born charges.

Usage::

    python benchmarks/gpaw_cost.py --cells 5 --born full          # 5-atom cell, every Born-charge displacement
    python benchmarks/gpaw_cost.py --cells 40 --stages scf         # 40-atom (2×2×2) cell, SCF only
    python benchmarks/gpaw_cost.py --cells 5,40 --born 1 --protocol moderate --out costs.json

Frames are cubic BaTiO3 (a = 4.0 Å) or its 2×2×2 supercell with every atom rattled by 0.03 Å (seeded), like an MD
or perturbed frame: no symmetry beyond time reversal. Stages, each a fresh :class:`GpawRun` in its own directory:

* ``scf``: energy, forces, stress (symmetry on: time reversal halves the k-points);
* ``berry``: the same with the Berry phase (symmetry off, as a Berry-phase label needs): SCF + phase;
* ``born``: central-difference Born charges: 6N displaced SCFs (+ Berry phase each). ``--born full`` runs them
  all; ``--born K`` runs the first K displacements (x, y, z of atom 0, ±) and extrapolates the total as
  6N × (mean wall time per displacement) + the reference SCF, and says so in the output.

Wall times are what this machine gave; on shared cores they are upper bounds (the load average is recorded).
CPU times of this process are reported beside them. Every run is one serial GPAW process with one BLAS thread.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
from ase import Atoms


def batio3_frame(n_atoms: int, rattle: float = 0.03, seed: int = 0, a: float = 4.0) -> Atoms:
    """Cubic BaTiO3 (5 atoms) or an n×n×n supercell of it, rattled (Å) so that it has no point symmetry."""
    positions = [(0, 0, 0), (0.5, 0.5, 0.5), (0.5, 0.5, 0), (0.5, 0, 0.5), (0, 0.5, 0.5)]
    cell = Atoms('BaTiO3', scaled_positions=positions, cell=[a, a, a], pbc=True)
    repeat = round((n_atoms / 5) ** (1 / 3))
    if 5 * repeat**3 != n_atoms:
        raise SystemExit(f'--cells takes 5 × n³ atoms (5, 40, 135, ...), got {n_atoms}')
    atoms = cell.repeat(repeat)
    atoms.rattle(stdev=rattle, seed=seed)
    return atoms


def run_stage(inputs, atoms, workdir: Path) -> dict:
    from aiida_flexo.engines.gpaw_driver import GpawRun

    tick, cpu = time.perf_counter(), time.process_time()
    results = GpawRun(inputs, atoms, workdir, resume=False, log=lambda m: print(f'    {m}', flush=True)).run()
    return {
        'wall_s': time.perf_counter() - tick,
        'cpu_s': time.process_time() - cpu,
        'timings': results['timings'],
        'kpoint_mesh': results['kpoint_mesh'],
        'scf_iterations': results.get('scf_iterations'),
        'born_displacements': [
            {'wall_s': d['wall_s'], 'scf_iterations': d['scf_iterations']}
            for d in results.get('born_displacements', [])
        ],
        'born_charges': results.get('born_charges'),
        'asr_residual_max': results.get('asr_residual_max'),
        'dipole': results.get('dipole'),
    }


def benchmark_cell(n_atoms: int, args, root: Path) -> dict:
    from aiida_flexo.engines import EngineInputs

    atoms = batio3_frame(n_atoms, seed=args.seed)
    common = {'protocol': args.protocol}
    if args.kpoints:
        common['kpoints'] = [int(k) for k in args.kpoints.split(',')]
    if args.cutoff:
        common['cutoff'] = args.cutoff
    out: dict = {'n_atoms': n_atoms, 'protocol': args.protocol, 'kpoint_mesh': None, 'stages': {}}
    stages = args.stages.split(',')
    if 'scf' in stages:
        print(f'{n_atoms} atoms: scf + forces + stress', flush=True)
        result = run_stage(EngineInputs(**common), atoms, root / f'{n_atoms}_scf')
        out['stages']['scf+forces+stress'] = result
        out['kpoint_mesh'] = result['kpoint_mesh']
    if 'berry' in stages:
        print(f'{n_atoms} atoms: scf + forces + stress + Berry phase (symmetry off)', flush=True)
        result = run_stage(EngineInputs(**common, berry_phase=True), atoms, root / f'{n_atoms}_berry')
        out['stages']['scf+forces+stress+berry'] = result
        out['kpoint_mesh'] = result['kpoint_mesh']
    if 'born' in stages:
        total_displacements = 6 * n_atoms
        full = args.born == 'full'
        if full:
            born = {'enabled': True, 'scheme': 'central'}
        else:
            k = int(args.born)
            if k not in (2, 4, 6):
                raise SystemExit(
                    '--born takes "full" or 2, 4 or 6 displacements (± pairs of atom 0 along x, y, z)'
                )
            # the first k displacements: atom 0 along x, y, z (± each)
            born = {'enabled': True, 'scheme': 'central', 'atoms': [0], 'directions': 'xyz'[: k // 2]}
        label = 'full' if full else f'{args.born} of {total_displacements} displacements, extrapolated'
        print(f'{n_atoms} atoms: Born charges ({label})', flush=True)
        result = run_stage(EngineInputs(**common, born_charges=born), atoms, root / f'{n_atoms}_born')
        per_displacement = float(np.mean([d['wall_s'] for d in result['born_displacements']]))
        reference = result['timings']['scf'] + result['timings']['berry_phase']
        result['wall_per_displacement_s'] = per_displacement
        result['born_total_wall_s'] = (
            result['wall_s'] if full else reference + total_displacements * per_displacement
        )
        result['extrapolated'] = not full
        result['n_displacements_total'] = total_displacements
        result['n_displacements_run'] = len(result['born_displacements'])
        out['stages']['born_charges'] = result
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument('--cells', default='5', help='Comma-separated atom counts: 5, 40 (2×2×2), ...')
    parser.add_argument('--stages', default='scf,berry,born', help='Any of scf,berry,born.')
    parser.add_argument(
        '--born', default='full', help='"full" or an even number of displacements to extrapolate from.'
    )
    parser.add_argument('--protocol', default='fast', choices=['fast', 'moderate', 'precise'])
    parser.add_argument(
        '--kpoints', default=None, help='Explicit k-mesh "n1,n2,n3" (default: the protocol density).'
    )
    parser.add_argument(
        '--cutoff', type=float, default=None, help='Plane-wave cutoff in eV (default: protocol).'
    )
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--out', type=Path, default=None, help='Write the figures as JSON here.')
    parser.add_argument('--keep', type=Path, default=None, help='Keep the run directories here.')
    args = parser.parse_args()

    import gpaw

    root = args.keep or Path(tempfile.mkdtemp(prefix='gpaw_cost_'))
    root.mkdir(parents=True, exist_ok=True)
    report = {
        'machine': {
            'cpu_count': os.cpu_count(),
            'processor': platform.processor() or platform.machine(),
            'load_average_start': os.getloadavg(),
        },
        'gpaw_version': gpaw.__version__,
        'note': 'wall times on shared cores: upper bounds; one serial GPAW process, one BLAS thread',
        'cells': [],
    }
    try:
        for n_atoms in (int(n) for n in args.cells.split(',')):
            report['cells'].append(benchmark_cell(n_atoms, args, root))
    finally:
        report['machine']['load_average_end'] = os.getloadavg()
        if args.out:
            args.out.write_text(json.dumps(report, indent=1) + '\n')
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)

    print('\nwall time per frame (s), this machine; load average', report['machine']['load_average_start'])
    for cell in report['cells']:
        print(f'  {cell["n_atoms"]} atoms, protocol {cell["protocol"]}, k-mesh {cell["kpoint_mesh"]}:')
        for name, stage in cell['stages'].items():
            if name == 'born_charges':
                how = 'extrapolated' if stage['extrapolated'] else 'measured'
                print(
                    f'    + Born charges (central, {stage["n_displacements_total"]} displaced SCFs): '
                    f'{stage["born_total_wall_s"]:.0f} s ({how}; {stage["wall_per_displacement_s"]:.1f} s per '
                    f'displacement over {stage["n_displacements_run"]} run)'
                )
            else:
                print(
                    f'    {name}: {stage["wall_s"]:.1f} s wall, {stage["cpu_s"]:.1f} s CPU; timings {stage["timings"]}'
                )


if __name__ == '__main__':
    main()
