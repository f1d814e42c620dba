"""Calcfunctions of ``flexo.verify``: cut-outs of the final structures, and the verdict on the models there."""

from __future__ import annotations

from aiida import orm
from aiida.engine import calcfunction

from aiida_flexo.nodes.frames import FramesData

#: cut-out settings (flexo.verify ``cutout``) and their defaults
CUTOUT_DEFAULTS = {'cells_along_gradient': 2, 'count': 2, 'max_atoms': 40, 'grid': None, 'size': None}


def cutouts_of(structure, settings: dict, supercell: dict | None = None) -> list:
    """ase cut-outs of one structure (see :func:`cutout_frames`)."""
    from aiida_flexo.active.cutouts import CutoutError, flexo_cutouts, grid_cutouts

    settings = {**CUTOUT_DEFAULTS, **settings}
    atoms = structure.get_ase()
    if supercell is not None:
        from aiida_flexo.flexo.supercell import FlexoSupercell

        return flexo_cutouts(
            FlexoSupercell.from_dict(supercell),
            atoms,
            cells_along_gradient=int(settings['cells_along_gradient']),
            count=int(settings['count']),
            max_atoms=settings['max_atoms'],
        )
    if settings['grid'] is not None:  # a perovskite superlattice on a grid of cells
        import numpy as np

        from aiida_flexo.textures.superlattice import assign_cells

        grid = np.asarray(settings['grid'], dtype=int)
        size = np.asarray(settings['size'] or [min(2, n) for n in grid], dtype=int)
        cell_index, _ = assign_cells(atoms, tuple(grid))
        count = int(settings['count'])
        starts = [[0, 0, int(round(k * grid[2] / count)) % grid[2]] for k in range(count)]
        return grid_cutouts(atoms, cell_index, grid, size, starts, max_atoms=settings['max_atoms'])
    if settings['max_atoms'] is not None and len(atoms) > settings['max_atoms']:
        raise CutoutError(
            f'{structure.get_formula()} has {len(atoms)} atoms, more than max_atoms = {settings["max_atoms"]}, '
            'and no supercell record or grid to cut it by: give its flexo supercell (supercells.<key>) or the '
            'superlattice grid (cutout.grid), or raise max_atoms'
        )
    return [atoms]


@calcfunction
def cutout_frames(
    structure: orm.StructureData, settings: orm.Dict, supercell: orm.Dict | None = None
) -> FramesData:
    """Periodic cells small enough for DFT cut from ``structure`` (unlabelled frames).

    With ``supercell`` (the flexo.coefficient ``supercell`` output): ``count`` blocks of ``cells_along_gradient``
    cells along the strain gradient (:func:`aiida_flexo.active.cutouts.flexo_cutouts`). With ``settings.grid``
    (cells of a perovskite superlattice): ``count`` blocks of ``size`` cells spread across the layers. Otherwise the
    structure itself, when it has at most ``max_atoms`` atoms.
    """
    frames = cutouts_of(structure, settings.get_dict(), None if supercell is None else supercell.get_dict())
    for i, atoms in enumerate(frames):
        atoms.info['origin'] = f'cutout:{structure.uuid}:{i}'
    return FramesData.from_frames(frames, source=f'cut-outs of {structure.get_formula()} <{structure.uuid}>')


@calcfunction
def verification_report(
    thresholds: orm.Dict,
    labelled: FramesData,
    compare_energy: orm.Bool,
    mlip_eval: orm.Dict | None = None,
    gnn_eval: orm.Dict | None = None,
    mlip_training: orm.Dict | None = None,
    gnn_training: orm.Dict | None = None,
) -> orm.Dict:
    """The models' errors on the DFT-labelled cut-outs next to their held-out errors, and the verdict
    (:func:`aiida_flexo.active.verify.verification_summary`).

    ``compare_energy`` False leaves the energy out: energies of two DFT codes (or settings) differ by constants per
    element, so they are compared only when the cut-outs are labelled like the training frames.
    """
    from aiida_flexo.active.verify import verification_summary
    from aiida_flexo.provenance import held_out_metrics

    def metrics(node):
        return {} if node is None else node.get_dict()

    def held_out(node):
        return {} if node is None else held_out_metrics(node.get_dict())

    mlip = metrics(mlip_eval)
    if not compare_energy.value:
        mlip = {k: v for k, v in mlip.items() if not k.startswith('energy_')}
    summary = verification_summary(
        {'mlip': mlip, 'dipole': metrics(gnn_eval)},
        {'mlip': held_out(mlip_training), 'dipole': held_out(gnn_training)},
        thresholds.get_dict(),
        n_frames=labelled.n_frames,
    )
    return orm.Dict(summary)
