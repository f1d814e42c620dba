"""The active-learning demonstration of the active-learning issue: PbTiO3/SrTiO3 from the bundled GPAW frames.

``flexo.active`` through the daemon of an AiiDA profile (``aiida-flexo setup`` makes the embedded one, ``flexo``):
generation 0 = the 67 bundled GPAW-fast frames (PbTiO3_SrTiO3_gpaw_fast*.xyz); each generation trains a committee
of two potentials (SevenNet-0 fine-tuned, or small Allegro) and two dipole GNNs, explores 5-, 10- and 20-atom cells
(PbTiO3, SrTiO3, PbTiO3 1×1×2, the (PbTiO3)1/(SrTiO3)1 and 2/2 interface cells) by MD at 300 and 1,000 K plus
strained/displaced copies, labels the most uncertain frames with GPAW (fast protocol, the settings of the bundled
frames) and reports the errors of its models on them before retraining. Then a 1,000 K MD of a (PbTiO3)2/(SrTiO3)2
superlattice, 2×2 in plane (80 atoms), with the first generation's and with the final potential: does every atom
stay on its perovskite site?

Usage (2 cores: about an hour)::

    aiida-flexo setup                       # once: the embedded profile 'flexo' and its daemon
    python benchmarks/active_pto_sto.py --out bench_active

Prints per generation: DFT core-minutes, frames added, committee deviations on the explored set, force and dipole
MAE of that generation's models on the frames it added (before retraining), and the MD check; writes
OUT/summary.json and OUT/active_frames.xyz (every frame the loop labelled).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import time
from pathlib import Path

import numpy as np


def targets() -> dict:
    """Exploration starts: 5-, 10- and 20-atom cells (ase Atoms by name)."""
    from aiida_flexo.data import read_frames
    from aiida_flexo.resources import pto_sto_frame_paths
    from aiida_flexo.textures.superlattice import build_superlattice

    frames = read_frames(pto_sto_frame_paths()[0])
    polar_pto = frames[6].copy()  # the first frame of "PbTiO3 polar along z" (SOURCES.md), a perturbed cell
    sto = frames[30].copy()
    cells = {'PbTiO3': polar_pto, 'SrTiO3': sto, 'PbTiO3_1x1x2': polar_pto.repeat((1, 1, 2))}
    for m in (1, 2):
        lattice = build_superlattice(m, m, 1, seed='uniform', substrate='SrTiO3')
        cells[f'PTO{m}_STO{m}'] = lattice.atoms
    for atoms in cells.values():
        atoms.calc = None
        for key in list(atoms.info):
            atoms.info.pop(key)
        for key in [k for k in atoms.arrays if k not in ('numbers', 'positions')]:
            atoms.arrays.pop(key)
    return cells


def md_keeps_sites(
    model: str, steps: int, temperature: float, seed: int = 0, member: int | None = None
) -> dict:
    """1,000 K MD of an 80-atom (PbTiO3)2/(SrTiO3)2 superlattice: does every atom stay on its site?

    ``member``: run with that member of a committee only (half the cost of a committee of two; the members are
    trained on the same frames)."""
    from aiida_flexo.mlip import load_calculator
    from aiida_flexo.mlip.md import run_md
    from aiida_flexo.textures.superlattice import assign_cells, build_superlattice

    lattice = build_superlattice(2, 2, 2, seed='uniform', substrate='SrTiO3')
    calc = load_calculator(model)
    if member is not None:
        calc = calc.members[member]
    start = time.perf_counter()
    try:
        result = run_md(lattice.atoms, calc, [(temperature, steps)], timestep_fs=1.0, seed=seed)
        final = result.atoms
    except Exception as exc:  # noqa: BLE001 - an exploded MD is the answer
        return {'model': model, 'exploded': f'{type(exc).__name__}: {exc}'}
    out = {
        'model': model,
        'member': member,
        'steps': steps,
        'temperature_K': temperature,
        'wall_s': time.perf_counter() - start,
    }
    try:
        assign_cells(final, lattice.grid_shape, lattice.layer_heights, check=True)
        out['on_sites'] = True
    except ValueError as exc:
        out['on_sites'] = False
        out['why'] = str(exc)[:300]
    displacement = final.positions - lattice.atoms.positions
    displacement -= np.round(displacement @ np.linalg.inv(final.cell.array)) @ final.cell.array
    out['max_displacement_A'] = float(np.linalg.norm(displacement, axis=1).max())
    out['final_structure'] = final
    return out


def _plain(value):
    """Nested input namespaces as plain dicts (nodes kept)."""
    return {key: _plain(item) for key, item in value.items()} if isinstance(value, dict) else value


def verify_annealed(process, annealed, grid) -> dict:
    """flexo.verify of the final models on two 10-atom blocks cut across the layers of the annealed superlattice,
    labelled with the loop's own DFT settings (energies comparable)."""
    from aiida import orm
    from aiida.common import AttributeDict
    from aiida.engine import submit

    from aiida_flexo.active.verify import summary_lines
    from aiida_flexo.workflows.verify import VerifyWorkChain

    final = orm.load_node(process.outputs.report['final_models_from'])
    builder = VerifyWorkChain.get_builder()
    builder.structures = {'annealed': orm.StructureData(ase=annealed)}
    builder.cutout = orm.Dict({'grid': list(grid), 'size': [1, 1, 2], 'count': 2, 'max_atoms': 40})
    builder.mlip_model = process.outputs.mlip_model
    builder.dipole_model = process.outputs.dipole_models['member_0']
    builder.mlip_metrics = final.outputs.mlip_metrics
    builder.gnn_metrics = final.outputs.gnn_metrics['member_0']
    builder.thresholds = orm.Dict({'max_ratio': 3.0})
    builder.code = process.inputs.code
    label = _plain(AttributeDict(process.inputs.label))
    if 'gpaw' in label:  # scheduler options are not stored with the inputs: one process, the loop's walltime
        from aiida_flexo.calcjobs.base import serial_options

        label['gpaw'].setdefault('gpaw', {})['metadata'] = {'options': serial_options(7200)}
    builder.label = label
    node = submit(builder)
    print(f'submitted flexo.verify <{node.pk}> on the annealed superlattice', flush=True)
    while not node.is_terminated:
        time.sleep(10)
    if 'report' not in node.outputs:
        return {'pk': node.pk, 'exit_status': node.exit_status, 'message': node.exit_message}
    report = node.outputs.report.get_dict()
    for line in summary_lines(report):
        print(f'verification: {line}', flush=True)
    return {'pk': node.pk, 'exit_status': node.exit_status, 'report': report}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument('--out', default='bench_active')
    parser.add_argument('--profile', default='flexo')
    parser.add_argument('--generations', type=int, default=2)
    parser.add_argument('--per-generation', type=int, default=4)
    parser.add_argument('--route', default='sevennet-0', help='sevennet-0 (fine-tuned committee) or allegro')
    parser.add_argument('--minutes', type=float, default=4.0, help='training budget of each committee member')
    parser.add_argument('--md-steps', type=int, default=200, help='1 fs steps of the 1,000 K check')
    parser.add_argument(
        '--md-first-generation', action='store_true', help="also the check with generation 1's potential"
    )
    parser.add_argument('--pk', type=int, default=None, help='read an earlier flexo.active run instead')
    parser.add_argument(
        '--md-member', type=int, default=None, help='MD check with this committee member only'
    )
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    from aiida import load_profile, orm

    load_profile(args.profile)
    from aiida.engine import submit
    from aiida.engine.daemon.client import get_daemon_client

    from aiida_flexo.data import read_frames, write_frames
    from aiida_flexo.nodes.frames import FramesData
    from aiida_flexo.resources import pto_sto_frame_paths
    from aiida_flexo.workflows.active import FlexoActiveWorkChain

    if args.pk is None:
        client = get_daemon_client()
        if not client.is_daemon_running:
            client.start_daemon(number_workers=2)
        frames = [a for path in pto_sto_frame_paths() for a in read_frames(path)]
        node = FramesData.from_frames(frames, source='bundled PbTiO3/SrTiO3 GPAW fast frames').store()
        # a committee shares max_time: each member trains --minutes
        mlip = {'committee': 2, 'max_time': f'{int(2 * args.minutes * 60)}', 'seed': 0, 'stress_weight': 0.0}
        if args.route != 'allegro':
            mlip.update({'from_potential': args.route, 'epochs': 50})
        else:
            mlip.update({'model_size': 'small', 'epochs': 1000})
        overrides = {
            'max_generations': args.generations,
            'mlip': mlip,
            # Born-charge branches: 5-atom PbTiO3 dipoles sit near half a quantum (see README, PbTiO3/SrTiO3 data)
            'gnn': {
                'epochs': 1000,
                'seed': 0,
                'max_time': '240',
                'threads': 1,
                'label_branches': 'perovskite-born',
                'patience': 150,
                'lr': 1e-3,
            },
            'sample': {'temperatures': [300.0, 1000.0], 'n_frames': 40, 'stride': 5, 'strain': 0.02},
            'select': {'per_generation': args.per_generation, 'force_floor': 30.0, 'dipole_floor': 0.02},
            'dft_budget': {'frames': args.per_generation * args.generations},
        }
        code = orm.load_code('aiida-flexo@localhost')
        structures = {name: orm.StructureData(ase=atoms) for name, atoms in targets().items()}
        options = {
            'resources': {'num_machines': 1, 'num_mpiprocs_per_machine': 1},
            'max_wallclock_seconds': 7200,
        }
        builder = FlexoActiveWorkChain.get_builder_from_protocol(
            code, node, structures, protocol='fast', overrides=overrides,
            options={'label': options, 'models': options},
        )  # fmt: skip
        builder.metadata.label = 'active learning PbTiO3/SrTiO3 (benchmark)'
        process = submit(builder)
        print(f'submitted flexo.active <{process.pk}>', flush=True)
        start = time.perf_counter()
        while not process.is_terminated:
            time.sleep(20)
        print(
            f'flexo.active <{process.pk}> [{process.exit_status}] after {time.perf_counter() - start:.0f} s',
            flush=True,
        )
        pk = process.pk
    else:
        pk = args.pk
    process = orm.load_node(pk)
    report = subprocess.run(
        ['aiida-flexo', 'active', 'report', str(pk), '-p', args.profile, '--json'],
        capture_output=True,
        text=True,
        check=False,
    )
    print(subprocess.run(['aiida-flexo', 'active', 'report', str(pk), '-p', args.profile],
                         capture_output=True, text=True, check=False).stdout)  # fmt: skip
    summary = {'pk': pk, 'report': json.loads(report.stdout) if report.returncode == 0 else report.stderr}
    if process.is_finished_ok:
        write_frames(
            out / 'active_frames.xyz',
            [a for a in process.outputs.frames.get_frames() if 'active_generation' in a.info],
        )
        generations = sorted(
            (n for n in process.called if n.process_label == 'ActiveGenerationWorkChain'),
            key=lambda n: n.inputs.generation.value,
        )
        first, final = generations[0].outputs.mlip_model, process.outputs.mlip_model
        summary['md'] = {}
        runs = (
            (('generation_1', first), ('final', final)) if args.md_first_generation else (('final', final),)
        )
        for name, model in runs:
            path = out / f'{name}_{model.filename}'
            path.write_bytes(model.get_content(mode='rb'))
            summary['md'][name] = md_keeps_sites(str(path), args.md_steps, 1000.0, member=args.md_member)
            annealed = summary['md'][name].pop('final_structure', None)
            print(f'1000 K MD, {name} potential: {summary["md"][name]}', flush=True)
        if annealed is not None:
            from aiida_flexo.textures.superlattice import build_superlattice

            grid = build_superlattice(2, 2, 2, seed='uniform', substrate='SrTiO3').grid_shape
            summary['verify_annealed'] = verify_annealed(process, annealed, grid)
    (out / 'summary.json').write_text(json.dumps(summary, indent=2, default=str))
    print(f'wrote {out / "summary.json"}')


if __name__ == '__main__':
    main()
