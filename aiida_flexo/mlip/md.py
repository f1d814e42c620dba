"""Molecular dynamics with any ase calculator and a temperature schedule (sampling, annealing).

A schedule is a list of stages ``(temperature_K, n_steps)`` run one after the other (e.g. an anneal
``[(1000, 200), (600, 200), (300, 200), (1, 200)]``). Each stage gets a fresh thermostat at its temperature;
positions and momenta carry over.

The trajectory (ase ``.traj``) is written as the run goes, every ``stride`` steps (and the starting frame of a
fresh run). Each frame carries ``info['md_step']`` (global step), ``info['md_stage']`` and
``info['target_temperature_K']``, plus positions, momenta, cell, energy, forces and stress, so a killed run
continues with :func:`continue_md` (or ``run_md(..., start_step=...)``) from its last frame: the combined
trajectory has the same frames as an uninterrupted run (the Langevin noise differs).

An exploding run (temperature above ``explosion_factor`` × the highest target of the schedule, or NaN
energies/forces/positions) stops with :class:`MDExplosionError`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from ase import Atoms, units
from ase.calculators.calculator import Calculator
from ase.constraints import FixAtoms, FixCom

from aiida_flexo.mlip.committee import frame_uncertainty
from aiida_flexo.mlip.relax import check_structure, parse_fix
from aiida_flexo.settings import option

#: Thermostat names accepted by :func:`run_md`.
THERMOSTATS = ('langevin', 'nose-hoover', 'npt', 'epitaxial', 'anisotropic')
#: compressibility the Berendsen barostat of ``epitaxial`` and ``anisotropic`` assumes (1/(150 GPa), a perovskite
#: oxide), 1/GPa; it only sets how fast the free lengths follow the stress, not where they end
BERENDSEN_COMPRESSIBILITY_PER_GPA = 1.0 / 150.0


@dataclass(frozen=True)
class MDSettings:
    """The MD settings a user sets (the ``mlip md`` options, the ``flexo.mlip.md`` parameters, the defaults of
    :func:`run_md`); see :mod:`aiida_flexo.settings`."""

    timestep_fs: float = field(default=1.0, metadata=option('Time step, fs.', flag='--timestep'))
    thermostat: str = field(
        default='langevin',
        metadata=option(
            'langevin / nose-hoover: NVT; npt: isotropic MTK barostat; epitaxial: in-plane lattice clamped (a film '
            'on its substrate), out-of-plane free (Berendsen NPT along z); anisotropic: each axis free (Berendsen '
            'NPT along x, y, z: a tetragonal cell may turn cubic on heating).',
            choices=THERMOSTATS,
        ),
    )
    friction_per_fs: float = field(
        default=0.01, metadata=option('Langevin friction, 1/fs.', flag='--friction')
    )
    tdamp_fs: float = field(
        default=100.0,
        metadata=option('Nosé–Hoover (epitaxial, anisotropic: Berendsen) damping time, fs.', flag='--tdamp'),
    )
    pressure_GPa: float = field(
        default=0.0, metadata=option('npt / epitaxial / anisotropic target pressure, GPa.', flag='--pressure')
    )
    pdamp_fs: float = field(
        default=1000.0,
        metadata=option('npt / epitaxial / anisotropic barostat damping time, fs.', flag='--pdamp'),
    )
    stride: int = field(default=10, metadata=option('Steps between written frames.'))
    seed: int = field(default=0, metadata=option('Seed of velocities and Langevin noise.'))


class MDExplosionError(RuntimeError):
    """The MD run blew up (temperature far above target, or NaN)."""


@dataclass(frozen=True)
class Stage:
    """One stage of a temperature schedule: ``n_steps`` steps at ``temperature_K`` (K)."""

    temperature_K: float
    n_steps: int


def parse_schedule(spec: str | Sequence[tuple[float, int]] | Sequence[Stage]) -> list[Stage]:
    """A schedule from ``'1000:200,300:200'`` (K:steps, comma-separated) or a list of pairs.

    Raises:
        ValueError: empty schedule, malformed stage, negative temperature or non-positive step count.
    """
    stages: list[Stage] = []
    if isinstance(spec, str):
        parts = [p.strip() for p in spec.split(',') if p.strip()]
        for part in parts:
            try:
                temperature, steps = part.split(':')
                stages.append(Stage(float(temperature), _as_steps(steps)))
            except ValueError as exc:
                raise ValueError(
                    f'schedule stage {part!r} is not TEMPERATURE_K:N_STEPS (e.g. "1000:200,300:200")'
                ) from exc
    else:
        for item in spec:
            stage = item if isinstance(item, Stage) else Stage(float(item[0]), _as_steps(item[1]))
            stages.append(stage)
    if not stages:
        raise ValueError('empty temperature schedule; give at least one TEMPERATURE_K:N_STEPS stage')
    for stage in stages:
        if not (math.isfinite(stage.temperature_K) and stage.temperature_K >= 0):
            raise ValueError(f'schedule temperature must be finite and >= 0 K, got {stage.temperature_K}')
        if stage.n_steps < 1:
            raise ValueError(f'schedule stage needs at least one step, got {stage.n_steps}')
    return stages


def _as_steps(value) -> int:
    steps = float(value)
    if steps != int(steps):
        raise ValueError(f'number of steps must be an integer, got {value}')
    return int(steps)


@dataclass
class MDResult:
    """Outcome of :func:`run_md`.

    Attributes:
        atoms: final structure (with momenta).
        n_steps: global step reached (including steps done before a restart).
        n_frames: frames written by this call.
        temperatures_K: instantaneous temperature of each frame written by this call, K.
        stage_mean_temperatures_K: mean temperature over the steps of each stage run by this call, K (``None`` for
            stages done before a restart).
        trajectory: the trajectory file (or ``None``).
        force_std_max_meV_A: with a committee, the largest per-atom force deviation of each written frame
            (meV/Å; the frames carry it in ``atoms.info`` too), else empty.
    """

    atoms: Atoms
    n_steps: int
    n_frames: int
    temperatures_K: list[float] = field(default_factory=list)
    stage_mean_temperatures_K: list[float | None] = field(default_factory=list)
    trajectory: Path | None = None
    force_std_max_meV_A: list[float] = field(default_factory=list)

    def summary(self) -> dict:
        data = {
            'n_steps': self.n_steps,
            'n_frames': self.n_frames,
            'final_temperature_K': float(self.atoms.get_temperature()),
            'stage_mean_temperatures_K': self.stage_mean_temperatures_K,
            'trajectory': None if self.trajectory is None else str(self.trajectory),
            'uncertainty': None,
        }
        if self.force_std_max_meV_A:
            data['uncertainty'] = {
                'force_std_max_meV_A': float(max(self.force_std_max_meV_A)),
                'force_std_max_mean_meV_A': float(np.mean(self.force_std_max_meV_A)),
                'force_std_max_per_frame_meV_A': list(self.force_std_max_meV_A),
            }
        return data


def _dynamics(
    atoms: Atoms,
    thermostat: str,
    temperature_K: float,
    timestep_fs: float,
    friction_per_fs: float,
    tdamp_fs: float,
    pressure_GPa: float,
    pdamp_fs: float,
    rng: np.random.Generator,
):
    dt = timestep_fs * units.fs
    if thermostat == 'langevin':
        from ase.md.langevin import Langevin

        return Langevin(
            atoms, dt, temperature_K=temperature_K, friction=friction_per_fs / units.fs, fixcm=False, rng=rng
        )
    if thermostat == 'nose-hoover':
        from ase.md.nose_hoover_chain import NoseHooverChainNVT

        return NoseHooverChainNVT(atoms, dt, temperature_K=temperature_K, tdamp=tdamp_fs * units.fs)
    if thermostat == 'npt':
        from ase.md.nose_hoover_chain import IsotropicMTKNPT

        return IsotropicMTKNPT(
            atoms,
            dt,
            temperature_K=temperature_K,
            pressure_au=pressure_GPa * units.GPa,
            tdamp=tdamp_fs * units.fs,
            pdamp=pdamp_fs * units.fs,
        )
    if thermostat in ('epitaxial', 'anisotropic'):
        from ase.md.nptberendsen import Inhomogeneous_NPTBerendsen

        # epitaxial: in-plane lattice clamped (to the substrate the structure was built on), out-of-plane free (NPT
        # along z); anisotropic: every axis free
        return Inhomogeneous_NPTBerendsen(
            atoms,
            dt,
            temperature_K=temperature_K,
            taut=tdamp_fs * units.fs,
            pressure_au=pressure_GPa * units.GPa,
            taup=pdamp_fs * units.fs,
            compressibility_au=BERENDSEN_COMPRESSIBILITY_PER_GPA / units.GPa,
            mask=(0, 0, 1) if thermostat == 'epitaxial' else (1, 1, 1),
        )
    raise ValueError(f'unknown thermostat {thermostat!r}; choose one of {list(THERMOSTATS)}')


def run_md(
    atoms: Atoms,
    calculator: Calculator,
    schedule: str | Sequence,
    *,
    timestep_fs: float = MDSettings.timestep_fs,
    thermostat: str = MDSettings.thermostat,
    friction_per_fs: float = MDSettings.friction_per_fs,
    tdamp_fs: float = MDSettings.tdamp_fs,
    pressure_GPa: float = MDSettings.pressure_GPa,
    pdamp_fs: float = MDSettings.pdamp_fs,
    trajectory: str | Path | None = None,
    stride: int = 1,
    fix=None,
    seed: int = MDSettings.seed,
    start_step: int = 0,
    append: bool = False,
    explosion_factor: float = 3.0,
    log: str | Path | None = None,
) -> MDResult:
    """Run MD through a temperature schedule.

    Args:
        atoms: starting structure (not modified); its momenta are used when non-zero (a restart), otherwise drawn
            from a Maxwell–Boltzmann distribution at the first temperature (seeded by ``seed``).
        calculator: an ase calculator.
        schedule: stages, see :func:`parse_schedule`.
        timestep_fs: time step, fs.
        thermostat: ``langevin`` (NVT), ``nose-hoover`` (NVT, Nosé–Hoover chain), ``npt`` (isotropic
            Martyna–Tobias–Klein barostat with a Nosé–Hoover chain thermostat) or ``epitaxial`` (a thin film on a
            substrate: in-plane lattice vectors a, b clamped as given, the out-of-plane length free at
            ``pressure_GPa``; Berendsen thermostat (``tdamp_fs``) and barostat (``pdamp_fs``) along z only) or
            ``anisotropic`` (the same along x, y and z, each axis free: a heating run's tetragonal → cubic).
        friction_per_fs: Langevin friction, 1/fs.
        tdamp_fs: Nosé–Hoover (``epitaxial``, ``anisotropic``: Berendsen) thermostat damping time, fs.
        pressure_GPa: target pressure of ``npt``, ``epitaxial`` and ``anisotropic``, GPa.
        pdamp_fs: barostat damping time of ``npt``, ``epitaxial`` and ``anisotropic``, fs.
        trajectory: ase ``.traj`` file written every ``stride`` steps as the run goes.
        stride: steps between written frames.
        fix: atoms held fixed (see :func:`aiida_flexo.mlip.parse_fix`); without fixed atoms, Langevin runs hold
            the centre of mass (``FixCom``). Constraints already on ``atoms`` are replaced.
        seed: seed of the initial velocities and of the Langevin noise.
        start_step: global step ``atoms`` is at (a restart); the schedule continues from there.
        append: append to ``trajectory`` instead of overwriting it.
        explosion_factor: stop when the temperature exceeds this × the highest target temperature (at least
            100 K × this factor).
        log: ase MD log file (``None``: no log).

    Raises:
        ValueError: bad schedule, thermostat, stride, timestep or start_step.
        MDExplosionError: NaN, or temperature far above the schedule.
    """
    stages = parse_schedule(schedule)
    check_structure(atoms)
    if thermostat not in THERMOSTATS:
        raise ValueError(f'unknown thermostat {thermostat!r}; choose one of {list(THERMOSTATS)}')
    if stride < 1:
        raise ValueError(f'stride must be >= 1, got {stride}')
    if not timestep_fs > 0:
        raise ValueError(f'timestep must be positive (fs), got {timestep_fs}')
    total = sum(s.n_steps for s in stages)
    if not 0 <= start_step <= total:
        raise ValueError(f'start_step {start_step} is outside the schedule (0..{total} steps)')
    if thermostat in ('npt', 'epitaxial', 'anisotropic') and not all(atoms.pbc):
        raise ValueError(f'{thermostat} needs a 3D periodic cell')

    rng = np.random.default_rng(seed)
    work = atoms.copy()
    work.calc = calculator
    fixed = parse_fix(fix, work)
    if fixed:
        work.set_constraint(FixAtoms(indices=fixed))
    elif thermostat == 'langevin':
        # Langevin noise would let the centre of mass drift; ase's recommended fix (fixcm=False + FixCom)
        work.set_constraint(FixCom())
    else:
        work.set_constraint(None)
    if start_step == 0 and not np.any(work.get_momenta()):
        from ase.md.velocitydistribution import MaxwellBoltzmannDistribution, Stationary

        MaxwellBoltzmannDistribution(work, temperature_K=stages[0].temperature_K, rng=rng)
        if not fixed:
            Stationary(work)
        work.set_momenta(work.get_momenta(), apply_constraint=True)
    limit = explosion_factor * max(100.0, max(s.temperature_K for s in stages))

    traj = None
    if trajectory is not None:
        from ase.io.trajectory import Trajectory

        Path(trajectory).parent.mkdir(parents=True, exist_ok=True)
        traj = Trajectory(str(trajectory), 'a' if append else 'w')
    temperatures: list[float] = []
    stage_means: list[float | None] = []
    deviations: list[float] = []

    def check(step: int) -> float:
        temperature = float(work.get_temperature())
        energy = work.get_potential_energy()
        forces = work.get_forces()
        if not (
            math.isfinite(energy) and np.all(np.isfinite(forces)) and np.all(np.isfinite(work.positions))
        ):
            raise MDExplosionError(f'NaN or infinite energy/forces/positions at MD step {step}')
        if temperature > limit:
            raise MDExplosionError(
                f'MD exploded at step {step}: temperature {temperature:.0f} K exceeds {limit:.0f} K '
                f'({explosion_factor} × the highest target); use a smaller time step, a stronger thermostat, '
                'or a potential trained on such configurations'
            )
        return temperature

    def write(step: int, stage_index: int, temperature_K: float) -> None:
        work.info.update({'md_step': step, 'md_stage': stage_index, 'target_temperature_K': temperature_K})
        uncertainty = frame_uncertainty(calculator)
        if uncertainty:
            work.info.update(uncertainty)
            deviations.append(uncertainty['force_std_max_meV_A'])
        temperatures.append(float(work.get_temperature()))
        if traj is not None:
            traj.write(work)

    try:
        check(start_step)
        if start_step == 0:
            write(0, 0, stages[0].temperature_K)
        offset = 0
        for index, stage in enumerate(stages):
            begin, end = offset, offset + stage.n_steps
            offset = end
            if end <= start_step:
                stage_means.append(None)
                continue
            steps = end - max(begin, start_step)
            first = max(begin, start_step)
            dyn = _dynamics(
                work,
                thermostat,
                stage.temperature_K,
                timestep_fs,
                friction_per_fs,
                tdamp_fs,
                pressure_GPa,
                pdamp_fs,
                rng,
            )
            if log is not None:
                from ase.md import MDLogger

                dyn.attach(MDLogger(dyn, work, str(log), mode='a'), interval=stride)
            sums = []

            def observe(dyn=dyn, first=first, index=index, stage=stage, sums=sums) -> None:
                if dyn.nsteps == 0:
                    return  # the observers also run before the first step of each stage
                step = first + dyn.nsteps
                sums.append(check(step))
                if step % stride == 0:
                    write(step, index, stage.temperature_K)

            dyn.attach(observe, interval=1)
            dyn.run(steps)
            stage_means.append(float(np.mean(sums)) if sums else None)
    finally:
        if traj is not None:
            traj.close()
    return MDResult(
        atoms=work.copy(),
        n_steps=total,
        n_frames=len(temperatures),
        temperatures_K=temperatures,
        stage_mean_temperatures_K=stage_means,
        trajectory=None if trajectory is None else Path(trajectory),
        force_std_max_meV_A=deviations,
    )


def last_md_step(atoms: Atoms) -> int:
    """Global MD step stored in a trajectory frame written by :func:`run_md`."""
    if 'md_step' not in atoms.info:
        raise ValueError(
            'the frame has no "md_step" in its info: it was not written by aiida-flexo MD; '
            'start a fresh run from it instead (without --restart-from)'
        )
    return int(atoms.info['md_step'])


def continue_md(
    trajectory: str | Path, calculator: Calculator, schedule: str | Sequence, **kwargs
) -> MDResult:
    """Continue an interrupted :func:`run_md` from the last frame of its ``trajectory`` (appending to it).

    The same schedule (and thermostat settings) must be given; the run continues at the stored global step.
    """
    from aiida_flexo.mlip.relax import read_structure

    last = read_structure(trajectory, index=-1)
    kwargs.setdefault('trajectory', trajectory)
    kwargs.setdefault('append', Path(kwargs['trajectory']).resolve() == Path(trajectory).resolve())
    return run_md(last, calculator, schedule, start_step=last_md_step(last), **kwargs)
