"""Heating run: the ferroelectric → paraelectric transition of a bulk perovskite with a potential.

MD of an N×N×N supercell through rising temperatures, each stage continuing from the previous one, with every cell
axis free (thermostat ``anisotropic``: Berendsen NPT along x, y and z, so a tetragonal cell may turn cubic). Per
stage, over its second half: the mean temperature, the cell polarization from Born charges (P = Σ Z*_i·u_i / V,
u_i from the ideal site of atom i in the current cell; C/m²) averaged as a vector, and the tetragonality c/a of
the mean cell. :func:`transition_temperature` says where |⟨P⟩| vanishes.

PbTiO3 orders at 763 K (experiment, first order). A potential trained on PBE inherits PBE's supertetragonal
PbTiO3 (c/a ≈ 1.2 against 1.063, a deeper double well), which raises the transition well above experiment; a small
cell and picoseconds of MD smear a first-order step into a smooth fall. Temperatures in K, time step in fs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from aiida_flexo.textures.superlattice import Superlattice
from aiida_flexo.units import dipole_to_polarization

#: experimental Curie temperature of PbTiO3, K
PBTIO3_TC_EXPERIMENT_K = 763.0
#: the least MD steps per temperature and supercell size N of a PbTiO3 heating run
MIN_HEATING_STEPS = 20
MIN_HEATING_SIZE = 2


def check_temperatures(temperatures: Sequence[float], at_least: int = 1) -> list[float]:
    """Temperatures of a heating run (K): at least ``at_least``, positive, strictly rising; ``ValueError`` otherwise."""
    values = [float(t) for t in temperatures]
    if (
        len(values) < at_least
        or not all(np.isfinite(t) and t > 0 for t in values)
        or any(b <= a for a, b in zip(values, values[1:]))
    ):
        raise ValueError(f'at least {at_least} positive, rising temperatures (K) are needed, got {values}')
    return values


def check_heating(
    temperatures: Sequence[float],
    steps: int | None = None,
    size: int | None = None,
    timestep_fs: float | None = None,
) -> list[float]:
    """A PbTiO3 heating run's settings (those given): at least two rising temperatures (K, a transition needs two),
    ``steps`` per temperature ≥ :data:`MIN_HEATING_STEPS`, ``size`` ≥ :data:`MIN_HEATING_SIZE`, a positive time step
    (fs). Returns the temperatures; ``ValueError`` naming the setting otherwise."""
    values = check_temperatures(temperatures, at_least=2)
    if steps is not None and int(steps) < MIN_HEATING_STEPS:
        raise ValueError(f'steps per temperature must be at least {MIN_HEATING_STEPS}, got {steps}')
    if size is not None and int(size) < MIN_HEATING_SIZE:
        raise ValueError(f'the supercell size must be at least {MIN_HEATING_SIZE} (N×N×N), got {size}')
    if timestep_fs is not None and not float(timestep_fs) > 0:
        raise ValueError(f'the time step must be positive (fs), got {timestep_fs}')
    return values


@dataclass
class HeatingPoint:
    """One stage of a heating run (averages over its second half).

    Attributes:
        target_K: thermostat target, K.
        mean_temperature_K: mean instantaneous temperature, K.
        polarization_C_m2: time-averaged cell polarization vector ⟨P⟩, C/m².
        magnitude_C_m2: |⟨P⟩|, C/m² (the order parameter: it vanishes in the paraelectric phase, while ⟨|P|⟩ keeps
            the thermal noise of a finite cell).
        c_over_a: mean cell's longest over the mean of its two other lattice parameters, per unit cell.
        n_frames: frames averaged.
        gnn_polarization_C_m2: with a dipole model, its ⟨P⟩ (each frame's dipole minus that of the ideal sites in
            the same cell, the same branch), C/m²; else None.
        gnn_magnitude_C_m2: |⟨P⟩| of the dipole model, C/m² (or None).
    """

    target_K: float
    mean_temperature_K: float
    polarization_C_m2: list[float]
    magnitude_C_m2: float
    c_over_a: float
    n_frames: int
    gnn_polarization_C_m2: list[float] | None = None
    gnn_magnitude_C_m2: float | None = None

    def as_dict(self) -> dict:
        return asdict(self)


def cell_polarization(atoms, reference_scaled: np.ndarray, born_charges: np.ndarray) -> np.ndarray:
    """Born-charge polarization (C/m²) of ``atoms``: Σ Z*_i·u_i / V, with u_i the minimum-image displacement (Å) of
    atom i from its ideal fractional site ``reference_scaled[i]`` in the current cell; ``born_charges`` (n, 3, 3), e.
    """
    scaled = atoms.get_scaled_positions(wrap=False)
    if scaled.shape != reference_scaled.shape or len(born_charges) != len(scaled):
        raise ValueError(
            f'{len(scaled)} atoms, {len(reference_scaled)} reference sites, {len(born_charges)} Born charges: '
            'they must be the same atoms in the same order'
        )
    delta = scaled - reference_scaled
    delta -= np.round(delta)
    displacements = delta @ atoms.cell[:]
    dipole = np.einsum('nij,nj->i', born_charges, displacements)
    return np.asarray(dipole_to_polarization(dipole, atoms.get_volume()), dtype=float)


def model_polarization(atoms, reference_scaled: np.ndarray, dipole_model) -> np.ndarray:
    """A dipole model's polarization (C/m²) of ``atoms``: its dipole minus that of the ideal sites in the same cell
    (so on the branch of the centrosymmetric structure, whatever the model's absolute reference)."""
    ideal = atoms.copy()
    ideal.set_scaled_positions(reference_scaled)
    dipole = np.sum(dipole_model.per_atom_dipoles(atoms), axis=0) - np.sum(
        dipole_model.per_atom_dipoles(ideal), axis=0
    )
    return np.asarray(dipole_to_polarization(dipole, atoms.get_volume()), dtype=float)


def stage_points(
    frames: Sequence, superlattice: Superlattice, born_charges: np.ndarray, dipole_model=None
) -> list[HeatingPoint]:
    """The :class:`HeatingPoint` of each stage of MD ``frames`` (``info['md_stage']``, ``target_temperature_K``,
    momenta), averaged over the second half of its frames; with ``dipole_model`` (``per_atom_dipoles(atoms)``, e·Å) its
    polarization too."""
    from aiida_flexo.textures.born import undistorted_superlattice

    reference = undistorted_superlattice(superlattice).atoms.get_scaled_positions(wrap=False)
    nx, ny, nz = superlattice.grid_shape
    stages: dict[int, list] = {}
    for atoms in frames:
        stages.setdefault(int(atoms.info['md_stage']), []).append(atoms)
    points = []
    for stage in sorted(stages):
        chosen = stages[stage][len(stages[stage]) // 2 :]
        P = np.array([cell_polarization(a, reference, born_charges) for a in chosen])
        temperatures = [a.get_temperature() for a in chosen]
        lengths = np.mean([a.cell.lengths() / (nx, ny, nz) for a in chosen], axis=0)
        order = np.sort(lengths)
        mean_P = P.mean(axis=0)
        gnn = None
        if dipole_model is not None:
            gnn = np.mean([model_polarization(a, reference, dipole_model) for a in chosen], axis=0)
        points.append(
            HeatingPoint(
                target_K=float(chosen[0].info['target_temperature_K']),
                mean_temperature_K=float(np.mean(temperatures)),
                polarization_C_m2=mean_P.tolist(),
                magnitude_C_m2=float(np.linalg.norm(mean_P)),
                c_over_a=float(order[-1] / order[:2].mean()),
                n_frames=len(chosen),
                gnn_polarization_C_m2=None if gnn is None else gnn.tolist(),
                gnn_magnitude_C_m2=None if gnn is None else float(np.linalg.norm(gnn)),
            )
        )
    return points


def heating_run(
    superlattice: Superlattice,
    calculator,
    temperatures: Sequence[float],
    steps_per_temperature: int,
    *,
    timestep_fs: float = 2.0,
    stride: int = 10,
    thermostat: str = 'anisotropic',
    trajectory: str | Path | None = None,
    seed: int = 0,
    born_charges: dict | None = None,
    dipole_model=None,
) -> list[HeatingPoint]:
    """Heat ``superlattice`` (a bulk supercell: ``build_superlattice(N, 0, N, ...)``) through ``temperatures`` (K,
    rising), ``steps_per_temperature`` MD steps each, and return one :class:`HeatingPoint` per temperature.

    ``born_charges``: {material: {A, B, O_par, O_perp}} (default: the literature values,
    :mod:`aiida_flexo.polarization.perovskite`); ``dipole_model``: a dipole GNN whose polarization is averaged too.
    """
    import tempfile

    from ase.io import read

    from aiida_flexo.mlip.md import run_md
    from aiida_flexo.textures.born import site_born_charges

    temperatures = check_temperatures(temperatures)
    if steps_per_temperature < 2 * stride:
        raise ValueError(
            f'steps_per_temperature ({steps_per_temperature}) must hold at least two frames (stride {stride})'
        )
    charges = site_born_charges(superlattice, born_charges)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(trajectory) if trajectory is not None else Path(tmp) / 'heating.traj'
        run_md(
            superlattice.atoms,
            calculator,
            [(t, int(steps_per_temperature)) for t in temperatures],
            timestep_fs=timestep_fs,
            thermostat=thermostat,
            trajectory=path,
            stride=stride,
            seed=seed,
        )
        frames = read(path, index=':')
    return stage_points(
        frames[1:], superlattice, charges, dipole_model
    )  # frame 0: the start, before any stage


def pbtio3_heating(
    calculator,
    dipole_model,
    temperatures: Sequence[float],
    steps: int,
    *,
    size: int = 3,
    timestep_fs: float = 2.0,
    trajectory: str | Path | None = None,
) -> dict:
    """Heat N×N×N PbTiO3 (``size``; tetragonal on the SrTiO3 lattice to start, polar along z, every axis free)
    through ``temperatures`` (K), ``steps`` MD steps of ``timestep_fs`` each: :func:`heating_summary` plus the
    ``settings``, the wall time (s) and the MD throughput (atom-steps/s, the dipole model's evaluations included)."""
    import time

    from aiida_flexo.textures.superlattice import build_superlattice

    temperatures = check_heating(temperatures, steps, size, timestep_fs)
    supercell = build_superlattice(size, 0, size, ('PbTiO3', 'SrTiO3'), seed='uniform')
    tick = time.perf_counter()
    points = heating_run(
        supercell,
        calculator,
        temperatures,
        steps,
        timestep_fs=timestep_fs,
        dipole_model=dipole_model,
        trajectory=trajectory,
    )
    summary = heating_summary(points)
    summary['settings'] = {
        'temperatures_K': temperatures,
        'steps': steps,
        'size': size,
        'timestep_fs': timestep_fs,
        'n_atoms': len(supercell.atoms),
        'thermostat': 'anisotropic',
    }
    summary['wall_s'] = time.perf_counter() - tick
    summary['md_atom_steps_per_s'] = len(supercell.atoms) * steps * len(temperatures) / summary['wall_s']
    return summary


def heating_summary(points: Sequence[HeatingPoint]) -> dict:
    """Points and the transition of the Born-charge and (when there) the dipole model's order parameter."""
    temperatures = [p.target_K for p in points]
    out = {
        'points': [p.as_dict() for p in points],
        'transition_born': transition_temperature(temperatures, [p.magnitude_C_m2 for p in points]),
        'experiment_Tc_K': PBTIO3_TC_EXPERIMENT_K,
    }
    if all(p.gnn_magnitude_C_m2 is not None for p in points):
        out['transition_gnn'] = transition_temperature(temperatures, [p.gnn_magnitude_C_m2 for p in points])
    return out


def describe_transition(transition: dict) -> str:
    """'|⟨P⟩| vanishes near 812 K', '... does not vanish up to 1300 K' or '... already gone at 300 K' (with Landau's
    estimate when there is one)."""
    T = transition['T_vanish_K']
    line = {
        None: f'|⟨P⟩| vanishes near {T:.0f} K',
        'above': f'|⟨P⟩| does not vanish up to {T:.0f} K',
        'below': f'|⟨P⟩| already gone at {T:.0f} K',
    }[transition['bound']]
    if transition.get('landau_K') is not None:
        line += f' (Landau fit of P² ∝ T_c − T: {transition["landau_K"]:.0f} K)'
    return line


def heating_table(heating: dict) -> str:
    """A :func:`pbtio3_heating` result as text: one table row per temperature, then where |⟨P⟩| vanishes."""
    lines = [
        '| T target (K) | T mean (K) | ⟨P⟩ Born (C/m²) | |⟨P⟩| GNN (C/m²) | c/a |',
        '|---|---|---|---|---|',
    ]
    for p in heating['points']:
        vector = ', '.join(f'{x:+.3f}' for x in p['polarization_C_m2'])
        gnn = '–' if p['gnn_magnitude_C_m2'] is None else f'{p["gnn_magnitude_C_m2"]:.3f}'
        lines.append(
            f'| {p["target_K"]:.0f} | {p["mean_temperature_K"]:.0f} | ({vector}) | {gnn} | {p["c_over_a"]:.3f} |'
        )
    lines.append(f'Born charges: {describe_transition(heating["transition_born"])}')
    if 'transition_gnn' in heating:
        lines.append(f'GNN: {describe_transition(heating["transition_gnn"])}')
    lines.append(f'(experiment: {heating["experiment_Tc_K"]:.0f} K, first order; PBE overestimates it)')
    return '\n'.join(lines)


def transition_temperature(
    temperatures: Sequence[float], magnitudes: Sequence[float], vanish_fraction: float = 0.25
) -> dict:
    """Where the order parameter |⟨P⟩| vanishes on heating.

    ``T_vanish_K``: the temperature at which |⟨P⟩| first falls below ``vanish_fraction`` × its value at the lowest
    temperature (linear interpolation between the two points around the crossing); ``bound``: ``'above'`` when it
    never falls (the transition lies above the highest temperature, ``T_vanish_K`` is that bound), ``'below'`` when
    it is already below at the lowest temperature. ``landau_K``: the zero of a straight line through P² against T
    over the ordered points (P² ∝ T_c − T, Landau's second-order form; None with fewer than two ordered points).
    """
    temps = np.asarray(temperatures, dtype=float)
    order = np.asarray(magnitudes, dtype=float)
    if len(temps) != len(order) or len(temps) < 2:
        raise ValueError(
            f'need at least two temperatures with one |P| each, got {len(temps)} and {len(order)}'
        )
    if not np.all(np.isfinite(order)) or not np.all(np.isfinite(temps)):
        raise ValueError('temperatures and |P| must be finite')
    if np.any(np.diff(temps) <= 0):
        raise ValueError(f'temperatures must rise, got {temps.tolist()}')
    threshold = vanish_fraction * order[0]
    below = np.nonzero(order < threshold)[0]
    result: dict = {'vanish_fraction': vanish_fraction, 'threshold_C_m2': float(threshold), 'bound': None}
    if order[0] <= 0 or (len(below) and below[0] == 0):
        result.update(T_vanish_K=float(temps[0]), bound='below', landau_K=None)
        return result
    if not len(below):
        result.update(T_vanish_K=float(temps[-1]), bound='above')
        ordered = np.arange(len(temps))
    else:
        i = int(below[0])
        fraction = (order[i - 1] - threshold) / (order[i - 1] - order[i])
        result['T_vanish_K'] = float(temps[i - 1] + fraction * (temps[i] - temps[i - 1]))
        ordered = np.arange(i)
    result['landau_K'] = None
    if len(ordered) >= 2:
        slope, intercept = np.polyfit(temps[ordered], order[ordered] ** 2, 1)
        if slope < 0:
            result['landau_K'] = float(-intercept / slope)
    return result
