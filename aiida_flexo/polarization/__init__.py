"""Polarization conventions: quanta, minimum-image folding, branches and engine-specific readers.

Everything returned here is in e·Å (dipoles) or e/Å² (polarizations) with the physics sign; conversion to C/m² or
µC/cm² goes through :mod:`aiida_flexo.units`.
"""

from aiida_flexo.polarization.branches import BranchResult, align_branch, align_to_reference
from aiida_flexo.polarization.path import path_from_outcars
from aiida_flexo.polarization.quanta import (
    SAFE_CHARGE_QUANTUM,
    closest_lattice_vector,
    half_quantum_margin,
    lattice_shift,
    minimum_image,
    minimum_image_batch,
    polarization_quanta,
    quantum_lattice,
)
from aiida_flexo.polarization.vasp import (
    BerryPhaseResult,
    BornChargesResult,
    VaspOutputError,
    read_berry_phase,
    read_born_charges,
)

__all__ = [
    'SAFE_CHARGE_QUANTUM',
    'BerryPhaseResult',
    'BornChargesResult',
    'BranchResult',
    'VaspOutputError',
    'align_branch',
    'align_to_reference',
    'closest_lattice_vector',
    'half_quantum_margin',
    'lattice_shift',
    'minimum_image',
    'minimum_image_batch',
    'polarization_quanta',
    'quantum_lattice',
    'read_berry_phase',
    'read_born_charges',
    'path_from_outcars',
]
