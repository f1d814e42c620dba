"""Mapping of :class:`~aiida_flexo.engines.inputs.EngineInputs` to GPAW's native parameters (``gpaw.GPAW(**params)``).

Choices (plain values only, so that the dict is JSON and importable without GPAW):

* plane-wave mode only (``mode={'name': 'pw', 'ecut': cutoff}``): LCAO is slower for these cells and needs GBs;
  stress is only available in PW mode;
* Monkhorst–Pack mesh ``kpts={'size': mesh, 'gamma': inputs.gamma_centered}`` (GPAW's ``gamma=False`` is the
  standard MP mesh, off Γ for even sizes);
* spin-paired (no ``spinpol``): the Berry-phase charge quantum is then 2 e for even valence charges;
* symmetry: ``'on'`` for an SCF-only task, ``'off'`` for Berry-phase and Born-charge tasks (GPAW's Berry phase
  needs the full k-mesh), point group off (time reversal kept) for MD, whose displaced frames have no symmetry;
* serial: one GPAW process per core, ``OPENBLAS_NUM_THREADS=1`` (set by the driver's command line);
* ``convergence={'energy': eV per valence electron, 'density': ...}``, ``maxiter``;
* ``engine_options['gpaw']`` is merged last (an escape hatch, recorded with the results).
"""

from __future__ import annotations

from typing import Any

from ase import Atoms

from aiida_flexo.engines.inputs import EngineInputs, InputsError, register_engine

_OCCUPATIONS = {
    'fermi-dirac': {'name': 'fermi-dirac'},
    'gaussian': {'name': 'methfessel-paxton', 'order': 0},
    'methfessel-paxton': {'name': 'methfessel-paxton', 'order': 1},
    'marzari-vanderbilt': {'name': 'marzari-vanderbilt'},
}


@register_engine('gpaw')
def gpaw_parameters(inputs: EngineInputs, atoms: Atoms, *, task: str = 'scf') -> dict[str, Any]:
    """GPAW keyword arguments (without ``txt``) for ``inputs`` on ``atoms``.

    ``task``: ``'scf'`` (symmetry on), ``'berry_phase'`` (symmetry off; also used for Born charges) or ``'md'``
    (point group off).
    """
    if inputs.born_charges.enabled and inputs.born_charges.method != 'finite_differences':
        raise InputsError(
            f'GPAW computes Born charges only by finite differences of the Berry phase; set born_charges.method = '
            f"'finite_differences' (got {inputs.born_charges.method!r})"
        )
    symmetry: str | dict[str, bool]
    if task == 'scf':
        symmetry = 'on'
    elif task == 'berry_phase':
        symmetry = 'off'
    elif task == 'md':
        symmetry = {'point_group': False}
    else:
        raise InputsError(f"unknown GPAW task {task!r}; use 'scf', 'berry_phase' or 'md'")
    params: dict[str, Any] = {
        'mode': {'name': 'pw', 'ecut': float(inputs.setting('cutoff'))},
        'xc': inputs.xc,
        'kpts': {'size': inputs.kpoint_mesh(atoms), 'gamma': bool(inputs.gamma_centered)},
        'occupations': {**_OCCUPATIONS[inputs.smearing], 'width': float(inputs.setting('smearing_width'))},
        'convergence': {
            'energy': float(inputs.setting('scf_energy_tolerance')),
            'density': float(inputs.setting('scf_density_tolerance')),
        },
        'maxiter': int(inputs.setting('max_scf_iterations')),
        'symmetry': symmetry,
    }
    params.update(inputs.engine_options.get('gpaw', {}))
    mode = params['mode']
    if not (mode == 'pw' or (isinstance(mode, dict) and mode.get('name') == 'pw')):
        raise InputsError(f'the GPAW engine runs in plane-wave mode only; engine_options set mode = {mode!r}')
    return params
