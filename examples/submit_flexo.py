"""Submit the aiida-flexo pipeline: ``verdi run submit_flexo.py`` (or ``verdi -p PROFILE run ...``).

Edit the SETTINGS block, then run it with verdi: it picks the codes by label, sets the scheduler resources of every
step, submits ``flexo.pipeline`` to the daemon, and prints the pk and how to follow it.

On a laptop the defaults work as they are after ``aiida-flexo setup`` (embedded profile, ``localhost``
computer, the bundled BaTiO3 frames, the fast protocol): ``verdi -p flexo run examples/submit_flexo.py``.

On a cluster (Slurm): set up a computer and the codes once, e.g. with the YAML files next to this script::

    verdi computer setup --config examples/computer_slurm.yaml
    verdi computer configure core.ssh my-cluster --config examples/computer_slurm_ssh.yaml
    verdi code create core.code.installed --config examples/code_aiida_flexo_slurm.yaml
    verdi code create core.code.installed --config examples/code_vasp_slurm.yaml      # for engine 'vasp'

(aiida-flexo must be installed on the cluster in the environment the code's ``prepend_text`` activates), then set
``FLEXO_CODE = 'aiida-flexo@my-cluster'``, ``ENGINE``, ``DFT_CODE`` and ``RESOURCES`` below.
"""

from __future__ import annotations

from aiida import orm
from aiida.engine import submit

from aiida_flexo.data import read_frames
from aiida_flexo.flexo.structures import builtin
from aiida_flexo.nodes.frames import FramesData
from aiida_flexo.resources import bundled_path
from aiida_flexo.workflows.pipeline import FlexoPipelineWorkChain

# ------------------------------------------------------------------------------------------------- SETTINGS
FLEXO_CODE = 'aiida-flexo@localhost'  # runs training, relaxation, predictions (and GPAW labels)
ENGINE = 'frames'  # 'frames': the labelled frames below; 'gpaw' or 'vasp': sample and label with DFT
DFT_CODE = None  # e.g. 'vasp-6.4@my-cluster' for ENGINE = 'vasp' (None: FLEXO_CODE, for 'gpaw')
POTENTIAL_FAMILY = 'PBE.54'  # POTCAR family (VASP)
PROTOCOL = 'fast'  # 'fast' (minutes, not converged), 'moderate' (the seed setup), 'precise'
COMPONENTS = ['3333']  # μ components in the convention P_i = μ_ijkl ∂ε_jk/∂x_l
FRAMES_FILE = str(bundled_path('BaTiO3_qe_berry_bec.xyz'))  # labelled frames for ENGINE = 'frames'
BULK = builtin('BaTiO3-qe')  # bulk cell of the flexo supercells (an ase Atoms; any file via ase.io.read)
#: the potential: 'auto' fine-tunes a pretrained universal potential below 500 labelled frames and trains Allegro
#: from scratch above; or 'allegro', or a pretrained name ('sevennet-0', 'chgnet-0.3.0', ...)
POTENTIAL_ROUTE = 'auto'
DISTILL = False  # also distil the potential into a fast Allegro student (large MD: textures)

#: scheduler options per step (core.direct ignores account/queue; on Slurm set them)
RESOURCES = {
    'label': {'resources': {'num_machines': 1, 'num_mpiprocs_per_machine': 1}, 'max_wallclock_seconds': 3600},
    'gnn': {
        'resources': {'num_machines': 1, 'num_mpiprocs_per_machine': 1},
        'max_wallclock_seconds': 4 * 3600,
    },
    'mlip': {
        'resources': {'num_machines': 1, 'num_mpiprocs_per_machine': 1},
        'max_wallclock_seconds': 8 * 3600,
    },
    'flexo': {'resources': {'num_machines': 1, 'num_mpiprocs_per_machine': 1}, 'max_wallclock_seconds': 3600},
    'sampling': {
        'resources': {'num_machines': 1, 'num_mpiprocs_per_machine': 1},
        'max_wallclock_seconds': 3600,
    },
}
# for a Slurm cluster, add e.g. 'account': 'my_project', 'queue_name': 'normal' to each entry, and
# 'custom_scheduler_commands': '#SBATCH --gres=gpu:1' for the training steps on GPU nodes.
# -----------------------------------------------------------------------------------------------------------


def main() -> orm.WorkChainNode:
    code = orm.load_code(FLEXO_CODE)
    structure = orm.StructureData(ase=BULK)
    frames = None
    if ENGINE == 'frames':
        frames = FramesData.from_frames(read_frames(FRAMES_FILE, require=('dipole',)), source=FRAMES_FILE)
        frames.label = 'labelled frames for the pipeline'
    builder = FlexoPipelineWorkChain.get_builder_from_protocol(
        code,
        {'bulk': structure},
        protocol=PROTOCOL,
        overrides={'components': COMPONENTS},
        frames=frames,
        engine='gpaw' if ENGINE == 'frames' else ENGINE,
        dft_code=orm.load_code(DFT_CODE) if DFT_CODE else None,
        options=RESOURCES,
        potential_family=POTENTIAL_FAMILY,
    )
    builder.potential_route = orm.Str(POTENTIAL_ROUTE)
    builder.distill = orm.Bool(DISTILL)
    builder.metadata.label = f'flexo pipeline {structure.get_formula()} {"/".join(COMPONENTS)} ({PROTOCOL})'
    node = submit(builder)
    print(f'Submitted FlexoPipelineWorkChain<{node.pk}> ({node.label})')
    print(f'  follow it:      verdi process list -a -p 1   |   verdi process status {node.pk}')
    print(f'  what happened:  verdi process report {node.pk}')
    print(f'  the result:     aiida-flexo query list   |   verdi node show {node.pk}')
    return node


main()
