"""Label PbTiO3/SrTiO3 cells with DFT and train both models: ``verdi -p PROFILE run examples/submit_pto_sto.py``.

The training data of the polar-texture route (issue 9): small bulk and interface cells of PbTiO3 and SrTiO3,
perturbed (random displacements and strains), labelled with the open DFT engine (GPAW, fast protocol: energy,
forces, stress, Berry-phase dipole along a, b and c) and used to train the dipole GNN and the Allegro potential,
all through ``flexo.pipeline`` with no flexo component (``components = []``), so every frame, setting and model is
on record. Phases (all with the SrTiO3 in-plane lattice parameter 3.905 Å):

* ``pto_para``: PbTiO3, tetragonal c = 4.152 Å, centrosymmetric;
* ``pto_up``: PbTiO3 polar along +z (B +0.15 Å, O −0.30 Å from the A sublattice);
* ``pto_x``: PbTiO3 polar along +x (the in-plane components of Néel walls and skyrmion bubbles);
* ``sto``: SrTiO3 cubic;
* ``sl_para`` and ``sl_up``: the (PbTiO3)1/(SrTiO3)1 interface cell (10 atoms), centrosymmetric and polar.

Cost on 2 cores (2 daemon workers): about 25 min of DFT for 6 frames per phase, then minutes of training.
More frames (a new random pattern, larger displacements for the potential)::

    verdi -p PROFILE run examples/submit_pto_sto.py -- --frames-per-phase 6 --seed 100 --displacement 0.12

Train both models on the 67 frames shipped with aiida-flexo instead (no DFT; the Allegro fit stops at its time
limit or patience; ``--threads`` of the Allegro job)::

    verdi -p PROFILE run examples/submit_pto_sto.py -- --bundled --gnn-epochs 600 --mlip-epochs 2000 --threads 2

The potential follows the pipeline's route (``--route auto``: below 500 frames SevenNet-0 is fine-tuned) and, since
textures need MD of thousands of atoms, is distilled into a fast Allegro student (``mlip_student`` output; the
teacher labels MD and perturbed frames of the phases above; ``--no-distill`` skips it).

Afterwards: ``aiida-flexo frames export <frames pk> pto_sto.xyz`` writes the labelled frames, and
``verdi node repo dump <model pk> DIR`` the models (the pks are in ``verdi process show <pk>``).
"""

from __future__ import annotations

import argparse

import numpy as np
from aiida import orm
from aiida.engine import submit

from aiida_flexo.calcjobs.base import serial_options
from aiida_flexo.data import read_frames
from aiida_flexo.nodes.frames import FramesData
from aiida_flexo.resources import pto_sto_frame_paths
from aiida_flexo.textures.superlattice import build_superlattice
from aiida_flexo.workflows.pipeline import FlexoPipelineWorkChain

# ------------------------------------------------------------------------------------------------- SETTINGS
FLEXO_CODE = 'aiida-flexo@localhost'
FRAMES_PER_PHASE = 6
DISPLACEMENT_A = 0.08  # standard deviation of the random atomic displacements, Å
STRAIN = 0.015  # maximum random strain component
POLAR = {'displacement_B': 0.15, 'displacement_O': -0.30}  # Å, relative to the A sublattice
# A–B pairs of these cells sit at few distances: keep the bond-charge start regular (the default, said explicitly).
# New labels come with the paths from the centrosymmetric references (REFERENCES): the GNN fits them on the branch
# continuous from each reference (the default). The bundled frames have no reference frame; their labels, close to
# half a quantum in 5-atom PbTiO3 cells, are fitted on the branch of their Born-charge dipole instead.
GNN = {'epochs': 400, 'bec_weight': 0.0, 'seed': 0, 'bond_rcond': 1e-3}
BUNDLED_BRANCHES = {'label_branches': 'perovskite-born'}
#: centrosymmetric references: paths are sampled from each to the phases with its atoms (pto_up, pto_x; sl_up)
REFERENCES = ('pto_para', 'sl_para')
PATH = {'n_points': 4, 'n_perturbations': 1, 'displacement': 0.03, 'seed': 0}
MLIP = {'epochs': 60, 'model_size': 'small', 'seed': 0}
# training on the bundled frames: early stopping on the validation loss, stress not fitted (the fast protocol's
# Pulay stress is tens of GPa), a time limit per fit
BUNDLED_MLIP = {'patience': 200, 'stress_weight': 0.0, 'max_time': '25m'}
BUNDLED_GNN = {'lr': 1e-3, 'patience': 150}  # as benchmarks/pto_sto_gnn.py
# the teacher's frames for the Allegro student (MD at each temperature and random strains/displacements)
DISTILL_SAMPLING = {'temperatures': [300.0, 600.0, 1000.0], 'n_frames': 400, 'stride': 5}
# -----------------------------------------------------------------------------------------------------------


def phases() -> dict[str, orm.StructureData]:
    """The bulk and interface cells, by name (StructureData)."""
    along_x = np.zeros((1, 1, 1, 3))
    along_x[..., 0] = 1.0
    cells = {
        'pto_para': build_superlattice(1, 0, 1, ('PbTiO3', 'SrTiO3')),
        'pto_up': build_superlattice(1, 0, 1, ('PbTiO3', 'SrTiO3'), seed='uniform', **POLAR),
        'pto_x': build_superlattice(1, 0, 1, ('PbTiO3', 'SrTiO3'), seed=along_x, **POLAR),
        'sto': build_superlattice(1, 0, 1, ('SrTiO3', 'PbTiO3')),
        'sl_para': build_superlattice(1, 1, 1, ('PbTiO3', 'SrTiO3')),
        'sl_up': build_superlattice(1, 1, 1, ('PbTiO3', 'SrTiO3'), seed='uniform', seed_in='both', **POLAR),
    }
    out = {}
    for name, superlattice in cells.items():
        atoms = superlattice.atoms.copy()
        for key in list(atoms.arrays):
            if key not in ('numbers', 'positions'):
                del atoms.arrays[key]
        atoms.info = {}
        out[name] = orm.StructureData(ase=atoms)
    return out


def main() -> orm.WorkChainNode:
    parser = argparse.ArgumentParser(description='Label PbTiO3/SrTiO3 cells with GPAW and train both models.')
    parser.add_argument('--frames-per-phase', type=int, default=FRAMES_PER_PHASE)
    parser.add_argument(
        '--seed', type=int, default=0, help='Seed of the perturbations (phase i uses seed + i).'
    )
    parser.add_argument('--displacement', type=float, default=DISPLACEMENT_A, help='Displacement σ, Å.')
    parser.add_argument('--strain', type=float, default=STRAIN, help='Maximum strain component.')
    parser.add_argument('--gnn-epochs', type=int, default=GNN['epochs'])
    parser.add_argument('--mlip-epochs', type=int, default=MLIP['epochs'])
    parser.add_argument(
        '--bundled', action='store_true', help='Train on the 67 bundled frames (no DFT) instead of labelling.'
    )
    parser.add_argument('--threads', type=int, default=None, help='Threads of the potential training job.')
    parser.add_argument(
        '--route', default='auto', help='Potential route: auto, allegro or a pretrained name.'
    )
    parser.add_argument(
        '--distill',
        action=argparse.BooleanOptionalAction,
        default=True,
        help='Distil the potential into an Allegro student for the large MD of the textures.',
    )
    args = parser.parse_args()
    code = orm.load_code(FLEXO_CODE)
    frames = None
    gnn, mlip = {**GNN, 'epochs': args.gnn_epochs}, {**MLIP, 'epochs': args.mlip_epochs}
    if args.bundled:
        atoms = [frame for path in pto_sto_frame_paths() for frame in read_frames(path, require=('dipole',))]
        frames = FramesData.from_frames(atoms, source='bundled PbTiO3/SrTiO3 frames (GPAW fast, 2 sets)')
        gnn.update(BUNDLED_GNN, **BUNDLED_BRANCHES)
        mlip.update(BUNDLED_MLIP)
    options = None
    if args.threads is not None:
        options = {'mlip': serial_options(threads=args.threads)}  # the GNN fits its small cells on one thread
    perturbations = {
        'n_frames': args.frames_per_phase,
        'displacement': args.displacement,
        'strain': args.strain,
        'seed': args.seed,
    }
    overrides = {
        'components': [],
        'sampling': {'temperatures': [], 'perturbations': perturbations, 'path': PATH},
        'gnn': gnn,
        'mlip': mlip,
        'thresholds': {},
    }
    structures = phases()
    references = {name: structures[name] for name in REFERENCES}
    builder = FlexoPipelineWorkChain.get_builder_from_protocol(
        code,
        structures,
        protocol='fast',
        overrides=overrides,
        frames=frames,
        options=options,
        references=None if args.bundled else references,
    )
    builder.potential_route = orm.Str(args.route)
    builder.distill = orm.Bool(args.distill)
    builder.distill_sample.parameters = orm.Dict(DISTILL_SAMPLING)
    what = 'models on the bundled frames' if args.bundled else 'labels and models (GPAW fast)'
    builder.metadata.label = f'PbTiO3/SrTiO3 {what}'
    node = submit(builder)
    print(f'Submitted FlexoPipelineWorkChain<{node.pk}> ({node.label})')
    print(f'  follow it:      verdi process list -a -p 1   |   verdi process report {node.pk}')
    return node


main()
