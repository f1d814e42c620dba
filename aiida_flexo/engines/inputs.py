"""Engine-neutral DFT inputs: what to compute and how accurately, independent of the code that computes it.

One :class:`EngineInputs` (JSON through :meth:`EngineInputs.to_dict` / :meth:`EngineInputs.from_dict`) describes a
labelling job; the structure travels separately (``structure.xyz``, extxyz) because it is a separate provenance
node. Each engine registers a *native mapping* ``(inputs, atoms) -> dict`` of its own parameters in
:data:`NATIVE_MAPPINGS` (see :func:`register_engine` and :func:`to_native`): ``gpaw`` in
:mod:`aiida_flexo.engines.gpaw_inputs`; ``vasp`` (INCAR/KPOINTS, written by the AiiDA layer) registers itself the
same way.

Units: plane-wave cutoff in eV, k-point density in k-points per Å⁻¹ (reciprocal vectors including the 2π), smearing
width in eV, SCF energy tolerance in eV per valence electron, displacements in Å, temperatures in K, MD time step in
fs, Langevin friction in 1/fs.

Protocols (:data:`PROTOCOLS`) give the defaults; any field set explicitly overrides its protocol value.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms

from aiida_flexo.protocols import inputs_of, load_protocol_file

#: the engines' protocol file (aiida_flexo/engines/protocols/engine.yaml)
ENGINE_PROTOCOLS = load_protocol_file('aiida_flexo.engines.protocols', 'engine')

#: the engine-neutral DFT numbers of each protocol (cutoff eV, k-point density per Å⁻¹, smearing eV, SCF tolerances
#: and iteration limit), from ``aiida_flexo/engines/protocols/engine.yaml`` (the one protocol format,
#: :mod:`aiida_flexo.protocols`, where the measurements behind them are written)
PROTOCOLS: dict[str, dict[str, float | int]] = {
    name: {key: value for key, value in inputs_of(ENGINE_PROTOCOLS, name).items() if key != 'vasp'}
    for name in ENGINE_PROTOCOLS['protocols']
}
SMEARINGS = ('fermi-dirac', 'gaussian', 'methfessel-paxton', 'marzari-vanderbilt')
THERMOSTATS = ('langevin', 'nose-hoover', 'nve')
#: Nosé–Hoover damping time in MD time steps (as VASP's SMASS = 0: a Nosé period of about 40 steps).
NOSE_HOOVER_STEPS = 40
_DIRECTIONS = 'xyz'


class InputsError(ValueError):
    """Engine inputs that cannot be run (the message names the field and the fix)."""


@dataclass
class BornChargesSpec:
    """Born effective charges Z*_i,αβ = ∂d_α/∂r_iβ (e) by finite differences of the Berry-phase dipole.

    Attributes:
        enabled: compute them.
        method: ``'finite_differences'`` (of the Berry-phase dipole, every engine) or ``'dfpt'`` (engines with
            linear response, e.g. VASP LEPSILON; not GPAW).
        scheme: ``'central'`` (±h, error O(h²), two SCFs per displacement) or ``'forward'`` (+h against the
            reference, O(h), one SCF).
        displacement: h in Å.
        atoms: indices of the atoms to displace (``None``: all). The acoustic sum rule can only be checked when
            all atoms are displaced.
        directions: Cartesian directions to displace along, a subset of ``'xyz'`` (column β of Z*).
        enforce_asr: subtract the mean acoustic-sum-rule residual from every atom (only when complete).
    """

    enabled: bool = False
    method: str = 'finite_differences'
    scheme: str = 'central'
    displacement: float = 0.01
    atoms: list[int] | None = None
    directions: str = 'xyz'
    enforce_asr: bool = False

    def validate(self) -> None:
        if self.method not in ('finite_differences', 'dfpt'):
            raise InputsError(
                f"born_charges.method must be 'finite_differences' or 'dfpt', got {self.method!r}"
            )
        if self.scheme not in ('central', 'forward'):
            raise InputsError(f"born_charges.scheme must be 'central' or 'forward', got {self.scheme!r}")
        if not 1e-4 <= self.displacement <= 0.1:
            raise InputsError(
                f'born_charges.displacement = {self.displacement} Å is outside [1e-4, 0.1] Å; 0.01 Å is usual'
            )
        if (
            not self.directions
            or set(self.directions) - set(_DIRECTIONS)
            or len(set(self.directions)) != len(self.directions)
        ):
            raise InputsError(
                f"born_charges.directions must be distinct letters of 'xyz', got {self.directions!r}"
            )

    @property
    def direction_indices(self) -> list[int]:
        return sorted(_DIRECTIONS.index(c) for c in self.directions)


@dataclass
class MDSpec:
    """A short ab initio MD run started from the input structure (0 steps: none).

    Attributes:
        steps: number of MD steps.
        temperature: target (and initial Maxwell–Boltzmann) temperature, K.
        timestep: fs.
        thermostat: ``'langevin'`` (NVT), ``'nose-hoover'`` (NVT; a chain of 3 thermostats with a damping time of
            :data:`NOSE_HOOVER_STEPS` time steps in GPAW/ase) or ``'nve'`` (velocity Verlet).
        friction: Langevin friction, 1/fs.
        interval: write every ``interval``-th step to the trajectory.
        seed: random seed of the initial velocities and the Langevin noise.
        stress: compute the stress at every written step (costs one stress evaluation per written step).
        max_temperature_factor: the run counts as exploded when the instantaneous temperature exceeds
            ``max(max_temperature_factor * temperature, temperature + 1000 K)``, an interatomic distance drops below
            ``min_distance`` Å, or energies/forces become non-finite.
        min_distance: Å.
    """

    steps: int = 0
    temperature: float = 300.0
    timestep: float = 1.0
    thermostat: str = 'langevin'
    friction: float = 0.01
    interval: int = 1
    seed: int = 0
    stress: bool = True
    max_temperature_factor: float = 5.0
    min_distance: float = 0.5

    def validate(self) -> None:
        if self.steps < 0:
            raise InputsError(f'md.steps must be >= 0, got {self.steps}')
        if self.thermostat not in THERMOSTATS:
            raise InputsError(f'md.thermostat must be one of {THERMOSTATS}, got {self.thermostat!r}')
        if self.temperature < 0 or self.timestep <= 0 or self.friction < 0 or self.interval < 1:
            raise InputsError(
                'md needs temperature >= 0 K, timestep > 0 fs, friction >= 0 1/fs and interval >= 1, got '
                f'{self.temperature}, {self.timestep}, {self.friction}, {self.interval}'
            )
        if self.max_temperature_factor <= 1:
            raise InputsError(f'md.max_temperature_factor must be > 1, got {self.max_temperature_factor}')


@dataclass
class EngineInputs:
    """Engine-neutral inputs of one DFT labelling job (the structure is given separately).

    Energy, forces and stress (the SCF) are always computed. ``None`` fields take their protocol value.

    Attributes:
        protocol: ``'fast'``, ``'moderate'`` or ``'precise'`` (see :data:`PROTOCOLS`).
        cutoff: plane-wave cutoff, eV.
        kpoint_density: k-points per Å⁻¹; the mesh is ``n_i = max(1, ceil(density * |b_i|))`` with ``|b_i|`` the
            length of the reciprocal lattice vector including 2π (as ase's ``kptdensity2monkhorstpack`` without
            rounding to even).
        kpoints: an explicit mesh, overriding ``kpoint_density``.
        gamma_centered: Γ-centred mesh instead of Monkhorst–Pack (which shifts even meshes off Γ and converges faster
            for insulators: Z*(Ti)_zz of cubic BaTiO3 at 4×4×4 is 7.22 e with MP, 7.67 e Γ-centred, 7.20 e converged).
            Use Γ-centred meshes for hexagonal cells.
        xc: exchange-correlation functional.
        smearing: occupation smearing, one of :data:`SMEARINGS`.
        smearing_width: eV.
        stress: compute the stress tensor.
        berry_phase: compute the Berry-phase cell dipole (electronic + ionic, folded) and its charge quantum.
        born_charges: :class:`BornChargesSpec`.
        md: :class:`MDSpec`.
        scf_energy_tolerance: eV per valence electron.
        scf_density_tolerance: change of the density per valence electron.
        max_scf_iterations: SCF iteration limit (beyond it the run fails with the SCF exit code).
        engine_options: per-engine native parameters merged last, e.g. ``{'gpaw': {'nbands': '120%'}}`` (an escape
            hatch; recorded with the results).
    """

    protocol: str = 'moderate'
    cutoff: float | None = None
    kpoint_density: float | None = None
    kpoints: list[int] | None = None
    gamma_centered: bool = False
    xc: str = 'PBE'
    smearing: str = 'fermi-dirac'
    smearing_width: float | None = None
    stress: bool = True
    berry_phase: bool = False
    born_charges: BornChargesSpec = field(default_factory=BornChargesSpec)
    md: MDSpec = field(default_factory=MDSpec)
    scf_energy_tolerance: float | None = None
    scf_density_tolerance: float | None = None
    max_scf_iterations: int | None = None
    engine_options: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if isinstance(self.born_charges, dict):
            self.born_charges = _from_dict(BornChargesSpec, self.born_charges, 'born_charges')
        if isinstance(self.md, dict):
            self.md = _from_dict(MDSpec, self.md, 'md')
        if self.kpoints is not None:
            self.kpoints = [int(n) for n in self.kpoints]

    # ------------------------------------------------------------------ validation and resolved values
    def validate(self) -> EngineInputs:
        """Raise :class:`InputsError` naming the first bad field; return ``self``."""
        if self.protocol not in PROTOCOLS:
            raise InputsError(f'unknown protocol {self.protocol!r}; choose one of {sorted(PROTOCOLS)}')
        if self.smearing not in SMEARINGS:
            raise InputsError(f'unknown smearing {self.smearing!r}; choose one of {SMEARINGS}')
        if self.kpoints is not None and (len(self.kpoints) != 3 or min(self.kpoints) < 1):
            raise InputsError(f'kpoints must be three positive integers, got {self.kpoints}')
        for name in (
            'cutoff',
            'kpoint_density',
            'smearing_width',
            'scf_energy_tolerance',
            'scf_density_tolerance',
        ):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise InputsError(f'{name} must be positive, got {value}')
        self.born_charges.validate()
        self.md.validate()
        if not isinstance(self.engine_options, dict) or not all(
            isinstance(v, dict) for v in self.engine_options.values()
        ):
            raise InputsError("engine_options must map an engine name to a dict, e.g. {'gpaw': {...}}")
        return self

    def setting(self, name: str) -> float | int:
        """The value of a protocol-controlled field: the explicit one, else the protocol's."""
        value = getattr(self, name)
        return PROTOCOLS[self.protocol][name] if value is None else value

    @property
    def needs_berry_phase(self) -> bool:
        """Berry phase of the reference structure is computed (asked for, or needed by the Born charges)."""
        return self.berry_phase or (
            self.born_charges.enabled and self.born_charges.method == 'finite_differences'
        )

    def kpoint_mesh(self, atoms: Atoms) -> list[int]:
        """The k-point mesh sizes for ``atoms`` (explicit ``kpoints`` or from the k-point density)."""
        if self.kpoints is not None:
            return list(self.kpoints)
        return kpoint_mesh(atoms.cell[:], float(self.setting('kpoint_density')))

    # ------------------------------------------------------------------ JSON
    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict (round-trips through :meth:`from_dict`)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EngineInputs:
        """Build from a dict; unknown keys raise :class:`InputsError` naming them."""
        return _from_dict(cls, data, 'inputs').validate()

    def to_json(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_text(json.dumps(self.to_dict(), indent=2) + '\n')
        return path

    @classmethod
    def from_json(cls, path: str | Path) -> EngineInputs:
        path = Path(path)
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError as exc:
            raise InputsError(f'{path}: no such input file') from exc
        except json.JSONDecodeError as exc:
            raise InputsError(f'{path}: not valid JSON ({exc})') from exc
        if not isinstance(data, dict):
            raise InputsError(f'{path}: expected a JSON object of engine inputs')
        return cls.from_dict(data)


def _from_dict(cls, data: dict[str, Any], where: str):
    if not isinstance(data, dict):
        raise InputsError(f'{where} must be a JSON object, got {type(data).__name__}')
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise InputsError(f'{where}: unknown key(s) {unknown}; known keys: {sorted(known)}')
    try:
        return cls(**data)
    except TypeError as exc:
        raise InputsError(f'{where}: {exc}') from exc


def kpoint_mesh(cell: np.ndarray, density: float) -> list[int]:
    """Monkhorst–Pack mesh sizes ``max(1, ceil(density * |b_i|))`` for a cell (rows in Å), density in k-points/Å⁻¹."""
    cell = np.asarray(cell, dtype=float)
    if abs(np.linalg.det(cell)) < 1e-8:
        raise InputsError('a k-point mesh needs a 3D periodic cell (the cell is singular)')
    reciprocal = 2 * np.pi * np.linalg.inv(cell).T
    return [max(1, math.ceil(density * float(np.linalg.norm(b)) - 1e-9)) for b in reciprocal]


# ---------------------------------------------------------------------- native mappings (one per engine)
NativeMapping = Callable[..., dict[str, Any]]
#: engine name -> function ``(inputs: EngineInputs, atoms: Atoms, *, task: str) -> dict`` of native parameters.
#: ``task`` is ``'scf'``, ``'berry_phase'`` (Berry phase and Born charges: symmetry off) or ``'md'``.
#: 'gpaw' -> aiida_flexo.engines.gpaw_inputs.gpaw_parameters; 'vasp' -> registered by the VASP module.
NATIVE_MAPPINGS: dict[str, NativeMapping] = {}
TASKS = ('scf', 'berry_phase', 'md')


def register_engine(name: str) -> Callable[[NativeMapping], NativeMapping]:
    """Decorator registering the native-parameter mapping of an engine under ``name``."""

    def decorator(function: NativeMapping) -> NativeMapping:
        NATIVE_MAPPINGS[name] = function
        return function

    return decorator


def to_native(engine: str, inputs: EngineInputs, atoms: Atoms, task: str = 'scf') -> dict[str, Any]:
    """The native parameters of ``engine`` for ``inputs`` on ``atoms`` (see :data:`NATIVE_MAPPINGS`)."""
    import importlib

    if engine not in NATIVE_MAPPINGS and engine in _BUILTIN_MAPPINGS:
        importlib.import_module(_BUILTIN_MAPPINGS[engine])
    if engine not in NATIVE_MAPPINGS:
        raise InputsError(
            f'no native mapping for engine {engine!r}; known engines: {sorted(NATIVE_MAPPINGS)}'
        )
    if task not in TASKS:
        raise InputsError(f'unknown task {task!r}; choose one of {TASKS}')
    return NATIVE_MAPPINGS[engine](inputs.validate(), atoms, task=task)


#: modules that register a mapping when imported (imported on first use by :func:`to_native`).
_BUILTIN_MAPPINGS = {'gpaw': 'aiida_flexo.engines.gpaw_inputs', 'vasp': 'aiida_flexo.engines.vasp'}
