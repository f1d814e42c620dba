"""Flexoelectric coefficients from strain-gradient supercells (science core, no AiiDA).

Pipeline (each step plain Python, so the AiiDA workchain can run them as separate processes):
build (:func:`build_supercell`) -> relax (MLIP, fixed sublattice) -> predict per-atom dipoles (any
:class:`aiida_flexo.interfaces.DipoleModel`) -> extract μ (:func:`extract_from_dipoles`), or all at once with
:func:`compute_coefficient`. The index convention (type-II, P_i = μ_ijkl ∂ε_jk/∂x_l) lives in
:mod:`aiida_flexo.flexo.convention`; μ is e/Å inside and nC/m in results.
"""

from aiida_flexo.flexo.born import BornChargeSet, supercell_born_charges
from aiida_flexo.flexo.cells import (
    assign_to_reference,
    born_charge_dipoles,
    cell_dipoles,
    cell_polarization,
    displacements,
    layer_average,
)
from aiida_flexo.flexo.convention import CONVENTION, Component, cubic_voigt, from_pgs_order, parse_component
from aiida_flexo.flexo.convergence import ConvergenceScan, mu_vs_repeat, mu_vs_strain
from aiida_flexo.flexo.extract import Extraction, extract, extract_from_dipoles, fit_mu, two_point_mu
from aiida_flexo.flexo.run import (
    FlexoResult,
    bec_per_atom_dipoles,
    coefficient_runner,
    compute_coefficient,
    predict_per_atom_dipoles,
    relax_structure,
)
from aiida_flexo.flexo.supercell import FlexoSupercell, build_supercell, orthogonal_unit_cell, parse_fix

__all__ = [
    'CONVENTION',
    'BornChargeSet',
    'Component',
    'ConvergenceScan',
    'Extraction',
    'FlexoResult',
    'FlexoSupercell',
    'assign_to_reference',
    'bec_per_atom_dipoles',
    'born_charge_dipoles',
    'build_supercell',
    'cell_dipoles',
    'cell_polarization',
    'coefficient_runner',
    'compute_coefficient',
    'cubic_voigt',
    'displacements',
    'extract',
    'extract_from_dipoles',
    'fit_mu',
    'from_pgs_order',
    'layer_average',
    'mu_vs_repeat',
    'mu_vs_strain',
    'orthogonal_unit_cell',
    'parse_component',
    'parse_fix',
    'predict_per_atom_dipoles',
    'relax_structure',
    'supercell_born_charges',
    'two_point_mu',
]
