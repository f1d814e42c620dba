"""The flexo pipeline in plain Python: build → relax → predict → extract (one function per step, and all of them).

Each step takes and returns plain objects (ase Atoms, numpy arrays, dicts), so the AiiDA workchain can run them as
separate calcfunctions / CalcJobs and store what passes between them:

1. :func:`aiida_flexo.flexo.supercell.build_supercell` -> :class:`FlexoSupercell` (``to_dict`` for storage);
2. :func:`relax_structure` (or any relaxer / the MLIP CalcJob) on ``supercell.atoms`` with
   ``supercell.fixed_indices`` fixed -> relaxed Atoms;
3. :func:`predict_per_atom_dipoles` -> (n, 3) e·Å; :func:`bec_per_atom_dipoles` for the Born-charge route;
4. :func:`aiida_flexo.flexo.extract.extract_from_dipoles` -> :class:`Extraction` (``to_dict`` in nC/m).

:func:`compute_coefficient` chains them and writes ``result.json`` and ``profile.png``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from ase import Atoms

from aiida_flexo.flexo.born import BornChargeSet, supercell_born_charges
from aiida_flexo.flexo.cells import born_charge_dipoles, displacements
from aiida_flexo.flexo.convention import CONVENTION, Component, mu_to_nc_per_m
from aiida_flexo.flexo.crystal_symmetry import ZERO_BORN_CHARGES_NOTE, born_charges_vanish, component_symmetry
from aiida_flexo.flexo.extract import Extraction, extract_from_dipoles, supercell_cell_polarization
from aiida_flexo.flexo.supercell import FlexoSupercell, build_supercell
from aiida_flexo.units import E_PER_A2_TO_C_PER_M2

UNRELAXED_NOTE = (
    'unrelaxed: imposed displacement field only (no MLIP/calculator given), no internal relaxation'
)
DECOMPOSITION_NOTE = (
    'clamped: the imposed field alone (every atom on u(z)); lattice_mediated: relaxed minus clamped. The lattice-'
    'mediated part is fixed by the Born charges and must agree between the dipole-model and BEC routes; the clamped '
    'part depends on how the model shares the cell dipole among atoms (dynamical quadrupoles), which cell-dipole and '
    'Z* labels do not determine, so the routes may differ there'
)


# ------------------------------------------------------------------------------------------------ steps


class RelaxationNotConvergedError(RuntimeError):
    """The supercell relaxation did not reach its force tolerance: no μ is computed from it."""


def check_born_route(bulk: Atoms) -> None:
    """Refuse the Born-charge route for a crystal whose Born charges vanish by symmetry (it would print 0)."""
    if born_charges_vanish(bulk):
        raise ValueError(
            f'{bulk.get_chemical_formula()}: the Born charges of this crystal vanish by symmetry (Z* = 0: e.g. '
            'diamond Si, an elemental crystal whose atoms are related by inversion), so the Born-charge route '
            'gives μ = 0 identically, not an estimate; drop --bec/--bec-from-model and use the dipole GNN trained '
            'on Berry-phase dipoles (the only route for such a crystal)'
        )


def relax_structure(
    atoms: Atoms,
    calculator,
    fixed: Sequence[int],
    **options,
) -> tuple[Atoms, dict]:
    """Relax ``atoms`` with an ase calculator keeping ``fixed`` exactly in place; returns (relaxed copy, info dict).

    Uses :func:`aiida_flexo.mlip.relax` (ase optimizers, FixAtoms). Options: fmax (eV/Å), max_steps, optimizer,
    trajectory, log.
    """
    from aiida_flexo.mlip.relax import relax as mlip_relax

    result = mlip_relax(atoms, calculator, fix=list(fixed), **options)
    info = {
        'engine': 'aiida_flexo.mlip.relax',
        'energy_eV': float(result.energy),
        'max_force_eV_A': float(result.max_force),
        'converged': bool(result.converged),
        'n_steps': int(result.n_steps),
        'stalled': result.stalled,
    }
    return result.atoms, info


def bind(obj, supercell: FlexoSupercell):
    """``obj.for_supercell(supercell)`` if the object has that hook (synthetic models and relaxers), else ``obj``."""
    hook = getattr(obj, 'for_supercell', None)
    return hook(supercell) if callable(hook) else obj


def predict_per_atom_dipoles(model, atoms: Atoms) -> np.ndarray:
    """(n, 3) per-atom dipoles (e·Å) of ``atoms`` from a :class:`aiida_flexo.interfaces.DipoleModel`, checked."""
    if not hasattr(model, 'per_atom_dipoles'):
        raise TypeError(f'{type(model).__name__} is not a dipole model: it has no per_atom_dipoles(atoms)')
    dipoles = np.asarray(model.per_atom_dipoles(atoms), dtype=float)
    if dipoles.shape != (len(atoms), 3):
        raise ValueError(f'the dipole model returned shape {dipoles.shape}, expected ({len(atoms)}, 3)')
    if not np.all(np.isfinite(dipoles)):
        raise ValueError('the dipole model returned non-finite per-atom dipoles')
    return dipoles


def bec_per_atom_dipoles(supercell: FlexoSupercell, atoms: Atoms, born_charges: np.ndarray) -> np.ndarray:
    """(n, 3) Born-charge baseline p_i = Z*_ref(i) · u_i (e·Å), u the displacement from the reference supercell."""
    return born_charge_dipoles(born_charges, displacements(atoms, supercell.reference))


# ------------------------------------------------------------------------------------------------ result


@dataclass
class FlexoResult:
    """Everything one coefficient run produced (internal units; :meth:`to_dict` converts to nC/m, C/m², 1/m)."""

    supercell: FlexoSupercell
    relaxed: Atoms
    per_atom_dipoles: np.ndarray  #: (n, 3) e·Å
    cell_polarization: np.ndarray  #: (n_cells, 3) e/Å²
    extraction: Extraction
    relaxation: dict
    timings: dict
    dipole_model: str
    bec: Extraction | None = None
    bec_info: dict | None = None
    bec_cell_polarization: np.ndarray | None = None
    decomposition: dict[str, Extraction] | None = None  #: 'clamped' (and 'bec_clamped'): imposed field only
    notes: list[str] = field(default_factory=list)
    symmetry: dict | None = (
        None  #: :class:`~aiida_flexo.flexo.crystal_symmetry.ComponentSymmetry` of the bulk
    )

    @property
    def mu_two_point(self) -> float:
        """e/Å."""
        return self.extraction.mu_two_point

    @property
    def mu_fit(self) -> float:
        """e/Å."""
        return self.extraction.mu_fit

    @property
    def fit_stderr(self) -> float:
        """e/Å."""
        return self.extraction.fit_stderr

    def to_dict(self) -> dict:
        ext = self.extraction.to_dict()
        sc = self.supercell
        data = {
            'component': sc.component,
            'convention': CONVENTION,
            'measures': Component.parse(sc.component).measures,
            'geometry': sc.geometry,
            'mu_nC_per_m': ext['mu_nC_per_m'],
            'residual': ext['residual'],
            'two_point': ext['two_point'],
            'profile': ext['profile'],
            'cells': {
                'centre_A': sc.cell_centres.tolist(),
                'P_C_m2': (self.cell_polarization * E_PER_A2_TO_C_PER_M2).tolist(),
            },
            'supercell': {
                'repeat': list(sc.repeat),
                'n_atoms': len(sc.reference),
                'shape': sc.shape,
                'max_strain': sc.max_strain,
                'amplitude_A': sc.amplitude,
                'period_A': sc.period,
                'phase_origin_A': sc.phase_origin,
                'unit_volume_A3': sc.unit_volume,
                'fixed_indices': list(sc.fixed_indices),
                'fixed_species': sorted({sc.reference.get_chemical_symbols()[i] for i in sc.fixed_indices}),
            },
            'relaxation': self.relaxation,
            'dipole_model': self.dipole_model,
            'timings_s': self.timings,
            'notes': list(self.notes) + ext['notes'],
            'symmetry': self.symmetry,
        }
        if self.decomposition is not None:
            data['decomposition'] = self._decomposition_dict()
        if self.bec is not None:
            bec = self.bec.to_dict()
            data['bec'] = {
                'mu_nC_per_m': bec['mu_nC_per_m'],
                'residual': bec['residual'],
                'two_point': bec['two_point'],
                'profile': {'P_C_m2': bec['profile']['P_C_m2'], 'P_fit_C_m2': bec['profile']['P_fit_C_m2']},
                **(self.bec_info or {}),
            }
        return data

    def _decomposition_dict(self) -> dict:
        def pair(total: Extraction, clamped: Extraction) -> dict:
            return {
                'clamped_nC_per_m': {
                    'two_point': mu_to_nc_per_m(clamped.mu_two_point),
                    'fit': mu_to_nc_per_m(clamped.mu_fit),
                },
                'lattice_mediated_nC_per_m': {
                    'two_point': mu_to_nc_per_m(total.mu_two_point - clamped.mu_two_point),
                    'fit': mu_to_nc_per_m(total.mu_fit - clamped.mu_fit),
                },
            }

        out = {'note': DECOMPOSITION_NOTE, **pair(self.extraction, self.decomposition['clamped'])}
        if self.bec is not None and 'bec_clamped' in self.decomposition:
            out['bec'] = pair(self.bec, self.decomposition['bec_clamped'])
        return out

    def write(self, out_dir: str | Path, plot: bool = True) -> dict[str, Path]:
        """Write result.json, supercell.json (storable supercell), relaxed.extxyz and profile.png into ``out_dir``."""
        from ase.io import write

        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        paths = {
            'result': out / 'result.json',
            'supercell': out / 'supercell.json',
            'relaxed': out / 'relaxed.extxyz',
        }
        paths['result'].write_text(json.dumps(self.to_dict(), indent=2))
        paths['supercell'].write_text(json.dumps(self.supercell.to_dict()))
        write(paths['relaxed'], self.relaxed, format='extxyz')
        if plot:
            from aiida_flexo.flexo.plots import plot_profile

            paths['profile'] = plot_profile(self, out / 'profile.png')
        return paths


# ------------------------------------------------------------------------------------------------ pipeline


def analyse(
    supercell: FlexoSupercell,
    relaxed: Atoms,
    per_atom_dipoles: np.ndarray,
    *,
    relaxation: dict | None = None,
    clamped_per_atom_dipoles: np.ndarray | None = None,
    born_charges: BornChargeSet | None = None,
    dipole_model: str = '',
    two_point_method: str = 'nearest',
    exclude_seam: int = 0,
    fit_strain_term: bool = True,
    notes: Sequence[str] = (),
    timings: dict | None = None,
) -> FlexoResult:
    """Extraction step of the pipeline: μ from the predicted per-atom dipoles of the relaxed supercell.

    Args:
        supercell: the built supercell (reference, assignment, fields).
        relaxed: the relaxed structure (same atom order as ``supercell.atoms``).
        per_atom_dipoles: (n, 3) e·Å predicted on ``relaxed``.
        relaxation: what the relaxation reported (stored in the result).
        clamped_per_atom_dipoles: (n, 3) e·Å predicted on the imposed field alone (``supercell.atoms``): adds the
            clamped / lattice-mediated decomposition.
        born_charges: Born charges of the supercell atoms for the BEC route
            (:func:`aiida_flexo.flexo.born.supercell_born_charges`).
        two_point_method, exclude_seam, fit_strain_term: see :func:`aiida_flexo.flexo.extract.extract`.
    """
    timings = dict(timings or {})
    notes = list(notes)
    symmetry = component_symmetry(supercell.unit, supercell.component)
    if symmetry.note:
        notes.append(symmetry.note)
    if born_charges is None and born_charges_vanish(supercell.unit):
        notes.append(ZERO_BORN_CHARGES_NOTE)
    relaxation = dict(relaxation or {'relaxed': False, 'note': UNRELAXED_NOTE})
    options = {'method': two_point_method, 'exclude_seam': exclude_seam, 'fit_strain_term': fit_strain_term}
    start = time.perf_counter()
    p_cells = supercell_cell_polarization(supercell, per_atom_dipoles)
    extraction = extract_from_dipoles(supercell, per_atom_dipoles, **options)
    timings['extract'] = time.perf_counter() - start

    bec_extraction = bec_info = bec_p = None
    if born_charges is not None:
        start = time.perf_counter()
        bec_dipoles = bec_per_atom_dipoles(supercell, relaxed, born_charges.born_charges)
        bec_p = supercell_cell_polarization(supercell, bec_dipoles)
        bec_extraction = extract_from_dipoles(supercell, bec_dipoles, **options)
        bec_info = born_charges.to_dict()
        timings['bec'] = time.perf_counter() - start

    decomposition = None
    if clamped_per_atom_dipoles is not None:
        decomposition = {'clamped': extract_from_dipoles(supercell, clamped_per_atom_dipoles, **options)}
        if born_charges is not None:
            bec_clamped = bec_per_atom_dipoles(supercell, supercell.atoms, born_charges.born_charges)
            decomposition['bec_clamped'] = extract_from_dipoles(supercell, bec_clamped, **options)
    timings['total'] = float(sum(timings.values()))
    return FlexoResult(
        supercell=supercell,
        relaxed=relaxed,
        per_atom_dipoles=np.asarray(per_atom_dipoles, dtype=float),
        cell_polarization=p_cells,
        extraction=extraction,
        relaxation=relaxation,
        timings={k: float(v) for k, v in timings.items()},
        dipole_model=dipole_model,
        bec=bec_extraction,
        bec_info=bec_info,
        bec_cell_polarization=bec_p,
        decomposition=decomposition,
        notes=notes,
        symmetry=symmetry.to_dict(),
    )


def compute_coefficient(
    bulk: Atoms,
    component: str,
    repeat: int | Sequence[int],
    max_strain: float,
    fix: str | Sequence[int] | None,
    dipole_model,
    calculator=None,
    bec: str | Path | np.ndarray | None = None,
    *,
    shape: str = 'sine',
    phase_origin: float | str = 'auto',
    transverse_repeat: int | None = None,
    basis_origin: Sequence[float] | float = 0.0,
    relaxer: Callable[[Atoms, list[int]], Atoms] | None = None,
    relax_options: dict | None = None,
    two_point_method: str = 'nearest',
    exclude_seam: int = 0,
    fit_strain_term: bool = True,
    enforce_asr: bool = True,
    decompose: bool = True,
    check_fmax: bool = False,
    out_dir: str | Path | None = None,
    plot: bool = True,
) -> FlexoResult:
    """μ of ``component`` for ``bulk``: build the supercell, relax it, predict dipoles, extract (two-point and fit).

    Args:
        bulk, component, repeat, max_strain, fix, shape, phase_origin, transverse_repeat, basis_origin: see
            :func:`aiida_flexo.flexo.supercell.build_supercell`.
        dipole_model: a :class:`aiida_flexo.interfaces.DipoleModel` (GNN or synthetic; models with a
            ``for_supercell`` hook are bound to the supercell first).
        calculator: ase calculator (the MLIP) for the relaxation with the fixed sublattice; None: no relaxation,
            the imposed field is used as is (the result says so).
        bec: Born charges for the baseline route: a file, an array, or 'model' (the dipole model's Z* at the
            reference); see :func:`aiida_flexo.flexo.born.supercell_born_charges`.
        relaxer: a callable ``relaxer(atoms, fixed_indices) -> Atoms`` used instead of ``calculator`` (synthetic
            relaxations; ``for_supercell`` hook honoured).
        relax_options: fmax (eV/Å, default 0.01), max_steps (500), optimizer ('FIRE'); trajectory/log are written
            into ``out_dir`` when given.
        two_point_method, exclude_seam, fit_strain_term: see :func:`aiida_flexo.flexo.extract.extract`.
        enforce_asr: remove the acoustic-sum-rule residual of the Born charges (BEC route).
        decompose: after a relaxation, also predict on the imposed field alone and report the clamped (rigid-field)
            part and the lattice-mediated part (relaxed − clamped) of μ, for both routes.
        check_fmax: after the relaxation to ``fmax``, continue it to ``fmax / 2`` and report μ at both tolerances
            (``relaxation['tolerance_check']``); the result is the tighter one, with a warning note when μ (fit)
            moved by more than 2 % (the relaxation is then too loose for this potential).
        out_dir: write result.json, supercell.json, relaxed.extxyz and profile.png there.

    Returns:
        :class:`FlexoResult` (μ in e/Å inside; ``to_dict()`` / result.json in nC/m).
    """
    timings = {}
    notes: list[str] = []
    start = time.perf_counter()
    supercell = build_supercell(
        bulk,
        component,
        repeat,
        max_strain,
        fix,
        shape=shape,
        phase_origin=phase_origin,
        transverse_repeat=transverse_repeat,
        basis_origin=basis_origin,
    )
    timings['build'] = time.perf_counter() - start

    start = time.perf_counter()
    fixed = list(supercell.fixed_indices)
    if relaxer is not None:
        outcome = bind(relaxer, supercell)(supercell.atoms.copy(), fixed)
        relaxed = getattr(outcome, 'atoms', outcome)
        relaxation = {'relaxed': True, 'engine': type(relaxer).__name__}
        for key in ('energy', 'max_force', 'converged', 'n_steps'):
            if hasattr(outcome, key):
                relaxation[key] = getattr(outcome, key)
    elif calculator is not None:
        options = dict(relax_options or {})
        if out_dir is not None:
            Path(out_dir).mkdir(parents=True, exist_ok=True)
            options.setdefault('trajectory', Path(out_dir) / 'relax.traj')
            options.setdefault('log', Path(out_dir) / 'relax.log')
        options = {k: (str(v) if isinstance(v, Path) else v) for k, v in options.items()}
        relaxed, info = relax_structure(supercell.atoms, calculator, fixed, **options)
        relaxation = {'relaxed': True, 'fmax_eV_A': float(options.get('fmax', 0.01)), **info}
        if not info.get('converged', True):
            raise RelaxationNotConvergedError(
                f'the supercell relaxation did not reach fmax {options.get("fmax", 0.01)} eV/Å in {info.get("n_steps")} '
                f'steps (max force {info.get("max_force_eV_A"):.3g} eV/Å): a μ from an unrelaxed structure is not '
                'reported; raise max_steps (the trajectory is kept to inspect), or check the potential'
                + (f' ({info["stalled"]})' if info.get('stalled') else '')
            )
    else:
        relaxed = supercell.atoms.copy()
        relaxation = {'relaxed': False, 'note': UNRELAXED_NOTE}
        notes.append(UNRELAXED_NOTE)
    if fixed:
        shift = np.abs(
            np.asarray(relaxed.positions)[fixed] - np.asarray(supercell.atoms.positions)[fixed]
        ).max()
        relaxation['fixed_max_shift_A'] = float(shift)
        if shift > 1e-8:
            notes.append(f'the fixed sublattice moved by up to {shift:.2e} Å during the relaxation')
    relaxation['max_relaxation_A'] = float(
        np.linalg.norm(displacements(relaxed, supercell.atoms), axis=1).max() if len(relaxed) else 0.0
    )
    timings['relax'] = time.perf_counter() - start

    model = bind(dipole_model, supercell)
    start = time.perf_counter()
    per_atom = predict_per_atom_dipoles(model, relaxed)
    timings['predict'] = time.perf_counter() - start
    clamped = None
    if decompose and relaxation['relaxed']:
        start = time.perf_counter()
        clamped = predict_per_atom_dipoles(model, supercell.atoms)
        timings['predict_clamped'] = time.perf_counter() - start
    charges = None
    if bec is not None:
        check_born_route(bulk)
        charges = supercell_born_charges(bec, supercell, model=model, enforce_asr=enforce_asr)
    extract_options = {
        'clamped_per_atom_dipoles': clamped,
        'born_charges': charges,
        'dipole_model': repr(model),
        'two_point_method': two_point_method,
        'exclude_seam': exclude_seam,
        'fit_strain_term': fit_strain_term,
    }
    result = analyse(
        supercell, relaxed, per_atom, relaxation=relaxation, notes=notes, timings=timings, **extract_options
    )
    if check_fmax and calculator is not None:
        result = _tolerance_check(result, calculator, model, options, extract_options, out_dir)
    if out_dir is not None:
        result.write(out_dir, plot=plot)
    return result


#: largest relative change of μ (fit) between fmax and fmax/2 for which a relaxation counts as tight enough
FMAX_STABILITY = 0.02


def _tolerance_check(result: FlexoResult, calculator, model, options: dict, extract_options: dict, out_dir):
    """Continue the relaxation of ``result`` to half its force tolerance; the tighter result with both μ."""
    fmax = float(options.get('fmax', 0.01))
    tight = {**options, 'fmax': fmax / 2}
    if out_dir is not None:
        tight['trajectory'] = str(Path(out_dir) / 'relax_tight.traj')
        tight['log'] = str(Path(out_dir) / 'relax_tight.log')
    start = time.perf_counter()
    fixed = list(result.supercell.fixed_indices)
    relaxed, info = relax_structure(result.relaxed, calculator, fixed, **tight)
    if not info['converged']:
        raise RelaxationNotConvergedError(
            f'the tolerance check did not reach fmax {fmax / 2} eV/Å in {info["n_steps"]} steps (max force '
            f'{info["max_force_eV_A"]:.3g} eV/Å); raise max_steps'
        )
    per_atom = predict_per_atom_dipoles(model, relaxed)
    relaxation = {
        **result.relaxation,
        **info,
        'fmax_eV_A': fmax / 2,
        'n_steps': int(result.relaxation.get('n_steps', 0)) + int(info['n_steps']),
    }
    timings = {**result.timings, 'tolerance_check': time.perf_counter() - start}
    tighter = analyse(
        result.supercell,
        relaxed,
        per_atom,
        relaxation=relaxation,
        notes=list(result.notes),
        timings=timings,
        **extract_options,
    )
    check = tolerance_check(result, tighter, fmax)
    check['extra_steps'] = int(info['n_steps'])
    tighter.relaxation['tolerance_check'] = check
    if not check['stable']:
        tighter.notes.append(check['warning'])
    return tighter


def tolerance_check(loose: FlexoResult, tight: FlexoResult, fmax: float) -> dict:
    """μ after relaxing to ``fmax`` (``loose``) and to ``fmax / 2`` (``tight``): both, their relative change
    (fit) and whether it is within :data:`FMAX_STABILITY` (nC/m; ``warning`` set when it is not)."""
    loose_fit, tight_fit = mu_to_nc_per_m(loose.mu_fit), mu_to_nc_per_m(tight.mu_fit)
    change = abs(tight_fit - loose_fit) / max(abs(tight_fit), 1e-12)
    check = {
        'fmax_eV_A': [fmax, fmax / 2],
        'mu_fit_nC_per_m': [float(loose_fit), float(tight_fit)],
        'mu_two_point_nC_per_m': [
            float(mu_to_nc_per_m(loose.mu_two_point)),
            float(mu_to_nc_per_m(tight.mu_two_point)),
        ],
        'relative_change': float(change),
        'stable': bool(change <= FMAX_STABILITY),
        'warning': None,
    }
    if not check['stable']:
        check['warning'] = (
            f'WARNING: μ (fit) moved by {100 * change:.1f} % between fmax {fmax} and {fmax / 2} eV/Å (more than '
            f'{100 * FMAX_STABILITY:.0f} %): the relaxation is not converged for μ; relax tighter'
        )
    return check


def remeasure(result: FlexoResult, dipole_model, **extract_options) -> FlexoResult:
    """μ of another dipole model (a committee member, another seed) on the same relaxed supercell of ``result``:
    only the prediction and the extraction are redone (``extract_options``: two_point_method, exclude_seam,
    fit_strain_term), so the difference is the model's alone."""
    model = bind(dipole_model, result.supercell)
    per_atom = predict_per_atom_dipoles(model, result.relaxed)
    return analyse(
        result.supercell,
        result.relaxed,
        per_atom,
        relaxation=result.relaxation,
        dipole_model=repr(model),
        **extract_options,
    )


def coefficient_runner(
    bulk: Atoms, component: str, fix, dipole_model, **options
) -> Callable[[int, float], FlexoResult]:
    """``run(repeat, max_strain) -> FlexoResult`` with everything else fixed (for the convergence helpers)."""

    def run(repeat: int, max_strain: float) -> FlexoResult:
        return compute_coefficient(bulk, component, repeat, max_strain, fix, dipole_model, **options)

    return run


def summary(result: FlexoResult) -> str:
    """One line: μ two-point / fit ± stderr in nC/m (and the BEC route)."""
    text = (
        f'{Component.parse(result.supercell.component).name}: two-point {mu_to_nc_per_m(result.mu_two_point):.4f} '
        f'nC/m, fit {mu_to_nc_per_m(result.mu_fit):.4f} ± {mu_to_nc_per_m(result.fit_stderr):.4f} nC/m'
    )
    if result.bec is not None:
        text += (
            f'; BEC route: two-point {mu_to_nc_per_m(result.bec.mu_two_point):.4f}, fit '
            f'{mu_to_nc_per_m(result.bec.mu_fit):.4f} nC/m'
        )
    return text
