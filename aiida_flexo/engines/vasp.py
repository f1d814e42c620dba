"""Mapping of :class:`~aiida_flexo.engines.inputs.EngineInputs` to VASP's native inputs (INCAR tags and a k-mesh).

Plain Python (no AiiDA): the ``flexo.vasp.label`` WorkChain turns the dicts returned here into aiida-vasp inputs.

One labelled frame needs one or two VASP runs (see :func:`vasp_runs`), each a *task*:

* ``scf``: energy, forces and stress (``IBRION = -1``, ``NSW = 0``; ``ISIF = 2`` computes the stress tensor);
* ``berry_phase``: the same SCF with ``LCALCPOL = .TRUE.`` and ``ISYM = 0``: VASP evaluates the Berry phase along
  the three reciprocal lattice vectors in one run and prints the electronic and ionic dipoles, so a Berry-phase
  frame costs one run that also gives energy, forces and stress. ``DIPOL`` (the origin of the ionic dipole) is left
  to VASP's default so that every frame of a data set uses the same origin; folding with the charge quantum
  (:mod:`aiida_flexo.polarization`) removes the lattice ambiguity afterwards;
* ``born_charges``: a separate linear-response run. ``method = 'dfpt'`` → ``LEPSILON = .TRUE.`` (Born charges Z* and
  ε∞ from density-functional perturbation theory, with ``IBRION = 8``: the Γ force constants by DFPT using the
  symmetry that the frame has — a displaced or MD frame has none, and then 8 does what 7 does; set
  ``engine_options={'vasp': {'IBRION': -1}}`` for Z* and ε∞ alone at a lower cost); ``method = 'finite_differences'``
  → ``LCALCEPS = .TRUE.`` (Z* and ε∞ from finite differences of the Berry-phase polarization in a finite electric
  field, ``EFIELD_PEAD``). VASP cannot restrict either to a subset of atoms or directions; ask for all of them.
  Both need a tight SCF: ``EDIFF`` is capped at :data:`DFPT_EDIFF`;
* ``md``: Born–Oppenheimer MD (``IBRION = 0``, ``NSW`` steps of ``POTIM`` fs, ``TEBEG = TEEND``, ``ISYM = 0``):
  thermostat ``'nose-hoover'`` → ``MDALGO = 2`` with ``SMASS`` (:data:`NOSE_SMASS`, 0: a Nosé period of 40 time
  steps, the damping GPAW uses, :data:`aiida_flexo.engines.inputs.NOSE_HOOVER_STEPS`); ``'langevin'`` → ``MDALGO = 3`` with ``LANGEVIN_GAMMA`` (the friction in ps⁻¹, one value per
  species); ``'nve'`` → ``MDALGO = 1`` with ``ANDERSEN_PROB = 0``. ``engine_options['vasp']`` can also select
  Nosé–Hoover with ``{'MDALGO': 2, 'SMASS': ...}``.

Protocol numbers are VASP's own (:data:`VASP_PROTOCOLS`, used when the engine-neutral field is ``None``):
``ENCUT`` (eV), ``PREC`` and ``EDIFF`` per atom (eV). An explicit engine-neutral ``cutoff`` is ``ENCUT``; an explicit
``scf_energy_tolerance`` (eV per valence electron) becomes ``EDIFF = tolerance × N_valence`` (valence charges from
the POTCAR when given, else :data:`VALENCE_PER_ATOM_ESTIMATE` per atom). The k-mesh is the engine-neutral one
(Γ-centred, from ``kpoint_density`` in k-points per Å⁻¹ including 2π), so that VASP and GPAW labels of a frame
use the same mesh. Smearing width (eV) → ``SIGMA``; ``max_scf_iterations`` → ``NELM``.

Species order: VASP needs the atoms of a species contiguous. :func:`species_order` and :func:`sorting_permutation`
give the stable grouping (species in order of first appearance) that the WorkChain applies before writing POSCAR
and undoes on the outputs, so the labelled frame keeps the caller's atom order.

``engine_options['vasp']`` (INCAR tags, any case) is merged last and recorded with the results.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from ase import Atoms

from aiida_flexo.engines.inputs import ENGINE_PROTOCOLS, EngineInputs, InputsError, register_engine
from aiida_flexo.protocols import inputs_of

#: VASP protocol values, used when the engine-neutral field is ``None``: ENCUT (eV), PREC, EDIFF per atom (eV); the
#: ``vasp`` entries of the engines' protocol file (aiida_flexo/engines/protocols/engine.yaml)
VASP_PROTOCOLS: dict[str, dict[str, Any]] = {
    name: inputs_of(ENGINE_PROTOCOLS, name)['vasp'] for name in ENGINE_PROTOCOLS['protocols']
}
#: Upper bound of EDIFF (eV) for the linear-response (Born charge) runs.
DFPT_EDIFF = 1e-7
#: Bounds of EDIFF (eV) for any run.
EDIFF_RANGE = (1e-9, 1e-4)
#: Valence electrons per atom assumed when the POTCAR valence charges are not given.
VALENCE_PER_ATOM_ESTIMATE = 8.0
#: SMASS of the Nosé–Hoover thermostat (0: a Nosé period of about 40 time steps).
NOSE_SMASS = 0.0
#: Tasks one VASP run can do (see the module docstring).
VASP_TASKS = ('scf', 'berry_phase', 'born_charges', 'md')

_ISMEAR = {'gaussian': 0, 'fermi-dirac': -1, 'methfessel-paxton': 1}
_GGA = {'PBE': 'PE', 'PBESOL': 'PS', 'RPBE': 'RP', 'REVPBE': 'RE', 'PW91': '91', 'AM05': 'AM'}
_METAGGA = {'SCAN': 'SCAN', 'R2SCAN': 'R2SCAN'}


def species_order(atoms: Atoms) -> list[str]:
    """Chemical symbols in order of first appearance (the POSCAR species order used by the WorkChain)."""
    order: list[str] = []
    for symbol in atoms.get_chemical_symbols():
        if symbol not in order:
            order.append(symbol)
    return order


def sorting_permutation(symbols: list[str]) -> np.ndarray:
    """Indices that group ``symbols`` by species (stable, species in order of first appearance).

    ``sorted_atoms = atoms[perm]``; per-atom outputs ``y_sorted`` go back with ``y = np.empty_like(y_sorted);
    y[perm] = y_sorted``.
    """
    order = {s: i for i, s in enumerate(dict.fromkeys(symbols))}
    return np.array(sorted(range(len(symbols)), key=lambda i: (order[symbols[i]], i)), dtype=int)


def _check_structure(atoms: Atoms) -> None:
    if not all(atoms.pbc):
        raise InputsError(
            f'VASP needs a 3D periodic structure, got pbc = {atoms.pbc.tolist()}; set three lattice vectors and '
            'pbc = True (add vacuum along non-periodic directions)'
        )
    if abs(float(np.linalg.det(atoms.cell[:]))) < 1e-6:
        raise InputsError('VASP needs a 3D periodic structure: the cell is singular (zero volume)')


def _xc_tags(xc: str) -> dict[str, Any]:
    key = xc.replace('-', '').upper()
    if key in _GGA:
        return {'GGA': _GGA[key]}
    if key in _METAGGA:
        return {'METAGGA': _METAGGA[key]}
    if key in ('LDA', 'PZ', 'CAPZ'):
        return {}  # LDA comes from the LDA POTCARs (no GGA tag)
    raise InputsError(
        f'unknown exchange-correlation functional {xc!r} for VASP; use one of {sorted([*_GGA, *_METAGGA, "LDA"])}'
    )


def _smearing_tags(inputs: EngineInputs) -> dict[str, Any]:
    if inputs.smearing not in _ISMEAR:
        raise InputsError(
            f'VASP has no {inputs.smearing!r} smearing; use one of {sorted(_ISMEAR)} (engine-neutral names)'
        )
    return {'ISMEAR': _ISMEAR[inputs.smearing], 'SIGMA': float(inputs.setting('smearing_width'))}


def valence_electrons(atoms: Atoms, zval: Mapping[str, float] | None = None) -> float:
    """Number of valence electrons: Σ ZVAL over atoms (``zval`` maps element → ZVAL), else an estimate."""
    if not zval:
        return VALENCE_PER_ATOM_ESTIMATE * len(atoms)
    missing = sorted(set(atoms.get_chemical_symbols()) - set(zval))
    if missing:
        raise InputsError(f'no valence charge (ZVAL) for {missing}; give one per species')
    return float(sum(zval[s] for s in atoms.get_chemical_symbols()))


def ediff(inputs: EngineInputs, atoms: Atoms, zval: Mapping[str, float] | None = None) -> float:
    """EDIFF (eV): protocol value per atom × atoms, or ``scf_energy_tolerance`` (eV/electron) × valence electrons."""
    if inputs.scf_energy_tolerance is None:
        value = VASP_PROTOCOLS[inputs.protocol]['ediff_per_atom'] * len(atoms)
    else:
        value = inputs.scf_energy_tolerance * valence_electrons(atoms, zval)
    return float(min(max(value, EDIFF_RANGE[0]), EDIFF_RANGE[1]))


def kpoints_mesh(inputs: EngineInputs, atoms: Atoms) -> dict[str, Any]:
    """The KPOINTS of a run: ``{'mesh': [n1, n2, n3], 'offset': [o1, o2, o3], 'gamma': bool}``.

    The same sampling as the GPAW engine: Monkhorst–Pack by default (a Γ-centred grid shifted by half a spacing
    along even divisions, which is what VASP's "Gamma" KPOINTS with that shift generates), Γ-centred when
    ``inputs.gamma_centered``.
    """
    mesh = inputs.kpoint_mesh(atoms)
    if inputs.gamma_centered:
        return {'mesh': mesh, 'offset': [0.0, 0.0, 0.0], 'gamma': True}
    return {'mesh': mesh, 'offset': [0.5 if n % 2 == 0 else 0.0 for n in mesh], 'gamma': False}


def _md_tags(inputs: EngineInputs, atoms: Atoms, overrides: Mapping[str, Any]) -> dict[str, Any]:
    md = inputs.md
    if md.steps < 1:
        raise InputsError('the md task needs md.steps >= 1')
    tags: dict[str, Any] = {
        'IBRION': 0,
        'NSW': int(md.steps),
        'POTIM': float(md.timestep),
        'TEBEG': float(md.temperature),
        'TEEND': float(md.temperature),
        'ISYM': 0,
        'ISIF': 2 if md.stress else 0,
        'RANDOM_SEED': [int(md.seed), 0, 0],
    }
    thermostat = md.thermostat
    if int(overrides.get('MDALGO', -1)) == 2:
        thermostat = 'nose-hoover'
    if thermostat == 'nose-hoover':
        tags.update(MDALGO=2, SMASS=NOSE_SMASS)
    elif thermostat == 'langevin':
        gamma_per_ps = float(md.friction) * 1000.0  # 1/fs -> 1/ps
        tags.update(MDALGO=3, LANGEVIN_GAMMA=[gamma_per_ps] * len(species_order(atoms)))
    elif thermostat == 'nve':
        tags.update(MDALGO=1, ANDERSEN_PROB=0.0)
    else:
        raise InputsError(
            f"unknown thermostat {thermostat!r} for VASP; use 'nose-hoover', 'langevin' or 'nve'"
        )
    return tags


def _born_tags(inputs: EngineInputs, atoms: Atoms) -> dict[str, Any]:
    spec = inputs.born_charges
    if spec.atoms is not None and sorted(spec.atoms) != list(range(len(atoms))):
        raise InputsError(
            'VASP computes the Born charges of all atoms in one run; drop born_charges.atoms (got a subset '
            f'{spec.atoms}) or use the gpaw engine for a subset'
        )
    if sorted(spec.directions) != ['x', 'y', 'z']:
        raise InputsError(
            f"VASP computes Born charges along all of 'xyz'; got directions {spec.directions!r}"
        )
    if spec.method == 'dfpt':
        return {'LEPSILON': True, 'IBRION': 8, 'NSW': 1, 'LRPA': False}
    return {'LCALCEPS': True, 'IBRION': -1, 'NSW': 0, 'ISYM': 0}


def vasp_inputs(
    inputs: EngineInputs,
    atoms: Atoms,
    task: str = 'scf',
    *,
    zval: Mapping[str, float] | None = None,
) -> dict[str, Any]:
    """INCAR tags (upper case) and KPOINTS of one VASP run of ``task`` (one of :data:`VASP_TASKS`).

    Returns ``{'incar': {...}, 'kpoints': {'mesh': [...], 'offset': [...], 'gamma': True}}``.
    ``zval`` (element → valence charge from the POTCARs) refines EDIFF when ``scf_energy_tolerance`` is set.
    """
    inputs.validate()
    _check_structure(atoms)
    if task not in VASP_TASKS:
        raise InputsError(f'unknown VASP task {task!r}; choose one of {VASP_TASKS}')
    overrides = {key.upper(): value for key, value in inputs.engine_options.get('vasp', {}).items()}
    protocol = VASP_PROTOCOLS[inputs.protocol]
    cutoff = inputs.cutoff if inputs.cutoff is not None else protocol['encut']
    incar: dict[str, Any] = {
        'PREC': protocol['prec'],
        'ENCUT': float(cutoff),
        'EDIFF': ediff(inputs, atoms, zval),
        'NELM': int(inputs.setting('max_scf_iterations')),
        'ISPIN': 1,
        'LREAL': False,
        'LASPH': True,
        'LWAVE': True,
        'LCHARG': False,
        **_xc_tags(inputs.xc),
        **_smearing_tags(inputs),
    }
    if task in ('scf', 'berry_phase'):
        incar.update(IBRION=-1, NSW=0, ISIF=2 if inputs.stress else 0)
    if task == 'berry_phase':
        incar.update(LCALCPOL=True, ISYM=0)
    elif task == 'born_charges':
        incar.update(_born_tags(inputs, atoms))
        incar['EDIFF'] = min(incar['EDIFF'], DFPT_EDIFF)
    elif task == 'md':
        incar.update(_md_tags(inputs, atoms, overrides))
    incar.update(overrides)
    if task == 'md':  # an MDALGO override keeps only the tags of the thermostat it selects
        mdalgo = int(incar.get('MDALGO', 0))
        if mdalgo != 3:
            incar.pop('LANGEVIN_GAMMA', None)
        if mdalgo != 1:
            incar.pop('ANDERSEN_PROB', None)
        if mdalgo in (0, 2):
            incar.setdefault('SMASS', NOSE_SMASS)
    return {'incar': incar, 'kpoints': kpoints_mesh(inputs, atoms)}


def vasp_runs(
    inputs: EngineInputs, atoms: Atoms, *, zval: Mapping[str, float] | None = None
) -> dict[str, dict[str, Any]]:
    """The VASP runs that label one frame: task name → :func:`vasp_inputs`.

    MD (``md.steps > 0``): ``{'md': ...}`` only (frames of the trajectory are labelled with energy, forces, stress).
    Otherwise ``'berry_phase'`` when asked for (or needed by finite-difference Born charges) else ``'scf'``, plus
    ``'born_charges'`` when enabled.
    """
    inputs.validate()
    if inputs.md.steps > 0:
        return {'md': vasp_inputs(inputs, atoms, 'md', zval=zval)}
    runs = {}
    first = 'berry_phase' if inputs.berry_phase else 'scf'
    runs[first] = vasp_inputs(inputs, atoms, first, zval=zval)
    if inputs.born_charges.enabled:
        runs['born_charges'] = vasp_inputs(inputs, atoms, 'born_charges', zval=zval)
    return runs


@register_engine('vasp')
def vasp_parameters(inputs: EngineInputs, atoms: Atoms, *, task: str = 'scf') -> dict[str, Any]:
    """The registered native mapping (``to_native('vasp', ...)``): :func:`vasp_inputs` for one engine-neutral task.

    The engine-neutral ``'berry_phase'`` task (Berry phase and Born charges) maps to the LCALCPOL run; the Born-charge
    run is :func:`vasp_inputs` with ``task='born_charges'`` (see :func:`vasp_runs`).
    """
    return vasp_inputs(inputs, atoms, task)


def kelvin_from_kinetic(kinetic_ev: np.ndarray | float, n_degrees_of_freedom: int) -> np.ndarray:
    """Instantaneous temperature (K) from the ionic kinetic energy (eV): T = 2 E_kin / (N_dof k_B)."""
    from ase.units import kB

    if n_degrees_of_freedom < 1:
        raise ValueError(f'need at least one degree of freedom, got {n_degrees_of_freedom}')
    return 2.0 * np.asarray(kinetic_ev, dtype=float) / (n_degrees_of_freedom * kB)


def md_temperature_limit(target_k: float, factor: float) -> float:
    """The temperature (K) above which an MD run counts as exploded: max(factor × target, target + 1000 K)."""
    return float(max(factor * target_k, target_k + 1000.0))


def md_exploded(temperatures_k: np.ndarray, target_k: float, factor: float) -> str | None:
    """A message when any temperature is above :func:`md_temperature_limit` or not finite, else None."""
    temperatures_k = np.asarray(temperatures_k, dtype=float)
    limit = md_temperature_limit(target_k, factor)
    if not np.all(np.isfinite(temperatures_k)):
        return 'the MD temperature became non-finite'
    if temperatures_k.size and float(temperatures_k.max()) > limit:
        step = int(np.argmax(temperatures_k > limit))
        return (
            f'the MD temperature reached {temperatures_k.max():.0f} K (first above the limit {limit:.0f} K at step '
            f'{step}) for a target of {target_k:g} K: lower POTIM (md.timestep) or the temperature, or check the '
            'structure'
        )
    return None


__all__ = [
    'DFPT_EDIFF',
    'VASP_PROTOCOLS',
    'VASP_TASKS',
    'ediff',
    'kelvin_from_kinetic',
    'kpoints_mesh',
    'md_exploded',
    'md_temperature_limit',
    'sorting_permutation',
    'species_order',
    'valence_electrons',
    'vasp_inputs',
    'vasp_parameters',
    'vasp_runs',
]
