"""Silicon end to end (the seed's second material): ``flexo.pipeline`` with GPAW on diamond Si.

Phase 1 (``--submit``): one ``flexo.pipeline`` through the daemon of an embedded profile: AIMD of the 8-atom cubic
cell with GPAW at 300 K and 1,000 K, random displacements and strains, the ideal cell as its own centrosymmetric
reference (diamond Si is non-polar: the reference frame fixes the branch of every label); GPAW labels at the fast
protocol (energy, forces, stress, Berry-phase dipole: spin-paired Si, charge quantum 2 e); the dipole GNN trained on
the Berry-phase dipoles only (Si has no Born charges: Z* = 0 by symmetry); SevenNet-0 fine-tuned; μ3113 and μ3333
on a short supercell (the pipeline's own numbers). Waits for it and writes OUT/si_frames.xyz, OUT/gnn.pt,
OUT/mlip.pt and OUT/pipeline.json.

μ3113 and μ3333 of Si against the supercell length N and their limit μ∞ with its error bar, from these frames and
this potential with several GNN seeds, are ``benchmarks/mu_limit.py --material Si --frames OUT/si_frames.xyz --mlip
OUT/mlip.pt`` (the user's ``flexo convergence`` command).

Usage (2 cores: about 40 min)::

    aiida-flexo setup --profile flexo-bench        # or any embedded profile with its daemon
    python benchmarks/si_pipeline.py --submit --out bench_si --profile flexo-bench
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

#: sampling of the Si frames (fast protocol otherwise): 4 AIMD frames per temperature (an 8-atom GPAW MD step costs
#: ~40 s here, 30 SCF iterations), 24 randomly displaced (0.05 Å) and strained (1 %) cells
SAMPLING = {
    'temperatures': [300.0, 1000.0],
    'md': {'steps': 12, 'stride': 3, 'skip': 0, 'timestep_fs': 2.0},
    'perturbations': {'n_frames': 24, 'displacement': 0.05, 'strain': 0.01},
}
#: the flexo settings of Si (the seed: cosine field, 0.05 % maximum strain; one sublattice held)
SI_SUPERCELL = {'max_strain': 0.0005, 'fix': 'sublattice:0', 'shape': 'cosine', 'transverse_repeat': 3}


def submit_pipeline(args) -> None:
    from aiida import load_profile, orm

    load_profile(args.profile)
    from aiida.engine import submit

    from aiida_flexo.calcjobs.base import serial_options
    from aiida_flexo.flexo.structures import builtin
    from aiida_flexo.workflows.pipeline import FlexoPipelineWorkChain

    code = orm.load_code('aiida-flexo@localhost')
    silicon = orm.StructureData(ase=builtin('Si-conventional'))
    overrides = {
        'components': ['3113', '3333'],
        'sampling': SAMPLING,
        'gnn': {'epochs': args.gnn_epochs, 'patience': 200},  # Si's dipoles start on a plateau: no early stop
        'mlip': {'epochs': 5, 'max_time': '10m'},
        'flexo': {'supercell': {**SI_SUPERCELL, 'repeat': 6}},
        'verify': {'enabled': False},
    }
    builder = FlexoPipelineWorkChain.get_builder_from_protocol(
        code,
        {'Si': silicon},
        protocol='fast',
        overrides=overrides,
        references={'Si_ideal': silicon},
        options={
            'sampling': serial_options(7200),
            'label': serial_options(7200),
            'gnn': serial_options(7200),
            'mlip': serial_options(7200, threads=2),
            'flexo': serial_options(7200, threads=2),
        },
    )
    builder.metadata.label = 'benchmark: Si end to end (GPAW fast)'
    node = submit(builder)
    print(f'submitted flexo.pipeline <{node.pk}> on profile {args.profile}', flush=True)
    wait_and_export(node.pk, args)


def wait_and_export(pk: int, args) -> None:
    from aiida import get_profile, load_profile, orm

    if get_profile() is None:
        load_profile(args.profile)
    start = time.monotonic()
    node = orm.load_node(pk)
    while not node.is_terminated:
        time.sleep(30)
        print(f'  {time.monotonic() - start:6.0f} s: {node.process_state.value}', flush=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    summary = {'pk': pk, 'exit_status': node.exit_status, 'wall_s': (node.mtime - node.ctime).total_seconds()}
    print(f'pipeline <{pk}> finished with exit status {node.exit_status} in {summary["wall_s"]:.0f} s')
    outputs = node.outputs
    if 'frames' in outputs:
        from aiida_flexo.data import write_frames

        frames = outputs.frames.get_frames()
        write_frames(out / 'si_frames.xyz', frames)
        summary['n_frames'] = len(frames)
    for name, file in (('dipole_model', 'gnn.pt'), ('mlip_model', 'mlip.pt')):
        if name in outputs:
            (out / file).write_bytes(outputs[name].get_content(mode='rb'))
    for name in ('gnn_metrics', 'mlip_metrics'):
        if name in outputs:
            summary[name] = outputs[name].get_dict()
    if 'coefficients' in outputs:
        summary['mu_nC_per_m'] = {
            key: {'mu_fit': c.mu_fit, 'stderr': c.mu_fit_stderr, 'mu_two_point': c.mu_two_point}
            for key, c in outputs.coefficients.items()
        }
    (out / 'pipeline.json').write_text(json.dumps(summary, indent=2, default=str))
    print(json.dumps(summary, indent=2, default=str)[:4000])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument('--out', required=True)
    parser.add_argument('--profile', default='flexo')
    parser.add_argument('--submit', action='store_true', help='Phase 1: run the pipeline and export.')
    parser.add_argument('--pk', type=int, default=None, help='Phase 1 of a pipeline already submitted.')
    parser.add_argument('--gnn-epochs', type=int, default=400)
    args = parser.parse_args()
    if args.submit:
        submit_pipeline(args)
    elif args.pk is not None:
        wait_and_export(args.pk, args)


if __name__ == '__main__':
    main()
