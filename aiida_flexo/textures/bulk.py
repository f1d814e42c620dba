"""Bulk validation of a PbTiO3/SrTiO3 potential and dipole model before any superlattice.

A texture is only as good as the bulk physics of its two materials. :func:`validate_bulk` measures, with any ase
calculator and any polarization function, on 5-atom cells:

* SrTiO3: the cubic lattice constant (minimum of a cubic fit of E(a), 7 points, Å);
* SrTiO3 stays (nearly) paraelectric: Ti moved 0.1 Å along z (O's −0.03 Å) at that lattice constant, positions
  relaxed (Sr fixed): the Ti off-centring left (Å), the polarization left (C/m²) and the depth of any polar well
  (centrosymmetric minus relaxed energy, meV per formula unit), which :data:`PARAELECTRIC_WELL_MEV` (k_B × 300 K)
  must exceed for SrTiO3 to be paraelectric at room temperature whatever the 0 K relaxation leaves;
* PbTiO3 clamped in plane to SrTiO3 (a = 3.905 Å, the superlattice's substrate): E(c) with relaxed positions over a
  c scan, its minimum (c/a; a minimum at the scan's edge is a bound), the energy gained from c = 4.2 to 4.8 Å
  (a model running away towards long c, where it saw no data, shows there), and at the experimental c = 4.152 Å the Ti
  off-centring from the midpoint of its Pb planes (Å), the spontaneous polarization P_s (C/m², same branch as the
  centrosymmetric cell of the same shape), the double-well depth (centrosymmetric minus relaxed polar energy,
  meV/f.u.) and the energy of cubic PbTiO3 (a = c = 3.905 Å) above that tetragonal ground state (meV/f.u.).

:func:`check_bulk` compares such a row with a reference row (DFT at the training data's settings, shipped in
``aiida_flexo/resources/pto_sto_bulk_reference.json``) within :data:`TOLERANCES`; `aiida-flexo textures validate`
prints both and the ``flexo.textures`` WorkChain runs it before the anneal. Energies in eV from the calculator,
reported in meV per formula unit; lengths in Å; polarization in C/m² (:mod:`aiida_flexo.units`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from ase import Atoms

#: in-plane lattice of the superlattices (SrTiO3 substrate, experiment), Å
A_SUBSTRATE = 3.905
#: PbTiO3 c at room temperature (experiment), Å
C_PBTIO3 = 4.152
#: experimental values of the table (room temperature): SrTiO3 a (Å), PbTiO3 c/a and P_s (C/m²)
EXPERIMENT = {'a_SrTiO3_A': 3.905, 'PbTiO3_c_over_a': 1.063, 'PbTiO3_P_s_C_m2': 0.75}
#: Boltzmann constant, meV/K
K_B_MEV_PER_K = 8.617333262e-2
#: SrTiO3 counts as paraelectric at room temperature when its polar well is shallower than k_B × 300 K (meV/f.u.)
PARAELECTRIC_WELL_MEV = K_B_MEV_PER_K * 300.0
#: the default scans: SrTiO3 a (Å) and PbTiO3 c (Å)
A_SCAN = tuple(float(a) for a in np.linspace(3.84, 3.99, 7))
C_SCAN = (4.0, 4.2, 4.4, 4.6, 4.8)
REFERENCE_FILE = 'pto_sto_bulk_reference.json'

#: P_z (C/m²) of a structure, on the branch of the centrosymmetric structure given second
DipoleOf = Callable[[Atoms, Atoms], float]


@dataclass(frozen=True)
class Tolerance:
    """How far a model's value may lie from the reference: ``relative`` (fraction) or ``absolute`` (its unit)."""

    value: float
    relative: bool = True

    def allows(self, model: float, reference: float) -> bool:
        scale = abs(reference) if self.relative else 1.0
        return bool(abs(model - reference) <= self.value * scale)

    def __str__(self) -> str:
        return f'± {100 * self.value:.0f} %' if self.relative else f'± {self.value:g}'


#: quantity → (label of the table, format, tolerance against the reference or None: reported only)
QUANTITIES: dict[str, tuple[str, str, Tolerance | None]] = {
    'a_SrTiO3_A': ('SrTiO3 a (Å)', '.3f', Tolerance(0.01)),
    'SrTiO3_off_centring_A': (
        'SrTiO3 Ti off-centring left after a 0.1 Å shift (Å)',
        '.3f',
        Tolerance(0.05, False),
    ),
    'SrTiO3_P_z_C_m2': ('SrTiO3 P_z left (C/m²)', '.3f', Tolerance(0.1, False)),
    'SrTiO3_well_depth_meV': ('SrTiO3 polar well depth (meV/f.u.)', '.1f', None),
    'PbTiO3_c_over_a': ('PbTiO3 c/a at a = 3.905 Å (minimum of E(c))', '.3f', Tolerance(0.1)),
    'PbTiO3_stretch_energy_meV': (
        'PbTiO3 E(c = 4.8 Å) − E(c = 4.2 Å) at a = 3.905 Å, relaxed (meV/f.u.)',
        '.0f',
        Tolerance(50.0, relative=False),
    ),
    'PbTiO3_off_centring_A': ('PbTiO3 Ti off-centring at c = 4.152 Å (Å)', '.3f', Tolerance(0.2)),
    'PbTiO3_P_s_C_m2': ('PbTiO3 P_s at c = 4.152 Å (C/m²)', '.3f', Tolerance(0.2)),
    'PbTiO3_well_depth_meV': ('PbTiO3 double-well depth at c = 4.152 Å (meV/f.u.)', '.1f', Tolerance(0.25)),
    'PbTiO3_cubic_minus_tetragonal_meV': (
        'PbTiO3 cubic (a = c = 3.905 Å) above tetragonal (meV/f.u.)',
        '.1f',
        Tolerance(0.25),
    ),
}


def perovskite(a_site: str, a: float, c: float, ti_dz: float = 0.0, o_dz: float = 0.0) -> Atoms:
    """A 5-atom ATiO3 cell (a × a × c, Å) with A at the origin; Ti and the three O moved along z by ``ti_dz`` and
    ``o_dz`` (Å)."""
    atoms = Atoms(
        f'{a_site}TiO3',
        scaled_positions=[(0, 0, 0), (0.5, 0.5, 0.5), (0.5, 0.5, 0), (0.5, 0, 0.5), (0, 0.5, 0.5)],
        cell=[a, a, c],
        pbc=True,
    )
    atoms.positions[1, 2] += ti_dz
    atoms.positions[2:, 2] += o_dz
    return atoms


def off_centring(atoms: Atoms) -> float:
    """Ti displacement along z from the midpoint of its A-site planes (Å) of a :func:`perovskite` cell."""
    c = atoms.cell[2, 2]
    return float((atoms.positions[1, 2] - atoms.positions[0, 2]) % c - c / 2)


def energy(atoms: Atoms, calculator) -> float:
    """Potential energy (eV) of ``atoms`` with ``calculator``; a NaN is an error, not a number."""
    atoms = atoms.copy()
    atoms.calc = calculator
    value = float(atoms.get_potential_energy())
    if not np.isfinite(value):
        raise ValueError(f'the calculator returned a non-finite energy for {atoms.get_chemical_formula()}')
    return value


def relax_positions(atoms: Atoms, calculator, fmax: float = 0.02, steps: int = 60) -> tuple[Atoms, float]:
    """Positions relaxed with the A site and the cell fixed (BFGS); the structure and its energy (eV)."""
    from aiida_flexo.mlip.relax import relax

    result = relax(atoms, calculator, fix='0', fmax=fmax, max_steps=steps, optimizer='BFGS', stall_steps=None)
    return result.atoms, float(result.energy)


def scan_fit(x: Sequence[float], y: Sequence[float]) -> np.ndarray:
    """Polynomial coefficients of a scan y(x): cubic from 5 points, else quadratic (at least 3 points)."""
    if len(x) < 3:
        raise ValueError(f'a minimum needs at least 3 points, got {len(x)}')
    return np.polyfit(np.asarray(x, dtype=float), np.asarray(y, dtype=float), 3 if len(x) >= 5 else 2)


def check_c_values(values: Sequence[float]) -> list[float]:
    """The PbTiO3 c scan (Å): at least 3 positive lengths, for a minimum of E(c); ``ValueError`` otherwise."""
    values = [float(c) for c in values]
    if len(values) < 3 or min(values) <= 0:
        raise ValueError(f'at least 3 positive lengths (Å) for a minimum of E(c) are needed, got {values}')
    return values


def relaxed_polar_pbtio3(calculator, c: float, fmax: float = 0.02, steps: int = 60) -> tuple[Atoms, float]:
    """PbTiO3 on the substrate (a = 3.905 Å) at ``c`` (Å), started polar (Ti +0.25, O −0.1 Å along z) and relaxed
    with :func:`relax_positions`; the structure and its energy (eV)."""
    return relax_positions(perovskite('Pb', A_SUBSTRATE, c, ti_dz=0.25, o_dz=-0.1), calculator, fmax, steps)


def relaxed_shifted_srtio3(calculator, a: float, fmax: float = 0.02, steps: int = 60) -> tuple[Atoms, float]:
    """Cubic SrTiO3 (a, Å) with Ti moved 0.1 Å (the O's −0.03 Å) along z, relaxed with :func:`relax_positions`: what
    a paraelectric returns from; the structure and its energy (eV)."""
    return relax_positions(perovskite('Sr', a, a, ti_dz=0.1, o_dz=-0.03), calculator, fmax, steps)


def model_dipole_of(model) -> DipoleOf:
    """``dipole_of`` of a dipole model (``dipole(atoms)``, e·Å): P_z (C/m²) of a structure against the
    centrosymmetric cell of the same shape, i.e. on its branch whatever the model's absolute reference."""
    from aiida_flexo.units import dipole_to_polarization

    def dipole_of(atoms: Atoms, centro: Atoms) -> float:
        dipole = np.asarray(model.dipole(atoms)) - np.asarray(model.dipole(centro))
        return float(dipole_to_polarization(dipole, atoms.get_volume())[2])

    return dipole_of


def curve_minimum(x: Sequence[float], y: Sequence[float]) -> tuple[float, bool]:
    """The minimum of :func:`scan_fit` of y(x) on [min x, max x]; and whether it lies at the edge of the scan (then
    it is a bound, not a minimum)."""
    fit = scan_fit(x, y)
    x = np.asarray(x, dtype=float)
    grid = np.linspace(x.min(), x.max(), 2001)
    best = float(grid[np.argmin(np.polyval(fit, grid))])
    return best, bool(np.isclose(best, x.min()) or np.isclose(best, x.max()))


#: the two c (Å) of the stretch energy: how much a supertetragonal PbTiO3 gains from 4.2 to 4.8 Å (a model's runaway
#: towards long c, where it has seen no data, shows here)
STRETCH_C = (4.2, 4.8)


def c_scan_quantities(scan: Sequence[dict]) -> dict:
    """From a PbTiO3 E(c) scan (``[{c_A, energy_eV}]``, relaxed positions): the minimum of E(c) (Å), whether it is
    at the scan's edge, c/a, and the stretch energy E(4.8 Å) − E(4.2 Å) (meV/f.u., from the fit; None when the
    scan does not cover both)."""
    cs = np.array([s['c_A'] for s in scan], dtype=float)
    es = np.array([s['energy_eV'] for s in scan], dtype=float)
    c_min, at_edge = curve_minimum(cs, es)
    out = {
        'PbTiO3_c_min_A': c_min,
        'PbTiO3_c_min_at_scan_edge': at_edge,
        'PbTiO3_c_over_a': c_min / A_SUBSTRATE,
    }
    out['PbTiO3_stretch_energy_meV'] = None
    if cs.min() <= STRETCH_C[0] + 1e-9 and cs.max() >= STRETCH_C[1] - 1e-9:
        fit = scan_fit(cs, es)
        out['PbTiO3_stretch_energy_meV'] = 1000.0 * float(
            np.polyval(fit, STRETCH_C[1]) - np.polyval(fit, STRETCH_C[0])
        )
    return out


def validate_bulk(
    calculator,
    dipole_of: DipoleOf,
    *,
    a_values: Sequence[float] = A_SCAN,
    c_values: Sequence[float] = C_SCAN,
    fmax: float = 0.02,
    steps: int = 60,
    log: Callable[[str], None] | None = None,
) -> dict:
    """The table's quantities (see the module docstring) for one method: ``calculator`` (ase) and ``dipole_of``.

    Returns a dict with the keys of :data:`QUANTITIES` plus ``a_SrTiO3_scan`` / ``PbTiO3_E_of_c`` (the scans),
    ``PbTiO3_c_min_A`` and ``PbTiO3_c_min_at_scan_edge``.
    """
    log = log or (lambda message: None)
    c_values = check_c_values(c_values)
    out: dict = {}
    sto_energies = [energy(perovskite('Sr', a, a), calculator) for a in a_values]
    out['a_SrTiO3_scan'] = [{'a_A': float(a), 'energy_eV': e} for a, e in zip(a_values, sto_energies)]
    a0, at_edge = curve_minimum(a_values, sto_energies)
    out['a_SrTiO3_A'], out['a_SrTiO3_at_scan_edge'] = a0, at_edge
    centro_sto = perovskite('Sr', a0, a0)
    sto, e_sto = relaxed_shifted_srtio3(calculator, a0, fmax, steps)
    out['SrTiO3_off_centring_A'] = off_centring(sto)
    out['SrTiO3_P_z_C_m2'] = float(dipole_of(sto, centro_sto))
    out['SrTiO3_well_depth_meV'] = 1000.0 * (energy(centro_sto, calculator) - e_sto)
    log(f'SrTiO3: a {a0:.3f} Å, off-centring left {out["SrTiO3_off_centring_A"]:.3f} Å')
    scan = []
    for c in c_values:
        polar, e_polar = relaxed_polar_pbtio3(calculator, c, fmax, steps)
        scan.append({'c_A': float(c), 'energy_eV': e_polar, 'off_centring_A': off_centring(polar)})
        log(f'PbTiO3 c = {c:.3f} Å: E {e_polar:.4f} eV, Ti off-centring {scan[-1]["off_centring_A"]:.3f} Å')
    out['PbTiO3_E_of_c'] = scan
    out.update(c_scan_quantities(scan))
    polar, e_polar = relaxed_polar_pbtio3(calculator, C_PBTIO3, fmax, steps)
    centro = perovskite('Pb', A_SUBSTRATE, C_PBTIO3)
    out['PbTiO3_off_centring_A'] = off_centring(polar)
    out['PbTiO3_P_s_C_m2'] = float(dipole_of(polar, centro))
    out['PbTiO3_well_depth_meV'] = 1000.0 * (energy(centro, calculator) - e_polar)
    cubic = perovskite('Pb', A_SUBSTRATE, A_SUBSTRATE)
    out['PbTiO3_cubic_minus_tetragonal_meV'] = 1000.0 * (energy(cubic, calculator) - e_polar)
    for key in QUANTITIES:
        if out[key] is not None and not np.isfinite(out[key]):
            raise ValueError(
                f'bulk validation: {key} is not finite ({out[key]}): the model fails on bulk cells'
            )
    return out


def check_bulk(row: dict, reference: dict) -> list[dict]:
    """Each quantity of :data:`QUANTITIES` of ``row`` against ``reference`` within its tolerance, plus the physical
    check that SrTiO3 is paraelectric at room temperature (polar well below k_B × 300 K).

    Returns ``[{quantity, label, value, reference, tolerance, ok}]``; ``ok`` is None where there is nothing to
    compare with (no reference value, or a quantity only reported).
    """
    checks = []
    for key, (label, _, tolerance) in QUANTITIES.items():
        value, expected = row.get(key), reference.get(key)
        ok = None
        if tolerance is not None and value is not None and expected is not None:
            ok = tolerance.allows(value, expected)
            if key == 'PbTiO3_c_over_a' and reference.get('PbTiO3_c_min_at_scan_edge'):
                # the reference's minimum is at its scan's edge, a lower bound: the model may lie above it
                ok = ok or value >= expected
        checks.append(
            {
                'quantity': key,
                'label': label,
                'value': value,
                'reference': expected,
                'tolerance': None if tolerance is None else str(tolerance),
                'ok': ok,
            }
        )
    depth = row.get('SrTiO3_well_depth_meV')
    checks.append(
        {
            'quantity': 'SrTiO3_paraelectric',
            'label': f'SrTiO3 paraelectric at 300 K (polar well < k_B·300 K = {PARAELECTRIC_WELL_MEV:.1f} meV)',
            'value': depth,
            'reference': PARAELECTRIC_WELL_MEV,
            'tolerance': None,
            'ok': None if depth is None else bool(depth < PARAELECTRIC_WELL_MEV),
        }
    )
    return checks


def failed_checks(checks: list[dict]) -> list[dict]:
    """The checks that failed (``ok`` False)."""
    return [check for check in checks if check['ok'] is False]


def load_reference() -> dict:
    """The shipped reference row (GPAW, fast protocol: the training frames' settings) with its provenance."""
    from aiida_flexo.resources import bundled_path

    return json.loads(bundled_path(REFERENCE_FILE).read_text())


def _cell(value, fmt: str, bound: bool = False) -> str:
    if value is None:
        return '–'
    return ('≥ ' if bound else '') + format(value, fmt)


def bulk_table(rows: Sequence[dict], names: Sequence[str], checks: list[dict] | None = None) -> str:
    """A markdown table of the quantities of ``rows`` (one column per method, named ``names``), the experiment
    and, with ``checks`` (of the first row), whether each is within its tolerance."""
    header = ['quantity', *names, 'experiment'] + (['tolerance', 'check'] if checks else [])
    lines = ['| ' + ' | '.join(header) + ' |', '|---' * len(header) + '|']
    by_key = {check['quantity']: check for check in checks or []}
    for key, (label, fmt, _) in QUANTITIES.items():
        cells = [
            _cell(row.get(key), fmt, key == 'PbTiO3_c_over_a' and bool(row.get('PbTiO3_c_min_at_scan_edge')))
            for row in rows
        ]
        line = [label, *cells, str(EXPERIMENT.get(key, '–'))]
        if checks:
            check = by_key.get(key, {})
            verdict = {True: 'ok', False: 'FAILED', None: '–'}[check.get('ok')]
            line += [check.get('tolerance') or '–', verdict]
        lines.append('| ' + ' | '.join(line) + ' |')
    if checks and 'SrTiO3_paraelectric' in by_key:
        check = by_key['SrTiO3_paraelectric']
        verdict = {True: 'ok', False: 'FAILED', None: '–'}[check['ok']]
        lines.append(
            f'| {check["label"]} | {_cell(check["value"], ".1f")} |'
            + ' |' * (len(rows) - 1)
            + f' – | < {check["reference"]:.1f} | {verdict} |'
        )
    return '\n'.join(lines)


def _failure(check: dict) -> str:
    if check['quantity'] == 'SrTiO3_paraelectric':
        return f'SrTiO3 polar well {check["value"]:.3g} meV/f.u. ≥ k_B·300 K = {check["reference"]:.3g} meV'
    return f'{check["quantity"]} {check["value"]:.3g} (reference {check["reference"]:.3g}' + (
        f', {check["tolerance"]})' if check['tolerance'] else ')'
    )


def summary_line(checks: list[dict]) -> str:
    """One line for a report: how many checks passed, and the failed ones with their numbers."""
    judged = [c for c in checks if c['ok'] is not None]
    failed = failed_checks(checks)
    line = f'{len(judged) - len(failed)}/{len(judged)} bulk checks within tolerance'
    if failed:
        line += '; FAILED: ' + '; '.join(_failure(check) for check in failed)
    return line
