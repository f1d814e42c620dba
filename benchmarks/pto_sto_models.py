"""The recipe of the PbTiO3/SrTiO3 texture models: three `aiida-flexo` commands, rebuilt from the bundled frames.

No checkpoint ships (the models are tens of MB and depend on the torch/nequip/sevenn versions); this is the command
that makes them, with the numbers the benchmarks report. On the 75 bundled GPAW (fast protocol) PbTiO3/SrTiO3
frames (two perturbation sets and the actively learned frames):

1. the teacher: SevenNet-0 fine-tuned (``mlip train --from sevennet-0``, stress not fitted: the fast protocol's
   Pulay stress is tens of GPa);
2. the dipole GNN on Born-charge branches (``gnn train --label-branches perovskite-born``);
3. the student for large MD: Allegro distilled from the teacher (``mlip distill``) on teacher MD at 300/600/1000 K
   and random strains/displacements of tetragonal PbTiO3, cubic SrTiO3 and a (PbTiO3)2/(SrTiO3)2 superlattice
   (the cells the anneal visits), checked against the held-out DFT frames of the teacher's own test split
   (OUT/teacher_test.xyz, written from the teacher's split.json).

Usage::

    python benchmarks/pto_sto_models.py --out pto_sto_models            # ~45 min on 2 cores
    python benchmarks/pto_sto_models.py --out pto_sto_models --print    # the three commands, nothing run

Writes OUT/frames.xyz, OUT/teacher (model.sevenn.pth), OUT/gnn (model.pt), OUT/student (model.nequip.zip) and
OUT/models.json (paths, held-out errors). Steps already done (their metrics.json exists) are skipped.
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import subprocess
from pathlib import Path

#: minutes of each training on 2 CPU cores (the benchmarks' numbers)
MINUTES = {'teacher': 10, 'gnn': 7, 'student': 15}
DISTILL_FRAMES = 480


def training_frames(out: Path) -> Path:
    """The bundled PbTiO3/SrTiO3 frames (GPAW fast) in one extxyz."""
    from aiida_flexo.data import read_frames, write_frames
    from aiida_flexo.resources import PTO_STO_ACTIVE_FILE, bundled_path, pto_sto_frame_paths

    frames = [f for path in pto_sto_frame_paths() for f in read_frames(path)]
    frames += read_frames(bundled_path(PTO_STO_ACTIVE_FILE))
    return write_frames(out / 'frames.xyz', frames)


def distill_structures(out: Path) -> Path:
    """The cells the student's teacher samples (2×2×2 or 2×2 in plane): tetragonal PbTiO3 on SrTiO3 at c = 4.152,
    4.5 and 4.8 Å (the long-c side, where a student trained near 4.15 Å ran away to ever longer c and exploded in a
    heating run), cubic PbTiO3 (a = 3.97 Å, the paraelectric phase of a heating run), cubic SrTiO3 and a
    (PbTiO3)2/(SrTiO3)2 superlattice."""
    from ase.io import write

    from aiida_flexo.textures.superlattice import build_superlattice

    pto = ('PbTiO3', 'SrTiO3')
    cells = [
        build_superlattice(2, 0, 2, pto, seed='uniform').atoms,
        *(
            build_superlattice(2, 0, 2, pto, seed='uniform', c_out_of_plane={'PbTiO3': c}).atoms
            for c in (4.5, 4.8)
        ),
        build_superlattice(2, 0, 2, pto, a_inplane=3.97, c_out_of_plane={'PbTiO3': 3.97}).atoms,
        build_superlattice(2, 0, 2, ('SrTiO3', 'PbTiO3')).atoms,
        build_superlattice(2, 2, 2, pto, seed='uniform').atoms,
    ]
    for atoms in cells:
        for key in [k for k in atoms.arrays if k not in ('numbers', 'positions')]:
            del atoms.arrays[key]
        atoms.info = {}
    path = out / 'distill_structures.xyz'
    write(path, cells, format='extxyz')
    return path


def teacher_test_frames(out: Path) -> Path:
    """The teacher's held-out DFT frames (its split.json's test set): what the student is checked on."""
    from aiida_flexo.data import Split, read_frames, write_frames

    frames = read_frames(out / 'frames.xyz')
    split = Split.from_json(out / 'teacher' / 'split.json')
    return write_frames(out / 'teacher_test.xyz', [frames[i] for i in split.test])


def commands(out: Path, minutes: dict[str, float] = MINUTES, frames: int = DISTILL_FRAMES) -> list[list[str]]:
    """The three commands of the recipe (teacher, GNN, student)."""
    cli = shutil.which('aiida-flexo') or 'aiida-flexo'
    data, structures = out / 'frames.xyz', out / 'distill_structures.xyz'
    teacher = out / 'teacher'
    return [
        [cli, 'mlip', 'train', str(data), '--from', 'sevennet-0', '--out', str(teacher),
         '--max-time', f'{minutes["teacher"]}m', '--epochs', '50', '--stress-weight', '0'],
        [cli, 'gnn', 'train', str(data), '--out', str(out / 'gnn'), '--epochs', '600',
         '--max-time', f'{minutes["gnn"]}m', '--label-branches', 'perovskite-born', '--lr', '1e-3', '--quiet'],
        [cli, 'mlip', 'distill', str(teacher / 'model.sevenn.pth'), '--structures', str(structures),
         '--out', str(out / 'student'), '--dft', str(out / 'teacher_test.xyz'), '--frames', str(frames),
         '--temperatures', '300,600,1000', '--stress-weight', '0', '--epochs', '10000',
         '--max-time', f'{minutes["student"]}m', '--patience', '100'],
    ]  # fmt: skip


def build_models(out: Path, minutes: dict[str, float] = MINUTES, frames: int = DISTILL_FRAMES) -> dict:
    """Run the recipe (skipping finished steps); returns OUT/models.json's content."""
    out.mkdir(parents=True, exist_ok=True)
    training_frames(out)
    distill_structures(out)
    done = [out / 'teacher' / 'metrics.json', out / 'gnn' / 'metrics.json', out / 'student' / 'distill.json']
    for command, marker in zip(commands(out, minutes, frames), done):
        if not marker.exists():
            print('$', shlex.join(command), flush=True)
            subprocess.run(command, check=True)
        if marker == done[0]:
            teacher_test_frames(out)
    models = {
        'teacher': str(out / 'teacher' / 'model.sevenn.pth'),
        'dipole': str(out / 'gnn' / 'model.pt'),
        'student': str(out / 'student' / 'model.nequip.zip'),
        'teacher_metrics': json.loads(done[0].read_text()).get('test'),
        'dipole_metrics': json.loads(done[1].read_text()).get('test'),
        'distill': json.loads(done[2].read_text()),
    }
    (out / 'models.json').write_text(json.dumps(models, indent=1))
    return models


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument('--out', type=Path, default=Path('pto_sto_models'))
    parser.add_argument('--print', action='store_true', help='Print the commands only.')
    parser.add_argument('--frames', type=int, default=DISTILL_FRAMES, help='Teacher frames for the student.')
    args = parser.parse_args()
    if args.print:
        for command in commands(args.out, frames=args.frames):
            print(shlex.join(command))
        return
    models = build_models(args.out, frames=args.frames)
    print(json.dumps({k: v for k, v in models.items() if k != 'distill'}, indent=1))


if __name__ == '__main__':
    main()
