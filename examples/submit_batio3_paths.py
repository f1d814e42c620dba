"""Label BaTiO3 along the paths cubic → tetragonal (polar along z and along x) with GPAW and train the dipole GNN on
them: ``verdi -p PROFILE run examples/submit_batio3_paths.py``.

The frames that fix the absolute polarization of each phase (the absolute-polarization issue): ``flexo.sampling``
interpolates positions and cell from the centrosymmetric cubic reference to each polar phase (λ = 0 … 1, as in a
Berry-phase branch calculation) and perturbs the structures along the way; ``flexo.label`` labels them with GPAW
(fast protocol: energy, forces, stress, Berry-phase dipole); the GNN trains on the labels put on the branch
continuous from the reference, with the reference's half-quantum offset (no free offset). Everything goes through
``flexo.pipeline`` with no flexo component, so every frame, setting and model is on record. Cells:

* ``cubic`` (reference): a = 4.00 Å; ``tet_z`` and ``tet_x``: tetragonal a = 3.99 Å, c = 4.06 Å along z (x), Ti
  +0.10 Å, apical O −0.06 Å, equatorial O −0.10 Å along the polar axis, relative to Ba (5 atoms);
* the same as 2×2×2 supercells (40 atoms, fewer points along the path).

The frames shipped as ``aiida_flexo/resources/BaTiO3_gpaw_paths.xyz`` come from this script (defaults). Cost on
2 cores (2 daemon workers): about 40 min of DFT. Afterwards ``aiida-flexo frames export <frames pk> paths.xyz``.
"""

from __future__ import annotations

import argparse

import numpy as np
from aiida import orm
from aiida.engine import submit
from ase import Atoms

from aiida_flexo.workflows.pipeline import FlexoPipelineWorkChain

# ------------------------------------------------------------------------------------------------- SETTINGS
FLEXO_CODE = 'aiida-flexo@localhost'
A_CUBIC = 4.00  # Å
A_TET, C_TET = 3.99, 4.06  # Å
SHIFTS = {'Ti': 0.10, 'O_apical': -0.06, 'O_equatorial': -0.10}  # Å along the polar axis, relative to Ba
PATH_UNIT = {'n_points': 6, 'n_perturbations': 1, 'displacement': 0.03, 'seed': 0}  # 5-atom cells
PATH_SUPER = {'n_points': 3, 'n_perturbations': 0, 'seed': 10}  # 40-atom cells
GNN = {'epochs': 200, 'bec_weight': 0.0, 'seed': 0}
MLIP = {'epochs': 1, 'max_time': '3m', 'seed': 0}
# -----------------------------------------------------------------------------------------------------------


def perovskite(a: float, c: float, axis: int | None) -> Atoms:
    """5-atom BaTiO3 (Ba, Ti, O_x, O_y, O_z), polar along ``axis`` (None: cubic centrosymmetric)."""
    lengths = np.full(3, a)
    if axis is not None:
        lengths[axis] = c
    fractional = np.array(
        [[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]], dtype=float
    )
    positions = fractional * lengths
    if axis is not None:
        positions[1, axis] += SHIFTS['Ti']
        for oxygen in (2, 3, 4):  # O_z sits at (½, ½, 0): apical along z; O_x apical along x
            apical = (oxygen == 2 and axis == 2) or (oxygen == 4 and axis == 0) or (oxygen == 3 and axis == 1)
            positions[oxygen, axis] += SHIFTS['O_apical' if apical else 'O_equatorial']
    return Atoms('BaTiO3', positions=positions, cell=np.diag(lengths), pbc=True)


def structures(repeat: int) -> tuple[dict[str, orm.StructureData], orm.StructureData]:
    phases = {f'tet_z_{repeat}': perovskite(A_TET, C_TET, 2), f'tet_x_{repeat}': perovskite(A_TET, C_TET, 0)}
    cubic = perovskite(A_CUBIC, A_CUBIC, None)
    as_node = lambda atoms: orm.StructureData(ase=atoms.repeat(repeat))  # noqa: E731
    return {k: as_node(v) for k, v in phases.items()}, as_node(cubic)


def main() -> orm.WorkChainNode:
    parser = argparse.ArgumentParser(description='Label BaTiO3 paths with GPAW and train the dipole GNN.')
    parser.add_argument('--supercell', type=int, default=2, help='Repeat of the larger cells (0: none).')
    args = parser.parse_args()
    code = orm.load_code(FLEXO_CODE)
    nodes = []
    for repeat, path in ((1, PATH_UNIT), (args.supercell, PATH_SUPER)):
        if repeat < 1:
            continue
        phases, cubic = structures(repeat)
        overrides = {
            'components': [],
            'sampling': {'temperatures': [], 'perturbations': {'n_frames': 0}, 'path': path},
            'gnn': GNN,
            'mlip': MLIP,
            'thresholds': {},
        }
        builder = FlexoPipelineWorkChain.get_builder_from_protocol(
            code, phases, protocol='fast', overrides=overrides, references={f'cubic_{repeat}': cubic}
        )
        builder.metadata.label = f'BaTiO3 paths, {repeat}×{repeat}×{repeat}'
        node = submit(builder)
        print(f'submitted flexo.pipeline <{node.pk}> ({builder.metadata.label})')
        nodes.append(node)
    return nodes


if __name__ == '__main__':
    main()
