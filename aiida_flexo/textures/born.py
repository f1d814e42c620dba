"""Born-charge baseline of the local polarization of perovskite superlattices: p_i = Z*_i · u_i.

The reference of the displacements u_i (Å) is the undistorted superlattice (same builder settings, no seed); the
Born charges Z* (e) are per material and per site, the oxygen tensor anisotropic along its B–O bond (O_x sits at
(0, ½, ½), bonded to B along x). Together with :func:`aiida_flexo.textures.field.field_from_model` this gives the
classic local-mode map (Zhong, Vanderbilt and Rabe) next to the GNN's, and a map that does not depend on how well a
dipole model was trained.

Default values: :data:`aiida_flexo.polarization.perovskite.LITERATURE_BORN_CHARGES` (Zhong, King-Smith and
Vanderbilt, PRL 72, 3618 (1994), with the acoustic sum rule imposed), where the cell-dipole reference of the label
branches lives too.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from aiida_flexo.flexo.synthetic import LinearBornChargeModel
from aiida_flexo.polarization.perovskite import LITERATURE_BORN_CHARGES
from aiida_flexo.textures.superlattice import Superlattice, build_superlattice


def site_born_charges(superlattice: Superlattice, charges: Mapping[str, Mapping[str, float]] | None = None):
    """(n_atoms, 3, 3) Born-charge tensors (e) of every atom, from its layer's material and its site."""
    charges = LITERATURE_BORN_CHARGES if charges is None else charges
    missing = sorted(set(superlattice.layer_materials) - set(charges))
    if missing:
        raise ValueError(
            f'no Born charges for {missing}: give them as {{material: {{"A", "B", "O_par", "O_perp"}}}} '
            f'(known: {sorted(charges)})'
        )
    out = np.zeros((len(superlattice.site), 3, 3))
    layers = superlattice.cell_index[:, 2]
    for index, (site, layer) in enumerate(zip(superlattice.site, layers, strict=True)):
        z = charges[superlattice.layer_materials[layer]]
        if site == 0:
            out[index] = z['A'] * np.eye(3)
        elif site == 1:
            out[index] = z['B'] * np.eye(3)
        else:
            diagonal = np.full(3, z['O_perp'])
            diagonal[site - 2] = z['O_par']  # O_x, O_y, O_z: bonded to B along x, y, z
            out[index] = np.diag(diagonal)
    return out


def born_charge_model(
    superlattice: Superlattice,
    charges: Mapping[str, Mapping[str, float]] | None = None,
    reference: Superlattice | None = None,
) -> LinearBornChargeModel:
    """A dipole model p_i = Z*_i · u_i (e·Å) for frames of ``superlattice`` (same atoms, same order).

    ``reference``: the undistorted superlattice the displacements are measured from (default: rebuilt from
    ``superlattice`` without a seed, same in-plane parameter and layer heights).
    """
    if reference is None:
        reference = undistorted_superlattice(superlattice)
    if len(reference.atoms) != len(superlattice.atoms):
        raise ValueError('the reference superlattice must have the same atoms as the superlattice')
    return LinearBornChargeModel(site_born_charges(superlattice, charges), reference=reference.atoms)


def undistorted_superlattice(superlattice: Superlattice) -> Superlattice:
    """The superlattice rebuilt without a seed (same materials, in-plane parameter and layer heights)."""
    materials = list(dict.fromkeys(superlattice.layer_materials))
    m = superlattice.layer_materials.count(materials[0])
    n = len(superlattice.layer_materials) - m
    if len(materials) == 1:
        materials = materials * 2
    heights = {name: float(h) for name, h in zip(superlattice.layer_materials, superlattice.layer_heights)}
    nx, ny, _ = superlattice.grid_shape
    rebuilt = build_superlattice(
        m, n, (nx, ny), tuple(materials), a_inplane=superlattice.a_inplane, c_out_of_plane=heights
    )
    if rebuilt.layer_materials != list(superlattice.layer_materials):
        raise ValueError('cannot rebuild the undistorted reference of this superlattice: pass reference=')
    return rebuilt
