"""Daemon throughput of flexo.label: N small frames labelled concurrently with GPAW, on both profile kinds.

Creates throw-away profiles in a temporary AiiDA folder (embedded: SQLite + ZeroMQ; production: PostgreSQL +
RabbitMQ when they answer), starts each daemon, submits one flexo.label of N rattled 2-atom SiC cells (GPAW, 250 eV,
2×2×2 k-points, energy + forces + stress + Berry phase) and reports the wall time from submission to the end, frames
per minute and the mean per-frame CalcJob time.

    python benchmarks/label_throughput.py [--frames 50] [--workers 1] [--kinds embedded,production]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

SCRIPT = r"""
import json, sys, time
import numpy as np
from ase.build import bulk
from aiida import load_profile, orm
from aiida.engine import submit
from aiida.engine.daemon.client import get_daemon_client

profile, n_frames, workers = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
load_profile(profile)
from aiida_flexo.calcjobs.base import serial_options
from aiida_flexo.nodes.frames import FramesData
from aiida_flexo.workflows.label import LabelWorkChain

client = get_daemon_client(profile)
if not client.is_daemon_running:
    client.start_daemon(number_workers=workers)
rng = np.random.default_rng(0)
frames = []
for _ in range(n_frames):
    atoms = bulk('SiC', 'zincblende', a=4.36)
    atoms.positions += rng.normal(scale=0.03, size=atoms.positions.shape)
    frames.append(atoms)
node = FramesData.from_frames(frames, source='throughput benchmark').store()
builder = LabelWorkChain.get_builder_from_protocol(
    orm.load_code('aiida-flexo@localhost'), node, engine='gpaw', protocol='fast',
    overrides={'engine_inputs': {'cutoff': 250.0, 'kpoints': [2, 2, 2], 'berry_phase': True}},
    options=serial_options(3600),
)
start = time.monotonic()
work = submit(builder)
while not work.is_terminated:
    time.sleep(1)
wall = time.monotonic() - start
calcs = [n for n in work.called_descendants if n.process_label == 'GpawCalculation']
per_calc = [(n.mtime - n.ctime).total_seconds() for n in calcs]
client.stop_daemon(wait=True)
print(json.dumps({
    'exit_status': work.exit_status, 'n_frames': n_frames, 'labelled': work.outputs.labelled.n_frames
    if 'labelled' in work.outputs else 0, 'wall_s': wall, 'frames_per_minute': 60 * n_frames / wall,
    'mean_calcjob_lifetime_s': float(np.mean(per_calc)) if per_calc else None, 'daemon_workers': workers,
}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument('--frames', type=int, default=50)
    parser.add_argument('--workers', type=int, default=1)
    parser.add_argument('--kinds', default='embedded,production')
    parser.add_argument('--out', default=None, help='Write the figures as JSON here.')
    args = parser.parse_args()
    from aiida_flexo.profiles import service_answers

    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, 'AIIDA_PATH': tmp, 'OPENBLAS_NUM_THREADS': '1', 'OMP_NUM_THREADS': '1'}
        for kind in args.kinds.split(','):
            if kind == 'production' and not (
                service_answers('127.0.0.1', 5432) and service_answers('127.0.0.1', 5672)
            ):
                print('production: PostgreSQL or RabbitMQ does not answer, skipped')
                continue
            name = f'throughput-{kind}'
            options = ['--storage', 'postgresql', '--broker', 'rabbitmq'] if kind == 'production' else []
            exe = os.path.join(os.path.dirname(sys.executable), 'aiida-flexo')
            subprocess.run(
                [exe, 'setup', '--profile', name, *options], env=env, check=True, capture_output=True
            )
            out = subprocess.run(
                [sys.executable, '-c', SCRIPT, name, str(args.frames), str(args.workers)],
                env=env,
                check=True,
                capture_output=True,
                text=True,
            )
            results[kind] = json.loads(out.stdout.strip().splitlines()[-1])
            r = results[kind]
            print(
                f'{kind:>10}: {r["labelled"]}/{r["n_frames"]} frames in {r["wall_s"]:.0f} s '
                f'({r["frames_per_minute"]:.1f} frames/min; CalcJob lifetime {r["mean_calcjob_lifetime_s"]:.0f} s), '
                f'exit status {r["exit_status"]}'
            )
            if kind == 'production':
                from aiida_flexo.profiles import drop_postgres_database

                drop_postgres_database(f'aiida_flexo_{name}'.replace('-', '_'))
    results['load_average'] = os.getloadavg()
    if args.out:
        with open(args.out, 'w') as handle:
            json.dump(results, handle, indent=1)


if __name__ == '__main__':
    main()
