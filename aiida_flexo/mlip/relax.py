"""Structure relaxation with any ase calculator: positions (optionally the cell), fixed atoms, a trajectory.

Fixed atoms (a sublattice of a flexo supercell, or explicit indices) are held by ase's ``FixAtoms``: their
positions are never changed, bit for bit. The trajectory (ase ``.traj``) is written frame by frame as the
optimizer runs, with energy, forces and stress, so a killed relaxation restarts from its last frame
(:func:`read_structure` with ``index=-1``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator
from ase.constraints import FixAtoms

from aiida_flexo.data.frames import check_structure  # shared with the GNN; md and the CLI import it from here
from aiida_flexo.mlip.committee import frame_uncertainty
from aiida_flexo.selection import parse_fix  # noqa: F401 (md, the CLI and the calcjobs import it from here)
from aiida_flexo.settings import option

#: Optimizer names accepted by :func:`relax` (case-insensitive) -> ase class path.
OPTIMIZERS = {'FIRE': 'ase.optimize.FIRE', 'BFGS': 'ase.optimize.BFGS', 'LBFGS': 'ase.optimize.LBFGS'}


#: the watchdog's default: stop when the largest free force has not fallen by STALL_GAIN for this many steps
STALL_STEPS = 200
STALL_GAIN = 0.01


@dataclass(frozen=True)
class RelaxSettings:
    """The relaxation settings a user sets (the ``mlip relax`` options, the ``flexo.mlip.relax`` parameters, the
    defaults of :func:`relax`); see :mod:`aiida_flexo.settings`."""

    fmax: float = field(default=0.01, metadata=option('Force tolerance, eV/Å.'))
    max_steps: int = field(default=500, metadata=option('Maximum optimizer steps.'))
    optimizer: str = field(default='FIRE', metadata=option('ase optimizer.', choices=tuple(OPTIMIZERS)))
    relax_cell: bool = field(
        default=False, metadata=option('Also relax the cell (FrechetCellFilter, zero stress).')
    )
    stall_steps: int = field(
        default=STALL_STEPS,
        metadata=option(
            'Watchdog: stop (exit status 3) when the largest force has not fallen by 1 % for this many steps; 0: off.'
        ),
    )


class RelaxationError(RuntimeError):
    """The relaxation could not continue (NaN energy/forces, an exploding structure)."""


class _Stalled(Exception):
    """Raised inside the optimizer loop by the watchdog; :func:`relax` turns it into ``stalled``."""


@dataclass
class RelaxResult:
    """Outcome of :func:`relax`.

    Attributes:
        atoms: relaxed copy (with ``FixAtoms`` on the fixed atoms, and a single-point calculator holding the
            final energy, forces and stress).
        energy: final potential energy, eV.
        max_force: largest force norm over the free atoms, eV/Å.
        converged: whether the optimizer reached ``fmax`` (and, with ``relax_cell``, the stress criterion).
        n_steps: optimizer steps taken.
        fixed_indices: indices of the atoms held fixed.
        max_stress: largest absolute stress component, eV/Å³ (``None`` unless the cell was relaxed).
        uncertainty: with a committee, the force deviation of the final frame (:func:`frame_uncertainty` keys)
            and ``force_std_max_along_path_meV_A``; every trajectory frame carries its own in ``atoms.info``.
        stalled: why the watchdog stopped a relaxation that made no progress (``None``: it did not).
    """

    atoms: Atoms
    energy: float
    max_force: float
    converged: bool
    n_steps: int
    fixed_indices: list[int] = field(default_factory=list)
    max_stress: float | None = None
    uncertainty: dict | None = None
    stalled: str | None = None

    def summary(self) -> dict:
        """JSON-ready summary (energy eV, forces eV/Å, stress eV/Å³ and GPa)."""
        from aiida_flexo.units import EV_PER_A3_TO_GPA

        return {
            'energy_eV': self.energy,
            'max_force_eV_A': self.max_force,
            'converged': self.converged,
            'n_steps': self.n_steps,
            'n_atoms': len(self.atoms),
            'n_fixed': len(self.fixed_indices),
            'fixed_indices': list(self.fixed_indices),
            'max_stress_GPa': None if self.max_stress is None else self.max_stress * EV_PER_A3_TO_GPA,
            'cell': np.asarray(self.atoms.cell[:]).tolist(),
            'uncertainty': self.uncertainty,
            'stalled': self.stalled,
        }


def read_structure(path: str | Path, index: int | str = -1) -> Atoms:
    """A structure from any ase-readable file; for trajectories the last frame (``index=-1``) by default.

    Reading the last frame of a relaxation or MD trajectory is how a killed run restarts. When the last frame of
    an ase ``.traj`` is damaged (the writer died mid-frame), the last intact frame is returned instead.
    """
    from ase.io import read

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f'{path}: no such structure file')
    try:
        atoms = read(path, index=index)
    except Exception as exc:  # noqa: BLE001 - ase raises many types
        atoms = _last_intact_frame(path) if (path.suffix == '.traj' and index == -1) else None
        if atoms is None:
            raise ValueError(
                f'{path}: could not be read as a structure ({type(exc).__name__}: {exc})'
            ) from exc
    if isinstance(atoms, list):
        if not atoms:
            raise ValueError(f'{path}: contains no structure')
        atoms = atoms[-1]
    return atoms


def _last_intact_frame(path: Path) -> Atoms | None:
    from ase.io.trajectory import Trajectory

    try:
        with Trajectory(str(path)) as traj:
            for i in range(len(traj) - 1, -1, -1):
                try:
                    return traj[i]
                except Exception:  # noqa: BLE001, S112 - a damaged frame: try the one before
                    continue
    except Exception:  # noqa: BLE001 - not a trajectory at all
        return None
    return None


def _optimizer_class(name: str):
    import importlib

    key = name.upper()
    if key not in OPTIMIZERS:
        raise ValueError(f'unknown optimizer {name!r}; choose one of {sorted(OPTIMIZERS)}')
    module, cls = OPTIMIZERS[key].rsplit('.', 1)
    return getattr(importlib.import_module(module), cls)


def free_max_force(forces: np.ndarray, fixed: Sequence[int]) -> float:
    """Largest force norm (eV/Å) over the atoms not in ``fixed``."""
    mask = np.ones(len(forces), dtype=bool)
    mask[list(fixed)] = False
    if not mask.any():
        return 0.0
    return float(np.max(np.linalg.norm(forces[mask], axis=1)))


def relax(
    atoms: Atoms,
    calculator: Calculator,
    *,
    fix=None,
    fmax: float = RelaxSettings.fmax,
    max_steps: int = RelaxSettings.max_steps,
    optimizer: str = RelaxSettings.optimizer,
    relax_cell: bool = RelaxSettings.relax_cell,
    trajectory: str | Path | None = None,
    log: str | Path | None = None,
    stall_steps: int | None = RelaxSettings.stall_steps,
) -> RelaxResult:
    """Relax ``atoms`` (not modified) with ``calculator``.

    Args:
        atoms: the starting structure (a restart passes the last frame of a trajectory).
        calculator: an ase calculator (e.g. :func:`aiida_flexo.mlip.load_calculator`).
        fix: atoms to hold fixed, see :func:`parse_fix` (species, indices, or ``None``); constraints already on
            ``atoms`` are replaced. Their Cartesian positions stay bit-identical; with ``relax_cell`` the cell
            strain carries them along, so their fractional coordinates stay fixed instead.
        fmax: force tolerance, eV/Å (with ``relax_cell``, also the tolerance of ase's cell filter on the
            stress times the volume, in eV per atom-equivalent).
        max_steps: maximum optimizer steps.
        optimizer: ``FIRE``, ``BFGS`` or ``LBFGS``.
        relax_cell: also relax the cell (``ase.filters.FrechetCellFilter``, zero target stress).
        trajectory: ase ``.traj`` file written frame by frame as the optimizer goes (overwritten).
        log: optimizer log file (``None``: no log; ``'-'``: stdout).
        stall_steps: watchdog: stop (not converged, ``stalled`` says why) when the largest free force has not
            fallen by 1 % below its best value for this many steps (``None`` or 0: no watchdog). A relaxation
            oscillating on a rough potential then ends in minutes instead of at the walltime.

    Returns:
        :class:`RelaxResult`.

    Raises:
        ValueError: bad ``fix``, ``optimizer``, ``fmax`` or ``max_steps``.
        RelaxationError: NaN or infinite energy/forces during the relaxation.
    """
    if not fmax > 0:
        raise ValueError(f'fmax must be positive (eV/Å), got {fmax}')
    check_structure(atoms)
    if max_steps < 0:
        raise ValueError(f'max_steps must be >= 0, got {max_steps}')
    opt_class = _optimizer_class(optimizer)
    work = atoms.copy()
    work.calc = calculator
    fixed = parse_fix(fix, work)
    work.set_constraint(FixAtoms(indices=fixed) if fixed else None)
    if relax_cell:
        from ase.filters import FrechetCellFilter

        target = FrechetCellFilter(work)
    else:
        target = work

    traj = None
    if trajectory is not None:
        from ase.io.trajectory import Trajectory

        Path(trajectory).parent.mkdir(parents=True, exist_ok=True)
        traj = Trajectory(str(trajectory), 'w', work)
    logfile = None if log is None else str(log)
    deviations: list[float] = []
    try:
        opt = opt_class(target, logfile=logfile)

        def check_finite() -> None:
            energy = work.get_potential_energy()
            forces = work.get_forces(apply_constraint=False)
            if not (math.isfinite(energy) and np.all(np.isfinite(forces))):
                raise RelaxationError(
                    f'NaN or infinite energy/forces at step {opt.nsteps} (energy {energy}); the structure left the '
                    'range the potential was trained on: check the starting structure, use a smaller step '
                    '(FIRE) or retrain with such configurations'
                )

        opt.attach(check_finite, interval=1)

        def record() -> None:
            uncertainty = frame_uncertainty(calculator)
            if uncertainty:
                work.info.update(uncertainty)
                deviations.append(uncertainty['force_std_max_meV_A'])
            if traj is not None:
                traj.write(work)

        opt.attach(record, interval=1)
        progress = {'best': math.inf, 'step': 0}

        def watchdog() -> None:
            force = free_max_force(work.get_forces(apply_constraint=False), fixed)
            if force < progress['best'] * (1.0 - STALL_GAIN):
                progress.update(best=force, step=opt.nsteps)
            elif opt.nsteps - progress['step'] >= stall_steps:
                raise _Stalled(
                    f'no progress in {stall_steps} steps: the largest free force stayed above '
                    f'{progress["best"]:.4g} eV/Å since step {progress["step"]} (a rough or unstable potential, '
                    'or a tolerance below its noise)'
                )

        if stall_steps:
            opt.attach(watchdog, interval=1)
        check_finite()
        stalled = None
        try:
            converged = bool(opt.run(fmax=fmax, steps=max_steps))
        except _Stalled as exc:
            converged, stalled = False, str(exc)
        n_steps = int(opt.nsteps)
    finally:
        if traj is not None:
            traj.close()

    energy = float(work.get_potential_energy())
    forces = work.get_forces(apply_constraint=False)
    stress = work.get_stress(voigt=False) if all(work.pbc) else None
    result_atoms = work.copy()
    from ase.calculators.singlepoint import SinglePointCalculator

    results = {'energy': energy, 'forces': forces}
    if stress is not None:
        from ase.stress import full_3x3_to_voigt_6_stress

        results['stress'] = full_3x3_to_voigt_6_stress(stress)
    result_atoms.calc = SinglePointCalculator(result_atoms, **results)
    return RelaxResult(
        atoms=result_atoms,
        energy=energy,
        max_force=free_max_force(forces, fixed),
        converged=converged,
        n_steps=n_steps,
        fixed_indices=fixed,
        max_stress=float(np.max(np.abs(stress))) if (relax_cell and stress is not None) else None,
        uncertainty=_uncertainty_summary(calculator, deviations),
        stalled=stalled,
    )


def _uncertainty_summary(calculator, deviations: Sequence[float]) -> dict | None:
    """Committee force deviation of the final frame and its largest value along the path (meV/Å)."""
    final = frame_uncertainty(calculator)
    if not final:
        return None
    return {**final, 'force_std_max_along_path_meV_A': float(max(deviations)) if deviations else None}
