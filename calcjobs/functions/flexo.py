"""Calcfunctions of the flexo coefficient workflow: build the strain-gradient supercell, extract μ.

They call :mod:`aiida_flexo.flexo` (no logic here beyond turning nodes into plain objects and back), so that
every μ in the database is linked to the supercell, the relaxed structure and the dipoles it came from.
"""

from __future__ import annotations

import io
import tempfile
from pathlib import Path

import numpy as np
from aiida import orm
from aiida.engine import calcfunction

from aiida_flexo.calcjobs.utils import jsonable
from aiida_flexo.nodes.coefficient import FlexoCoefficientData

BUILD_KEYS = ('component', 'repeat', 'max_strain', 'fix', 'shape', 'phase_origin', 'transverse_repeat')
EXTRACT_KEYS = ('two_point_method', 'exclude_seam', 'fit_strain_term', 'enforce_asr')


@calcfunction
def build_flexo_supercell(bulk: orm.StructureData, parameters: orm.Dict) -> dict:
    """The strain-gradient supercell of ``bulk`` (see :func:`aiida_flexo.flexo.supercell.build_supercell`).

    ``parameters``: component (e.g. '3333'), repeat (N or [n1, n2, n3]), max_strain, fix (species or indices),
    shape ('sine'/'cosine'), phase_origin, transverse_repeat. Outputs: ``structure`` (displaced supercell),
    ``reference`` (undistorted), ``supercell`` (everything to extract μ later), ``fixed_indices`` (Str).
    """
    from aiida_flexo.flexo.supercell import build_supercell

    options = parameters.get_dict()
    unknown = set(options) - set(BUILD_KEYS)
    if unknown:
        raise ValueError(f'unknown supercell parameters {sorted(unknown)}; allowed: {list(BUILD_KEYS)}')
    supercell = build_supercell(
        bulk.get_ase(),
        options['component'],
        options['repeat'],
        options['max_strain'],
        options.get('fix'),
        **{k: options[k] for k in ('shape', 'phase_origin', 'transverse_repeat') if k in options},
    )
    return {
        'structure': orm.StructureData(ase=supercell.atoms),
        'reference': orm.StructureData(ase=supercell.reference),
        'supercell': orm.Dict(jsonable(supercell.to_dict())),
        'fixed_indices': orm.Str(','.join(str(i) for i in supercell.fixed_indices)),
    }


def _coefficient_node(data: dict, formula: str) -> FlexoCoefficientData:
    mu = data['mu_nC_per_m']
    attributes = {
        'component': data['component'],
        'convention': data['convention'],
        'measures': data.get('measures'),
        'formula': formula,
        'mu_two_point_nC_per_m': mu['two_point'],
        'mu_fit_nC_per_m': mu['fit'],
        'mu_fit_stderr_nC_per_m': mu['fit_stderr'],
        'residual_C_m2': data['residual']['rms_C_m2'],
        'repeat': data['supercell']['repeat'],
        'max_strain': data['supercell']['max_strain'],
        'fixed_species': data['supercell']['fixed_species'],
        'relaxed': bool(data['relaxation'].get('relaxed', False)),
    }
    if 'bec' in data:
        attributes['bec_mu_two_point_nC_per_m'] = data['bec']['mu_nC_per_m']['two_point']
        attributes['bec_mu_fit_nC_per_m'] = data['bec']['mu_nC_per_m']['fit']
    if 'decomposition' in data:
        attributes['clamped_mu_fit_nC_per_m'] = data['decomposition']['clamped_nC_per_m']['fit']
        attributes['lattice_mediated_mu_fit_nC_per_m'] = data['decomposition']['lattice_mediated_nC_per_m'][
            'fit'
        ]
    return FlexoCoefficientData(jsonable(attributes))


@calcfunction
def extract_flexo_coefficient(
    supercell: orm.Dict,
    relaxed_structure: orm.StructureData,
    dipoles: orm.ArrayData,
    **extra,
) -> dict:
    """μ from the per-atom dipoles of the relaxed supercell (:func:`aiida_flexo.flexo.run.analyse`).

    Optional inputs: ``clamped_dipoles`` (ArrayData: dipoles of the imposed field alone, for the clamped /
    lattice-mediated decomposition), ``tolerance_check`` (Dict of :func:`flexo_tolerance_check`, stored with the
    relaxation), ``born_charges`` (ArrayData ``born_charges``: Z* per bulk, basis or supercell
    atom, for the Born-charge route), ``relaxation`` (Dict stored with the result), ``options`` (Dict:
    two_point_method, exclude_seam, fit_strain_term, enforce_asr). Outputs: ``coefficient``
    (flexo.coefficient), ``result`` (Dict, everything in nC/m, C/m², 1/m), ``profile`` (ArrayData per cell) and
    ``plot`` (PNG of displacement and polarization along the axis with the fit).
    """
    from aiida_flexo.flexo.born import supercell_born_charges
    from aiida_flexo.flexo.plots import plot_profile
    from aiida_flexo.flexo.run import analyse
    from aiida_flexo.flexo.supercell import FlexoSupercell

    options = extra['options'].get_dict() if 'options' in extra else {}
    unknown = set(options) - set(EXTRACT_KEYS)
    if unknown:
        raise ValueError(f'unknown extraction options {sorted(unknown)}; allowed: {list(EXTRACT_KEYS)}')
    sc = FlexoSupercell.from_dict(supercell.get_dict())
    relaxed = relaxed_structure.get_ase()
    clamped = extra['clamped_dipoles'].get_array('per_atom_dipoles') if 'clamped_dipoles' in extra else None
    charges = None
    if 'born_charges' in extra:
        charges = supercell_born_charges(
            extra['born_charges'].get_array('born_charges'), sc, enforce_asr=options.get('enforce_asr', True)
        )
    relaxation = {'relaxed': True, **extra['relaxation'].get_dict()} if 'relaxation' in extra else None
    if relaxation is not None and 'tolerance_check' in extra:
        relaxation['tolerance_check'] = extra['tolerance_check'].get_dict()
    result = analyse(
        sc,
        relaxed,
        dipoles.get_array('per_atom_dipoles'),
        relaxation=relaxation,
        clamped_per_atom_dipoles=clamped,
        born_charges=charges,
        dipole_model=f'flexo.gnn model from node {dipoles.uuid}',
        **{k: options[k] for k in ('two_point_method', 'exclude_seam', 'fit_strain_term') if k in options},
    )
    data = jsonable(result.to_dict())
    profile = orm.ArrayData()
    for key, value in data['profile'].items():
        if isinstance(value, list):
            profile.set_array(key, np.asarray([np.nan if v is None else v for v in value], dtype=float))
    profile.set_array('cell_centre_A', np.asarray(data['cells']['centre_A'], dtype=float))
    profile.set_array('cell_P_C_m2', np.asarray(data['cells']['P_C_m2'], dtype=float))
    with tempfile.TemporaryDirectory() as tmp:
        png = plot_profile(result, Path(tmp) / 'profile.png')
        plot = orm.SinglefileData(io.BytesIO(Path(png).read_bytes()), filename='profile.png')
    return {
        'coefficient': _coefficient_node(data, sc.reference.get_chemical_formula(empirical=True)),
        'result': orm.Dict(data),
        'profile': profile,
        'plot': plot,
    }


@calcfunction
def flexo_tolerance_check(
    supercell: orm.Dict,
    loose_structure: orm.StructureData,
    loose_dipoles: orm.ArrayData,
    tight_structure: orm.StructureData,
    tight_dipoles: orm.ArrayData,
    fmax: orm.Float,
) -> orm.Dict:
    """μ of the supercell relaxed to ``fmax`` and to ``fmax / 2``, and whether it changed by more than 2 %
    (:func:`aiida_flexo.flexo.run.tolerance_check`): is the relaxation tight enough for this potential?"""
    from aiida_flexo.flexo.run import analyse, tolerance_check
    from aiida_flexo.flexo.supercell import FlexoSupercell

    sc = FlexoSupercell.from_dict(supercell.get_dict())
    loose = analyse(sc, loose_structure.get_ase(), loose_dipoles.get_array('per_atom_dipoles'))
    tight = analyse(sc, tight_structure.get_ase(), tight_dipoles.get_array('per_atom_dipoles'))
    return orm.Dict(jsonable(tolerance_check(loose, tight, fmax.value)))


@calcfunction
def extrapolate_coefficient(spread: orm.Float, **coefficients) -> orm.Dict:
    """μ∞ of one component from its coefficients at several supercell lengths N
    (:func:`aiida_flexo.flexo.convergence.extrapolate`): the chosen finite-size form, μ∞ ± error (nC/m) and its
    parts, μ(N), every form's fit and how far the longest supercell is from the limit. ``coefficients``: flexo
    coefficient nodes by any key (their ``repeat`` attribute gives N); ``spread``: a committee/seed spread (nC/m)
    added to the error bar (0: none known)."""
    from aiida_flexo.flexo.convergence import extrapolate

    nodes = sorted(coefficients.values(), key=_gradient_repeat)
    components = {node.component for node in nodes}
    if len(components) != 1:
        raise ValueError(f'μ∞ needs coefficients of one component, got {sorted(components)}')
    repeats = [_gradient_repeat(node) for node in nodes]
    limit = extrapolate(repeats, [n.mu_fit for n in nodes], [n.mu_fit_stderr for n in nodes], spread.value)
    data = limit.to_dict()
    data.update(
        {
            'component': nodes[0].component,
            'summary': limit.summary(),
            'spread_source': 'given'
            if spread.value
            else 'none (a single model: no committee or seed spread)',
        }
    )
    return orm.Dict(jsonable(data))


def _gradient_repeat(node) -> int:
    """N, the cells along the gradient axis of a flexo coefficient node."""
    from aiida_flexo.flexo.convention import Component

    return int(node.base.attributes.get('repeat')[Component.parse(node.component).gradient_axis])
