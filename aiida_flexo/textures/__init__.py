"""Polar textures: superlattices, local polarization maps, domains, domain walls and skyrmion numbers.

Modules (plain numpy/scipy/ase; no AiiDA):

- :mod:`~aiida_flexo.textures.superlattice`: (A)m/(B)n perovskite stacks, domain seeds, B-centred cell assignment.
- :mod:`~aiida_flexo.textures.field`: per-cell dipoles and the polarization field P(x, y, z) in C/m².
- :mod:`~aiida_flexo.textures.topology`: Berg–Lüscher skyrmion number per layer.
- :mod:`~aiida_flexo.textures.domains`: domains, domain walls (position, Néel/Bloch/Ising, tanh width).
- :mod:`~aiida_flexo.textures.analysis`: :func:`analyse_texture`, everything above in one JSON-ready dict.
- :mod:`~aiida_flexo.textures.plots` / :mod:`~aiida_flexo.textures.vtk`: pictures, legacy VTK, HTML.
- :mod:`~aiida_flexo.textures.synthetic`: analytic skyrmions and domain walls (tests, demos).
"""

from aiida_flexo.textures.analysis import analyse_texture
from aiida_flexo.textures.domains import Domains, DomainWall, find_walls, fit_wall_profile, label_domains
from aiida_flexo.textures.field import (
    PolarizationField,
    cell_dipoles,
    field_from_model,
    load_field,
    polarization_field,
    save_field,
    time_average,
)
from aiida_flexo.textures.superlattice import (
    MATERIALS,
    SUBSTRATES,
    Perovskite,
    Superlattice,
    assign_cells,
    build_superlattice,
)
from aiida_flexo.textures.topology import SkyrmionNumber, skyrmion_number, skyrmion_numbers, solid_angle

__all__ = [
    'MATERIALS',
    'SUBSTRATES',
    'DomainWall',
    'Domains',
    'Perovskite',
    'PolarizationField',
    'SkyrmionNumber',
    'Superlattice',
    'analyse_texture',
    'assign_cells',
    'build_superlattice',
    'cell_dipoles',
    'field_from_model',
    'find_walls',
    'fit_wall_profile',
    'label_domains',
    'load_field',
    'polarization_field',
    'save_field',
    'skyrmion_number',
    'skyrmion_numbers',
    'solid_angle',
    'time_average',
]
