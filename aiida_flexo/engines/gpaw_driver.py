"""The GPAW engine executable: label one structure with energy, forces, stress, Berry-phase dipole, Born charges, MD.

Run in a work directory (this is what the ``flexo.gpaw`` CalcJob executes on the target computer)::

    aiida-flexo engine gpaw input.json [--structure structure.xyz]

``input.json`` holds :class:`~aiida_flexo.engines.inputs.EngineInputs` (``to_dict``); ``structure.xyz`` one extxyz
structure, 3D periodic. One serial GPAW process (``OPENBLAS_NUM_THREADS=1``, set by the command); run one job per
core for throughput.

Stages, in this order, each written to disk as soon as it finishes (nothing finished is lost on a later failure):

1. ``scf``: energy (eV, extrapolated to zero smearing, GPAW's ``energy``), free energy (eV, the Mermin free energy
   whose derivatives are the forces), forces (eV/Å), stress (eV/Å³, ase sign: positive = tensile).
2. ``berry_phase`` (if asked, or needed by the Born charges): cell dipole d (e·Å, physics sign) = electronic
   (GPAW's ``polarization_phase``) + ionic (Σ Z_val r with the positions as given), folded to the minimum image over
   the lattice ``q e R``; q = 2 for spin-paired runs with even valence charges, else 1 (see
   :mod:`aiida_flexo.polarization.gpaw`). Symmetry is off for this and the next stage.
3. ``born_charges``: Z*_i,αβ = ∂d_α/∂r_iβ (e) by central (±h) or forward (+h) finite differences of the raw
   dipole, each difference folded with :func:`aiida_flexo.polarization.minimum_image` *before* dividing by the step;
   the acoustic sum rule residual Σ_i Z*_i,αβ is reported for the displaced directions when every atom was displaced.
   Each displaced structure is also written as a labelled frame (energy, forces, dipole) to ``displaced.xyz``.
4. ``md``: ase Langevin or Nosé–Hoover-chain (NVT) or velocity-Verlet (NVE) MD with GPAW forces from the input
   structure; the trajectory (energy, forces, stress, temperature) is written as labelled frames to ``md.xyz`` as it
   goes.

Outputs in the work directory:

* ``results.json``: ``status`` (running / finished / failed), ``exit_status``, ``error``, ``stages``, ``energy``,
  ``free_energy``, ``forces``, ``stress``, ``dipole``, ``dipole_raw``, ``dipole_electronic``, ``dipole_ionic``,
  ``charge_quantum``, ``valence_charges``, ``born_charges`` (n×3×3, ``null`` where not computed), ``born_charges_complete``,
  ``asr_residual`` (3×3, ``null`` for directions not displaced or when not every atom was displaced),
  ``asr_residual_max``, ``born_displacements``, ``md``, ``timings`` (s), ``gpaw_version``, ``parameters`` (the native
  GPAW parameters per task), ``kpoint_mesh``, ``inputs``, ``input_hash``.
* ``labelled.xyz``: the input structure as one labelled frame (:func:`aiida_flexo.data.write_frames`, canonical
  labels: energy, forces, stress, dipole, charge_quantum, born_charges when complete; ``free_energy``, ``engine``,
  ``engine_version`` and ``protocol`` as extra info).
* ``displaced.xyz``, ``md.xyz``: labelled frames of the Born-charge displacements and of the MD trajectory.
* ``gpaw.txt``, ``gpaw_md.txt``, ``berry_phase.txt``: GPAW's logs.

Exit statuses (:class:`aiida_flexo.engines.exit_codes.ExitCode`; the message is printed on stderr and stored in
``results.json``):

====  =======================  ===============================================================================
code  name                     meaning and fix
====  =======================  ===============================================================================
0     OK                       all stages finished
1     (Python)                 unexpected exception (traceback on stderr)
2     (click)                  bad command line
10    INVALID_INPUT            unreadable or invalid ``input.json`` / structure file (the field is named)
11    NON_PERIODIC             the structure is not periodic in 3D: give three lattice vectors and pbc T T T
12    MISSING_SETUP            no PAW setup for a species (named): install gpaw-data (scripts/install_gpaw.sh) or
                               point GPAW_SETUP_PATH to a directory with ``<El>.<xc>.gz``
13    ENGINE_NOT_INSTALLED     gpaw does not import: run scripts/install_gpaw.sh
20    SCF_NOT_CONVERGED        an SCF hit ``max_scf_iterations``: raise it, or lower the smearing/mixing
21    BERRY_PHASE_NO_GAP       Berry phase (or Born charges) of a system without a band gap
30    MD_EXPLODED              MD temperature above the limit, atoms closer than ``md.min_distance`` or non-finite
                               values: lower the time step or the temperature
====  =======================  ===============================================================================

Resuming: when ``results.json`` of an earlier run with the same ``input_hash`` exists in the work directory, its
finished stages and Born-charge displacements are reused (the MD is always rerun).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms
from ase.stress import voigt_6_to_full_3x3_stress

from aiida_flexo.data import write_frames
from aiida_flexo.engines.exit_codes import EngineError, ExitCode
from aiida_flexo.engines.gpaw_inputs import gpaw_parameters
from aiida_flexo.engines.inputs import NOSE_HOOVER_STEPS, EngineInputs, InputsError
from aiida_flexo.engines.threads import THREAD_VARIABLES, blas_threads, single_threaded_blas
from aiida_flexo.polarization.gpaw import GpawDipole, gpaw_dipole
from aiida_flexo.polarization.quanta import minimum_image
from aiida_flexo.serialization import jsonable

RESULTS_FILE = 'results.json'
LABELLED_FILE = 'labelled.xyz'
DISPLACED_FILE = 'displaced.xyz'
MD_FILE = 'md.xyz'
GPAW_LOG = 'gpaw.txt'
GPAW_MD_LOG = 'gpaw_md.txt'
BERRY_LOG = 'berry_phase.txt'
_XYZ = 'xyz'


# ---------------------------------------------------------------------------------------------- input checks
def read_structure(path: str | Path) -> Atoms:
    """Read the single extxyz structure of a run; raise :class:`EngineError` (INVALID_INPUT / NON_PERIODIC)."""
    from ase.io import read

    path = Path(path)
    if not path.is_file():
        raise EngineError(ExitCode.INVALID_INPUT, f'{path}: no such structure file (write it as extxyz)')
    try:
        images = read(path, index=':')
    except Exception as exc:  # noqa: BLE001 - ase raises many types
        raise EngineError(ExitCode.INVALID_INPUT, f'{path}: not readable as extxyz ({exc})') from exc
    if len(images) != 1:
        raise EngineError(ExitCode.INVALID_INPUT, f'{path}: holds {len(images)} structures; give exactly one')
    atoms = images[0]
    check_periodic(atoms, str(path))
    return Atoms(numbers=atoms.numbers, positions=atoms.positions, cell=atoms.cell[:], pbc=True)


def check_periodic(atoms: Atoms, where: str = 'structure') -> None:
    """Raise NON_PERIODIC unless the structure is periodic in 3D with a non-singular cell."""
    if not all(atoms.pbc) or abs(atoms.cell.volume) < 1e-6:
        raise EngineError(
            ExitCode.NON_PERIODIC,
            f'{where}: not periodic in 3D (pbc={[bool(p) for p in atoms.pbc]}, volume={abs(atoms.cell.volume):.3g} '
            'Å³); plane-wave DFT and Berry phases need a 3D periodic cell: give three lattice vectors '
            '(Lattice="..." in the extxyz header) and pbc="T T T"',
        )


def import_gpaw():
    """Import gpaw or raise ENGINE_NOT_INSTALLED with the fix."""
    try:
        import gpaw
    except ImportError as exc:
        raise EngineError(
            ExitCode.ENGINE_NOT_INSTALLED,
            f'GPAW does not import ({exc}); install it with scripts/install_gpaw.sh (PYTHON=<this python>)',
        ) from exc
    return gpaw


def setup_xc_name(xc: str) -> str:
    """The functional name GPAW uses in PAW setup file names (``Ba.PBE.gz``) for ``xc``."""
    try:
        from gpaw.xc import XC

        return XC(xc).get_setup_name()
    except Exception as exc:  # noqa: BLE001
        raise EngineError(
            ExitCode.INVALID_INPUT, f'unknown exchange-correlation functional {xc!r} ({exc})'
        ) from exc


def missing_setups(symbols: list[str], xc: str, setup_paths: list[str | Path] | None = None) -> list[str]:
    """The species without a ``<El>.<xc>[.gz]`` PAW setup in GPAW's setup paths."""
    if setup_paths is None:
        import gpaw

        setup_paths = list(gpaw.setup_paths)
    name = setup_xc_name(xc)
    missing = []
    for symbol in sorted(set(symbols)):
        candidates = [Path(p) / f'{symbol}.{name}{ext}' for p in setup_paths for ext in ('', '.gz')]
        if not any(c.is_file() for c in candidates):
            missing.append(symbol)
    return missing


def check_setups(symbols: list[str], xc: str) -> None:
    """Raise MISSING_SETUP naming the species without a PAW setup and the fix."""
    import gpaw

    missing = missing_setups(symbols, xc)
    if missing:
        raise EngineError(
            ExitCode.MISSING_SETUP,
            f'no GPAW PAW setup for species {missing} with the {setup_xc_name(xc)} functional in '
            f'{[str(p) for p in gpaw.setup_paths]}; install the gpaw-data package (scripts/install_gpaw.sh) or set '
            f'GPAW_SETUP_PATH to a directory holding {missing[0]}.{setup_xc_name(xc)}.gz',
        )


def input_hash(inputs: EngineInputs, atoms: Atoms) -> str:
    """SHA-256 of the inputs and the structure (decides whether an earlier run's results can be reused)."""
    digest = hashlib.sha256(json.dumps(inputs.to_dict(), sort_keys=True).encode())
    for array in (atoms.numbers, atoms.positions, np.asarray(atoms.cell[:])):
        digest.update(np.ascontiguousarray(array, dtype=float).tobytes())
    return digest.hexdigest()


# ---------------------------------------------------------------------------------------------- results on disk
class Results:
    """``results.json`` kept in sync with the run (atomic rewrite after every change)."""

    def __init__(self, workdir: Path, data: dict[str, Any]):
        self.path = workdir / RESULTS_FILE
        self.data = data
        self.flush()

    def update(self, **values: Any) -> None:
        self.data.update(values)
        self.flush()

    def flush(self) -> None:
        tmp = self.path.with_suffix('.json.tmp')
        tmp.write_text(json.dumps(jsonable(self.data), indent=1) + '\n')
        tmp.replace(self.path)


def labelled_frame(atoms: Atoms, labels: dict[str, Any], info: dict[str, Any] | None = None) -> Atoms:
    """A copy of ``atoms`` carrying canonical labels (see :mod:`aiida_flexo.data.frames`)."""
    frame = Atoms(numbers=atoms.numbers, positions=atoms.positions, cell=atoms.cell[:], pbc=True)
    if atoms.has('momenta'):
        frame.set_momenta(atoms.get_momenta())
    for key in ('energy', 'free_energy', 'charge_quantum'):
        if labels.get(key) is not None:
            frame.info[key] = float(labels[key])
    for key in ('stress', 'dipole'):
        if labels.get(key) is not None:
            frame.info[key] = np.asarray(labels[key], dtype=float)
    for key in ('forces', 'born_charges'):
        if labels.get(key) is not None:
            frame.arrays[key] = np.asarray(labels[key], dtype=float)
    frame.info.update(info or {})
    return frame


# ---------------------------------------------------------------------------------------------- the runner
class GpawRun:
    """One labelling job in a work directory (see the module docstring)."""

    def __init__(
        self,
        inputs: EngineInputs,
        atoms: Atoms,
        workdir: str | Path = '.',
        *,
        resume: bool = True,
        log: Callable[[str], None] | None = None,
    ):
        self.inputs = inputs.validate()
        check_periodic(atoms)
        for task in ('scf', 'berry_phase', 'md'):
            gpaw_parameters(self.inputs, atoms, task=task)  # raises InputsError on inputs GPAW cannot run
        self.atoms = atoms.copy()
        self.atoms.calc = None
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.hash = input_hash(self.inputs, self.atoms)
        self._log = log or (lambda message: print(f'[gpaw-driver] {message}', flush=True))
        self.previous = self._previous_results() if resume else {}
        self.calc = None
        self.results: Results | None = None

    # .................................................................. helpers
    def log(self, message: str) -> None:
        self._log(message)

    def _previous_results(self) -> dict[str, Any]:
        path = self.workdir / RESULTS_FILE
        if not path.is_file():
            return {}
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError:
            return {}
        return data if data.get('input_hash') == self.hash else {}

    def _stage_done(self, stage: str) -> bool:
        return self.previous.get('stages', {}).get(stage) == 'done'

    def _set_stage(self, stage: str, state: str, wall: float | None = None) -> None:
        assert self.results is not None
        self.results.data.setdefault('stages', {})[stage] = state
        if wall is not None:
            self.results.data.setdefault('timings', {})[stage] = wall
        self.results.flush()

    def _frame_info(self) -> dict[str, Any]:
        return {
            'engine': 'gpaw',
            'engine_version': self.results.data['gpaw_version'],
            'protocol': self.inputs.protocol,
        }

    def _write_labelled(self) -> None:
        data = self.results.data
        labels = {
            key: data.get(key)
            for key in ('energy', 'free_energy', 'forces', 'stress', 'dipole', 'charge_quantum')
        }
        if data.get('born_charges_complete'):
            labels['born_charges'] = data['born_charges']
        write_frames(self.workdir / LABELLED_FILE, [labelled_frame(self.atoms, labels, self._frame_info())])

    def _calculator(self, task: str, txt: str):
        from gpaw import GPAW

        params = gpaw_parameters(self.inputs, self.atoms, task=task)
        self.results.data.setdefault('parameters', {})[task] = params
        self.results.flush()
        return GPAW(**params, txt=str(self.workdir / txt))

    def _run_scf(self, atoms: Atoms, properties: tuple[str, ...], what: str) -> dict[str, Any]:
        """Energy (+ forces, stress) of ``atoms`` with its calculator, translating GPAW failures to exit codes."""
        from gpaw import KohnShamConvergenceError

        try:
            out: dict[str, Any] = {
                'energy': float(atoms.get_potential_energy()),
                'free_energy': float(atoms.get_potential_energy(force_consistent=True)),
            }
            if 'forces' in properties:
                out['forces'] = np.asarray(atoms.get_forces(), dtype=float)
            if 'stress' in properties:
                out['stress'] = voigt_6_to_full_3x3_stress(np.asarray(atoms.get_stress(), dtype=float))
        except KohnShamConvergenceError as exc:
            raise EngineError(
                ExitCode.SCF_NOT_CONVERGED,
                f'the SCF of {what} did not converge in {self.inputs.setting("max_scf_iterations")} iterations '
                f'({exc}); raise max_scf_iterations, increase smearing_width, or use engine_options '
                "{'gpaw': {'mixer': ...}}",
            ) from exc
        except FileNotFoundError as exc:
            if 'PAW dataset' in str(exc) or 'setup' in str(exc).lower():
                raise EngineError(
                    ExitCode.MISSING_SETUP,
                    f'{exc}; install gpaw-data (scripts/install_gpaw.sh) or set GPAW_SETUP_PATH',
                ) from exc
            raise
        with contextlib.suppress(Exception):
            out['scf_iterations'] = int(atoms.calc.get_number_of_iterations())
        return out

    def _berry_dipole(self, atoms: Atoms, what: str) -> GpawDipole:
        from gpaw.berryphase import ZeroBandgap, polarization_phase

        try:
            with open(self.workdir / BERRY_LOG, 'a') as stream, contextlib.redirect_stdout(stream):
                phases = polarization_phase(calc=atoms.calc)
        except (ZeroBandgap, RuntimeError) as exc:
            # GPAW's rank-0 wrapper re-raises every error as a RuntimeError carrying the original traceback
            if not isinstance(exc, ZeroBandgap) and 'ZeroBandgap' not in str(exc):
                raise
            raise EngineError(
                ExitCode.BERRY_PHASE_NO_GAP,
                f'{what} has no band gap: the Berry-phase polarization (and Born charges from it) is defined for '
                'insulators only; drop berry_phase/born_charges for metallic frames',
            ) from exc
        calc = atoms.calc
        valence = [float(setup.Nv) for setup in calc.setups]
        return gpaw_dipole(
            phases['electronic_phase_c'],
            atoms.cell[:],
            atoms.positions,
            valence,
            nspins=int(calc.get_number_of_spins()),
            collinear=bool(getattr(calc.wfs, 'collinear', True)),
        )

    # .................................................................. stages
    def run(self) -> dict[str, Any]:
        """Run every asked stage; return the results (as in ``results.json``: lists, ``None`` for values not computed).

        Raises :class:`EngineError` with the exit status on a known failure.

        BLAS runs on one thread during the run (:func:`~aiida_flexo.engines.threads.single_threaded_blas`): one GPAW
        process per core.
        """
        gpaw = import_gpaw()
        with single_threaded_blas():
            return self._run(gpaw)

    def _run(self, gpaw) -> dict[str, Any]:
        start = time.perf_counter()
        self.results = Results(
            self.workdir,
            {
                'status': 'running',
                'exit_status': None,
                'error': None,
                'engine': 'gpaw',
                'gpaw_version': gpaw.__version__,
                'aiida_flexo_version': _aiida_flexo_version(),
                'input_hash': self.hash,
                'inputs': self.inputs.to_dict(),
                'n_atoms': len(self.atoms),
                'symbols': self.atoms.get_chemical_symbols(),
                'kpoint_mesh': self.inputs.kpoint_mesh(self.atoms),
                'environment': {
                    **{k: os.environ.get(k) for k in THREAD_VARIABLES},
                    'blas_threads': blas_threads(),
                },
                'stages': {},
                'timings': {},
            },
        )
        try:
            if 'setups' not in self.inputs.engine_options.get('gpaw', {}):  # custom setups: GPAW checks them
                check_setups(self.atoms.get_chemical_symbols(), self.inputs.xc)
            self._stage_scf()
            if self.inputs.needs_berry_phase:
                self._stage_berry_phase()
            if self.inputs.born_charges.enabled:
                self._stage_born_charges()
            if self.inputs.md.steps > 0:
                self._stage_md()
        except EngineError as error:
            self.results.data.setdefault('timings', {})['total'] = time.perf_counter() - start
            self.results.update(status='failed', exit_status=int(error.exit_code), error=error.message)
            raise
        self.results.data['timings']['total'] = time.perf_counter() - start
        self.results.update(status='finished', exit_status=0)
        self.log(f'finished in {self.results.data["timings"]["total"]:.1f} s')
        return jsonable(self.results.data)

    def _stage_scf(self) -> None:
        keys = ('energy', 'free_energy', 'forces', 'stress', 'scf_iterations')
        if self._stage_done('scf') and (self._stage_done('berry_phase') or not self.inputs.needs_berry_phase):
            self.log('scf: reusing the results of the earlier run')
            self.results.data.update({k: self.previous.get(k) for k in keys})
            self.results.data['parameters'] = self.previous.get('parameters', {})
            self.results.data['timings']['scf'] = self.previous.get('timings', {}).get('scf')
            self._set_stage('scf', 'done')
            self._write_labelled()
            return
        task = 'berry_phase' if self.inputs.needs_berry_phase else 'scf'
        self._set_stage('scf', 'running')
        tick = time.perf_counter()
        self.calc = self._calculator(task, GPAW_LOG)
        self.atoms.calc = self.calc
        properties = ('forces', 'stress') if self.inputs.stress else ('forces',)
        mesh = self.inputs.kpoint_mesh(self.atoms)
        self.log(f'scf: {len(self.atoms)} atoms, k-mesh {mesh}, cutoff {self.inputs.setting("cutoff")} eV')
        out = self._run_scf(self.atoms, properties, 'the input structure')
        self.results.data.update(out)
        wall = time.perf_counter() - tick
        self._set_stage('scf', 'done', wall)
        self._write_labelled()
        self.log(f'scf: E = {out["energy"]:.6f} eV in {wall:.1f} s')

    def _stage_berry_phase(self) -> None:
        keys = (
            'dipole',
            'dipole_raw',
            'dipole_electronic',
            'dipole_ionic',
            'charge_quantum',
            'valence_charges',
        )
        if self._stage_done('berry_phase') and self.calc is None:
            self.log('berry_phase: reusing the results of the earlier run')
            self.results.data.update({k: self.previous.get(k) for k in keys})
            self.results.data['timings']['berry_phase'] = self.previous.get('timings', {}).get('berry_phase')
            self._set_stage('berry_phase', 'done')
            self._write_labelled()
            return
        self._set_stage('berry_phase', 'running')
        tick = time.perf_counter()
        dipole = self._berry_dipole(self.atoms, 'the input structure')
        valence = dict(zip(self.atoms.get_chemical_symbols(), (float(s.Nv) for s in self.calc.setups)))
        self.results.data.update(dipole.as_dict(), valence_charges=valence)
        wall = time.perf_counter() - tick
        self._set_stage('berry_phase', 'done', wall)
        self._write_labelled()
        self.log(
            f'berry_phase: d = {np.round(dipole.dipole, 5).tolist()} e·Å (q = {dipole.charge_quantum:g}) in {wall:.1f} s'
        )

    def _stage_born_charges(self) -> None:
        spec = self.inputs.born_charges
        n = len(self.atoms)
        indices = list(range(n)) if spec.atoms is None else [int(i) for i in spec.atoms]
        bad = [i for i in indices if not 0 <= i < n]
        if bad:
            raise EngineError(ExitCode.INVALID_INPUT, f'born_charges.atoms {bad} out of range for {n} atoms')
        directions = spec.direction_indices
        signs = (1, -1) if spec.scheme == 'central' else (1,)
        h = spec.displacement
        cell = self.atoms.cell[:]
        quantum = float(self.results.data['charge_quantum'])
        reference = np.asarray(self.results.data['dipole_raw'], dtype=float)

        previous = {
            (d['atom'], d['direction'], d['sign']): d
            for d in self.previous.get('born_displacements', []) or []
        }
        done: list[dict[str, Any]] = []
        frames: list[Atoms] = []
        self._set_stage('born_charges', 'running')
        self.results.update(
            born_displacements=done, born_charges_scheme=spec.scheme, born_charges_displacement=h
        )
        tick = time.perf_counter()
        total = len(indices) * len(directions) * len(signs)
        for i in indices:
            for beta in directions:
                for sign in signs:
                    key = (i, _XYZ[beta], sign)
                    displaced = self.atoms.copy()
                    displaced.positions[i, beta] += sign * h
                    if key in previous:
                        entry = previous[key]
                    else:
                        step_tick = time.perf_counter()
                        if self.calc is None:
                            self.calc = self._calculator('berry_phase', GPAW_LOG)
                        displaced.calc = self.calc
                        what = f'atom {i} displaced by {sign * h:+g} Å along {_XYZ[beta]}'
                        out = self._run_scf(displaced, ('forces',), what)
                        dipole = self._berry_dipole(displaced, what)
                        entry = {
                            'atom': i,
                            'direction': _XYZ[beta],
                            'sign': sign,
                            'displacement': h,
                            'energy': out['energy'],
                            'free_energy': out['free_energy'],
                            'forces': out['forces'],
                            'scf_iterations': out.get('scf_iterations'),
                            **dipole.as_dict(),
                            'wall_s': time.perf_counter() - step_tick,
                        }
                    done.append(entry)
                    frames.append(
                        labelled_frame(
                            displaced,
                            entry,
                            {
                                **self._frame_info(),
                                'displaced_atom': i,
                                'displacement': sign * h,
                                'displacement_direction': _XYZ[beta],
                            },
                        )
                    )
                    write_frames(self.workdir / DISPLACED_FILE, frames)
                    self.results.flush()
                    self.log(f'born_charges: {len(done)}/{total} displacements ({key})')

        born = np.full((n, 3, 3), np.nan)
        by_key = {
            (d['atom'], d['direction'], d['sign']): np.asarray(d['dipole_raw'], dtype=float) for d in done
        }
        for i in indices:
            for beta in directions:
                plus = by_key[(i, _XYZ[beta], 1)]
                if spec.scheme == 'central':
                    column = minimum_image(plus - by_key[(i, _XYZ[beta], -1)], cell, quantum) / (2 * h)
                else:
                    column = minimum_image(plus - reference, cell, quantum) / h
                born[i, :, beta] = column
        all_atoms = sorted(indices) == list(range(n))
        complete = all_atoms and directions == [0, 1, 2]
        asr = np.full((3, 3), np.nan)
        if all_atoms:
            asr[:, directions] = born[:, :, directions].sum(axis=0)
            if spec.enforce_asr:
                born[:, :, directions] -= asr[None, :, directions] / n
        finite = asr[np.isfinite(asr)]
        wall = time.perf_counter() - tick
        self.results.data.update(
            born_charges=born,
            born_charges_complete=complete,
            born_charges_asr_enforced=bool(spec.enforce_asr and all_atoms),
            asr_residual=asr,
            asr_residual_max=float(np.abs(finite).max()) if finite.size else None,
        )
        self._set_stage('born_charges', 'done', wall)
        self._write_labelled()
        self.log(
            f'born_charges: done in {wall:.1f} s; ASR residual max {self.results.data["asr_residual_max"]}'
        )

    def _stage_md(self) -> None:
        from ase import units
        from ase.constraints import FixCom
        from ase.md.langevin import Langevin
        from ase.md.nose_hoover_chain import NoseHooverChainNVT
        from ase.md.velocitydistribution import MaxwellBoltzmannDistribution, Stationary
        from ase.md.verlet import VelocityVerlet
        from ase.neighborlist import neighbor_list

        spec = self.inputs.md
        self._set_stage('md', 'running')
        tick = time.perf_counter()
        atoms = self.atoms.copy()
        atoms.calc = self._calculator('md', GPAW_MD_LOG)
        rng = np.random.default_rng(spec.seed)
        if spec.temperature > 0:
            MaxwellBoltzmannDistribution(atoms, temperature_K=spec.temperature, rng=rng)
            Stationary(atoms)
        if spec.thermostat == 'langevin':
            atoms.set_constraint(
                FixCom()
            )  # ase's recommended way to keep the centre of mass (not fixcm=True)
            dynamics = Langevin(
                atoms,
                timestep=spec.timestep * units.fs,
                temperature_K=spec.temperature,
                friction=spec.friction / units.fs,
                fixcm=False,
                rng=rng,
            )
        elif spec.thermostat == 'nose-hoover':
            dynamics = NoseHooverChainNVT(
                atoms,
                timestep=spec.timestep * units.fs,
                temperature_K=spec.temperature,
                tdamp=NOSE_HOOVER_STEPS * spec.timestep * units.fs,
            )
        else:
            dynamics = VelocityVerlet(atoms, timestep=spec.timestep * units.fs)
        limit = max(spec.max_temperature_factor * spec.temperature, spec.temperature + 1000.0)
        frames: list[Atoms] = []
        summary: dict[str, Any] = {
            'steps_done': 0,
            'temperatures': [],
            'energies': [],
            'temperature_limit': limit,
        }
        self.results.update(md=summary)
        properties = ('forces', 'stress') if spec.stress else ('forces',)

        def observe() -> None:
            step = dynamics.nsteps
            temperature = float(atoms.get_temperature())
            write = step % spec.interval == 0 or step == spec.steps
            out = self._run_scf(atoms, properties if write else ('forces',), f'MD step {step}')
            summary['steps_done'] = step
            summary['temperatures'].append(temperature)
            summary['energies'].append(out['free_energy'] + float(atoms.get_kinetic_energy()))
            if write:
                frames.append(
                    labelled_frame(
                        atoms,
                        out,
                        {
                            **self._frame_info(),
                            'md_step': step,
                            'md_time_fs': step * spec.timestep,
                            'md_temperature_K': temperature,
                        },
                    )
                )
                write_frames(self.workdir / MD_FILE, frames)
            self.results.flush()
            close = neighbor_list('d', atoms, spec.min_distance)
            problem = None
            if not (np.isfinite(out['energy']) and np.all(np.isfinite(out['forces']))):
                problem = 'non-finite energy or forces'
            elif temperature > limit:
                problem = f'temperature {temperature:.0f} K above the limit {limit:.0f} K'
            elif len(close):
                problem = f'two atoms {float(close.min()):.2f} Å apart (limit {spec.min_distance} Å)'
            if problem:
                raise EngineError(
                    ExitCode.MD_EXPLODED,
                    f'MD exploded at step {step}: {problem}; lower md.timestep ({spec.timestep} fs) or '
                    f'md.temperature ({spec.temperature} K); the trajectory so far is in {MD_FILE}',
                )

        dynamics.attach(observe, interval=1)
        self.log(f'md: {spec.steps} steps of {spec.timestep} fs at {spec.temperature} K ({spec.thermostat})')
        dynamics.run(spec.steps)
        wall = time.perf_counter() - tick
        summary['wall_per_step_s'] = wall / max(1, spec.steps + 1)
        self._set_stage('md', 'done', wall)
        self.log(f'md: done in {wall:.1f} s')


def _aiida_flexo_version() -> str:
    from aiida_flexo import __version__

    return __version__


def run_gpaw(
    input_file: str | Path = 'input.json',
    structure_file: str | Path | None = None,
    workdir: str | Path | None = None,
    *,
    resume: bool = True,
) -> dict[str, Any]:
    """Run the GPAW engine on ``input_file`` (+ ``structure_file``, default ``structure.xyz`` beside it) in ``workdir``.

    Returns the results dict; raises :class:`EngineError` with the exit status on a known failure (results.json then
    holds ``status = 'failed'`` and everything finished before).
    """
    input_file = Path(input_file)
    structure_file = Path(structure_file) if structure_file else input_file.parent / 'structure.xyz'
    workdir = Path(workdir) if workdir else Path.cwd()
    try:
        inputs = EngineInputs.from_json(input_file)
    except InputsError as exc:
        raise EngineError(ExitCode.INVALID_INPUT, str(exc)) from exc
    atoms = read_structure(structure_file)
    try:
        runner = GpawRun(inputs, atoms, workdir, resume=resume)
    except InputsError as exc:
        raise EngineError(ExitCode.INVALID_INPUT, str(exc)) from exc
    return runner.run()


def main(argv: list[str] | None = None) -> int:
    """``python -m aiida_flexo.engines.gpaw_driver INPUT.json [STRUCTURE.xyz]``: the same as the CLI command."""
    argv = sys.argv[1:] if argv is None else argv
    try:
        run_gpaw(*(argv[:2] or ['input.json']))
    except EngineError as error:
        print(str(error), file=sys.stderr)
        return int(error.exit_code)
    return 0


if __name__ == '__main__':
    sys.exit(main())
