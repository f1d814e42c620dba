"""Distillation: a slow, accurate teacher potential labels thousands of frames; a fast Allegro student learns them.

A fine-tuned universal potential is accurate but slow (SevenNet-0: ~70 atoms/s on 2 cores), too slow for the MD of
large superlattices. The teacher costs no DFT, so it labels as many frames as the student needs:

1. :func:`teacher_frames`: MD with the teacher on each given structure at each temperature (Langevin, frames every
   ``stride`` steps) plus random homogeneous strains (|ε_ij| ≤ ``strain``) and atomic displacements (Gaussian,
   ``displacement`` Å) of the same structures, every frame labelled with the teacher's energy, forces and stress;
2. the student (Allegro, :func:`aiida_flexo.mlip.route.train_potential`) trains on them;
3. :func:`distillation_report`: student vs teacher on held-out teacher frames (its own test split) and, on held-out
   DFT frames, student vs DFT next to teacher vs DFT: the distillation loss on top of the teacher's error.

Each teacher frame records where it came from in ``info``: ``teacher_source`` (``md`` or ``perturbation``),
``structure_index``, ``temperature_K`` or ``strain`` / ``displacement_A``.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from ase import Atoms

from aiida_flexo.data import normalize_frame, write_frames
from aiida_flexo.settings import option

TEACHER_FRAMES_FILE = 'teacher_frames.xyz'
REPORT_FILE = 'distill.json'


@dataclass(frozen=True)
class SamplingSettings:
    """How the teacher's frames are made (see the module docstring).

    Attributes:
        temperatures: MD temperatures, K.
        n_frames: frames in total; half from MD (spread over structures × temperatures), half perturbations.
        stride: MD steps between kept frames.
        timestep_fs: MD time step, fs.
        strain: largest random strain component of the perturbed frames (0.02 = 2 %).
        displacement: standard deviation of the random atomic displacements of the perturbed frames, Å.
        seed: random seed (MD velocities and noise, perturbations).
    """

    # fields with metadata=option(...) are the user settings (`mlip sample`/`mlip distill` options, the
    # flexo.mlip.sample parameters; aiida_flexo.settings)
    temperatures: tuple[float, ...] = field(
        default=(300.0, 600.0, 1000.0), metadata=option('MD temperatures, K, comma-separated.')
    )
    n_frames: int = field(
        default=400,
        metadata=option(
            'Teacher-labelled frames in total (half MD, half random strains/displacements).', flag='--frames'
        ),
    )
    stride: int = field(default=5, metadata=option('MD steps between kept frames.'))
    timestep_fs: float = field(default=2.0, metadata=option('MD time step, fs.', flag='--timestep'))
    strain: float = field(default=0.02, metadata=option('Largest random strain component.'))
    displacement: float = field(
        default=0.05, metadata=option('Standard deviation of the random atomic displacements, Å.')
    )
    seed: int = field(default=0, metadata=option('Seed of MD and perturbations.', flag='--sample-seed'))

    def __post_init__(self) -> None:
        object.__setattr__(self, 'temperatures', tuple(float(t) for t in self.temperatures))
        if not self.temperatures or min(self.temperatures) <= 0:
            raise ValueError(f'temperatures must be positive (K), got {list(self.temperatures)}')
        if self.n_frames < 4:
            raise ValueError(f'n_frames must be >= 4, got {self.n_frames}')
        if self.stride < 1:
            raise ValueError(f'stride must be >= 1, got {self.stride}')
        if not self.timestep_fs > 0:
            raise ValueError(f'timestep must be positive (fs), got {self.timestep_fs}')
        if not 0 <= self.strain < 0.2:
            raise ValueError(f'strain must be in [0, 0.2), got {self.strain}')
        if self.displacement < 0:
            raise ValueError(f'displacement must be >= 0 (Å), got {self.displacement}')

    def as_dict(self) -> dict:
        data = asdict(self)
        data['temperatures'] = list(self.temperatures)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> SamplingSettings:
        unknown = sorted(set(data) - set(cls.__dataclass_fields__))
        if unknown:
            raise ValueError(
                f'unknown sampling setting(s) {unknown}; known: {sorted(cls.__dataclass_fields__)}'
            )
        return cls(**data)


@dataclass
class TeacherSample:
    """Frames labelled by the teacher and what producing them cost."""

    frames: list[Atoms]
    md_steps: int
    wall_time_s: float
    teacher: str
    settings: SamplingSettings
    notes: list[str] = field(default_factory=list)

    def summary(self) -> dict:
        sources = [a.info['teacher_source'] for a in self.frames]
        return {
            'n_frames': len(self.frames),
            'n_md_frames': sources.count('md'),
            'n_perturbed_frames': sources.count('perturbation'),
            'md_steps': self.md_steps,
            'wall_time_s': self.wall_time_s,
            'teacher': self.teacher,
            'settings': self.settings.as_dict(),
            'notes': self.notes,
        }


def _label(atoms: Atoms, calculator, info: dict) -> Atoms:
    """A normalized frame of ``atoms`` with the teacher's energy, forces and stress (eV, eV/Å, eV/Å³)."""
    from aiida_flexo.mlip.calculator import predict
    from aiida_flexo.mlip.committee import frame_uncertainty

    values = predict(calculator, atoms)
    frame = Atoms(numbers=atoms.numbers, positions=atoms.positions, cell=atoms.cell[:], pbc=atoms.pbc)
    frame.info.update(info)
    frame.info.update(
        frame_uncertainty(calculator)
    )  # a committee's force deviation: what active learning scores
    frame.info['energy'] = values['energy']
    frame.arrays['forces'] = values['forces']
    if values['stress'] is not None:
        frame.info['stress'] = values['stress']
    return normalize_frame(frame)


def random_strain(rng: np.random.Generator, amplitude: float) -> np.ndarray:
    """A symmetric 3×3 strain with components uniform in [−amplitude, amplitude]."""
    strain = rng.uniform(-amplitude, amplitude, (3, 3))
    return (strain + strain.T) / 2


def teacher_frames(
    structures: Sequence[Atoms],
    teacher,
    settings: SamplingSettings | None = None,
    *,
    teacher_name: str = 'teacher',
    progress=None,
) -> TeacherSample:
    """MD and perturbed frames of ``structures`` labelled by the ``teacher`` calculator (see the module docstring).

    Args:
        structures: periodic starting structures (bulk cells, cut-outs of the target supercells).
        teacher: an ase calculator (:func:`aiida_flexo.mlip.load_calculator`).
        settings: :class:`SamplingSettings`.
        teacher_name: recorded in every frame's ``info['teacher']``.
        progress: optional callable ``(done, total)`` called after each frame.

    Raises:
        ValueError: no structure, a non-periodic one, or settings out of range.
    """
    from ase.io import read

    from aiida_flexo.mlip.md import run_md

    settings = settings or SamplingSettings()
    if not structures:
        raise ValueError('no structure to sample: give at least one periodic structure')
    for i, atoms in enumerate(structures):
        if not all(atoms.pbc) or atoms.cell.volume <= 0:
            raise ValueError(f'structure {i} is not a 3D periodic cell; distillation needs periodic cells')
        if not np.all(np.isfinite(atoms.positions)):
            raise ValueError(f'structure {i} has non-finite positions')
    start = time.perf_counter()
    rng = np.random.default_rng(settings.seed)
    runs = [(s, t) for s in range(len(structures)) for t in settings.temperatures]
    n_md = settings.n_frames // 2
    per_run = max(1, n_md // len(runs))
    n_perturbed = settings.n_frames - per_run * len(runs)
    total = per_run * len(runs) + n_perturbed
    frames: list[Atoms] = []
    md_steps = 0

    def add(frame: Atoms) -> None:
        frames.append(frame)
        if progress is not None:
            progress(len(frames), total)

    for k, (s, temperature) in enumerate(runs):
        # the first stride steps equilibrate from the ideal structure; keep the frames after them
        steps = per_run * settings.stride + settings.stride
        with tempfile.TemporaryDirectory() as tmp:
            trajectory = Path(tmp) / 'md.traj'
            run_md(
                structures[s],
                teacher,
                [(temperature, steps)],
                timestep_fs=settings.timestep_fs,
                stride=settings.stride,
                seed=settings.seed + k,
                trajectory=trajectory,
            )
            kept = read(trajectory, index=f'-{per_run}:')
        md_steps += steps
        for atoms in kept:
            add(
                _label(
                    atoms,
                    teacher,
                    {
                        'teacher': teacher_name,
                        'teacher_source': 'md',
                        'structure_index': s,
                        'temperature_K': temperature,
                        'md_step': int(atoms.info.get('md_step', 0)),
                    },
                )
            )
    for j in range(n_perturbed):
        s = j % len(structures)
        atoms = structures[s].copy()
        strain = random_strain(rng, settings.strain)
        atoms.set_cell(np.asarray(atoms.cell[:]) @ (np.eye(3) + strain), scale_atoms=True)
        atoms.positions += rng.normal(0.0, settings.displacement, atoms.positions.shape)
        add(
            _label(
                atoms,
                teacher,
                {
                    'teacher': teacher_name,
                    'teacher_source': 'perturbation',
                    'structure_index': s,
                    'strain': strain.reshape(-1).tolist(),
                    'displacement_A': settings.displacement,
                },
            )
        )
    notes = []
    forces = np.concatenate([np.linalg.norm(f.arrays['forces'], axis=1) for f in frames])
    if forces.max() > 20:
        notes.append(
            f'largest teacher force {forces.max():.1f} eV/Å: some frames are far from equilibrium; lower the '
            'temperatures, the strain or the displacement'
        )
    return TeacherSample(frames, md_steps, time.perf_counter() - start, teacher_name, settings, notes)


def write_teacher_frames(sample: TeacherSample, path: str | Path) -> Path:
    return write_frames(path, sample.frames)


def compose_report(
    student_metrics: dict, sampling: dict, student_dft: dict | None = None, teacher_dft: dict | None = None
) -> dict:
    """The figures of a distillation from the student's training metrics, the sampling summary and, when held-out
    DFT frames were scored, both models' errors on them (force meV/Å, energy meV/atom, stress GPa)."""
    report = {
        'student_vs_teacher': student_metrics.get('test') or student_metrics.get('val'),
        'sampling': dict(sampling),
    }
    if student_dft is not None and teacher_dft is not None:
        report['student_vs_dft'] = dict(student_dft)
        report['teacher_vs_dft'] = dict(teacher_dft)
        report['distillation_loss_force_meV_A'] = (
            student_dft['force_mae_meV_A'] - teacher_dft['force_mae_meV_A']
        )
    return report


def distillation_report(
    student,
    teacher,
    dft_frames: Sequence[Atoms] | None,
    student_metrics: dict,
    sample: TeacherSample | dict,
) -> dict:
    """:func:`compose_report` with the student and the teacher calculators scored on ``dft_frames`` here."""
    from aiida_flexo.mlip.metrics import error_metrics

    sampling = sample.summary() if isinstance(sample, TeacherSample) else dict(sample)
    if not dft_frames:
        return compose_report(student_metrics, sampling)
    return compose_report(
        student_metrics,
        sampling,
        error_metrics(student, dft_frames, source='held-out DFT frames'),
        error_metrics(teacher, dft_frames, source='held-out DFT frames'),
    )


def md_speed(calculator, atoms: Atoms, steps: int = 5, timestep_fs: float = 1.0) -> dict:
    """Atoms per second of NVE MD with ``calculator`` on ``atoms`` (the first step, which builds caches, excluded)."""
    from ase import units
    from ase.md.verlet import VelocityVerlet

    work = atoms.copy()
    work.calc = calculator
    work.get_forces()
    dyn = VelocityVerlet(work, timestep=timestep_fs * units.fs)
    dyn.run(1)
    start = time.perf_counter()
    dyn.run(steps)
    elapsed = time.perf_counter() - start
    return {
        'n_atoms': len(atoms),
        'steps': steps,
        'seconds_per_step': elapsed / steps,
        'atoms_per_second': len(atoms) * steps / elapsed,
    }


def save_report(report: dict, path: str | Path) -> Path:
    path = Path(path)
    path.write_text(json.dumps(report, indent=2))
    return path
