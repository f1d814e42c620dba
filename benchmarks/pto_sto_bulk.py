"""Bulk validation of the PbTiO3/SrTiO3 models before any superlattice: model against GPAW on the same cells.

The quantities are those of :mod:`aiida_flexo.textures.bulk` (what `aiida-flexo textures validate` and the
``flexo.textures`` WorkChain compute): SrTiO3 lattice constant, what is left of a 0.1 Å Ti shift (off-centring,
P_z, the polar well against k_B·300 K), PbTiO3 clamped to a = 3.905 Å (c/a of the E(c) minimum; at c = 4.152 Å the
Ti off-centring, P_s and the double well) and cubic PbTiO3's energy above the tetragonal ground state. Each model
(a column per ``--mlip``) is checked against the shipped GPAW reference row
(``aiida_flexo/resources/pto_sto_bulk_reference.json``, the training frames' settings, so that the table measures
the models, not the functional); ``--dft full`` recomputes that row here.

Usage::

    python benchmarks/pto_sto_bulk.py --out bench_bulk                          # builds the recipe's models first
    python benchmarks/pto_sto_bulk.py --out bench_bulk --mlip S --mlip T --dipole D   # given models
    python benchmarks/pto_sto_bulk.py --out bench_bulk --mlip S --dipole D --dft full # and GPAW here (~30 min)

Writes OUT/bulk.json and prints the table (markdown). The fast protocol (400 eV, ~2.5 k-points per Å⁻¹, PBE) is the
training data's: PBE overestimates lattice constants by ~1 % and the tetragonality of PbTiO3 strongly, which the
table states next to experiment; wall times are upper bounds on shared cores.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from ase import Atoms

from aiida_flexo.textures.bulk import (
    A_SUBSTRATE,
    C_PBTIO3,
    bulk_table,
    check_bulk,
    energy,
    load_reference,
    perovskite,
    relaxed_polar_pbtio3,
    relaxed_shifted_srtio3,
    validate_bulk,
)
from aiida_flexo.units import dipole_to_polarization


def polarization_z(dipole: np.ndarray, atoms: Atoms) -> float:
    return float(dipole_to_polarization(np.asarray(dipole), atoms.get_volume())[2])


def dft_energies(calculator) -> dict:
    """The two energy differences added after the first GPAW table (same settings): the SrTiO3 polar well (meV/f.u.)
    and cubic PbTiO3 (a = c = 3.905 Å) above the relaxed polar cell at c = 4.152 Å (meV/f.u.)."""
    from aiida_flexo.textures.bulk import A_SCAN, curve_minimum

    a_values = list(A_SCAN)
    a0, _ = curve_minimum(a_values, [energy(perovskite('Sr', a, a), calculator) for a in a_values])
    _, e_sto = relaxed_shifted_srtio3(calculator, a0)
    _, e_pto = relaxed_polar_pbtio3(calculator, C_PBTIO3)
    return {
        'a_SrTiO3_A': a0,
        'SrTiO3_well_depth_meV': 1000.0 * (energy(perovskite('Sr', a0, a0), calculator) - e_sto),
        'PbTiO3_cubic_minus_tetragonal_meV': 1000.0
        * (energy(perovskite('Pb', A_SUBSTRATE, A_SUBSTRATE), calculator) - e_pto),
    }


def train_models(out: Path) -> tuple[Path, Path]:
    """The texture models of the recipe (benchmarks/pto_sto_models.py): the distilled student and the GNN."""
    sys.path.insert(0, str(Path(__file__).parent))
    from pto_sto_models import build_models

    models = build_models(out)
    return Path(models['student']), Path(models['dipole'])


def gpaw_calculator(workdir: Path):
    from gpaw import GPAW

    from aiida_flexo.engines.gpaw_inputs import gpaw_parameters
    from aiida_flexo.engines.inputs import EngineInputs

    inputs = EngineInputs(protocol='fast')
    template = perovskite('Pb', A_SUBSTRATE, C_PBTIO3)
    params = gpaw_parameters(inputs, template, task='scf')
    workdir.mkdir(parents=True, exist_ok=True)
    return GPAW(**params, txt=str(workdir / 'gpaw.txt'))


def gpaw_dipole_of(workdir: Path):
    """P_z (C/m²) from GPAW Berry phases of the structure and its centrosymmetric counterpart, same branch."""
    from aiida_flexo.engines.gpaw_driver import GpawRun
    from aiida_flexo.engines.inputs import EngineInputs
    from aiida_flexo.polarization.quanta import minimum_image

    def dipole_of(atoms: Atoms, centro: Atoms) -> float:
        inputs = EngineInputs(protocol='fast', berry_phase=True, stress=False)
        results = []
        for name, structure in (('polar', atoms), ('centro', centro)):
            folder = workdir / f'berry_{name}_{time.monotonic_ns()}'
            results.append(GpawRun(inputs, structure, folder, resume=False, log=lambda m: None).run())
        quantum = float(results[0]['charge_quantum'])
        difference = minimum_image(
            np.asarray(results[0]['dipole']) - np.asarray(results[1]['dipole']), atoms.cell[:], quantum
        )
        return polarization_z(difference, atoms)

    return dipole_of


def gnn_dipole_of(path: Path):
    from aiida_flexo.gnn import load_model
    from aiida_flexo.textures.bulk import model_dipole_of

    return model_dipole_of(load_model(path))


def heat(calculator, dipole: Path, args, trajectory: Path) -> dict:
    """A PbTiO3 heating run (aiida_flexo.textures.heating) with the potential; the GNN's |<P>| beside the Born one."""
    from aiida_flexo.gnn import load_model
    from aiida_flexo.textures.heating import pbtio3_heating

    temperatures = [float(t) for t in args.heating.split(',')]
    return pbtio3_heating(
        calculator,
        load_model(dipole),
        temperatures,
        args.heating_steps,
        size=args.heating_size,
        trajectory=trajectory,
    )


def dft_scan(workdir: Path, c_values) -> dict:
    """PbTiO3 E(c) at a = 3.905 Å with relaxed positions (the scan of the table, eV per cell) with GPAW, a fresh
    calculator per c (one calculator carried across cells of very different c broke GPAW's eigensolver)."""
    from aiida_flexo.textures.bulk import c_scan_quantities

    scan = []
    for c in c_values:
        _, e_polar = relaxed_polar_pbtio3(gpaw_calculator(workdir / f'c_{c:.3f}'), c)
        scan.append({'c_A': float(c), 'energy_eV': e_polar})
        print(f'  GPAW PbTiO3 c = {c:.3f} Å: E {e_polar:.4f} eV', flush=True)
    return {'PbTiO3_E_of_c': scan, **(c_scan_quantities(scan) if len(scan) >= 3 else {})}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument('--out', type=Path, default=Path('bench_bulk'))
    parser.add_argument(
        '--mlip',
        type=Path,
        action='append',
        default=None,
        help="Potential(s) (repeatable: each is a column; default: the recipe's student, built here).",
    )
    parser.add_argument('--dipole', type=Path, default=None, help="Dipole GNN (default: the recipe's).")
    parser.add_argument('--c-values', default='4.0,4.2,4.4,4.6,4.8', help='PbTiO3 c scan (Å).')
    parser.add_argument(
        '--dft',
        choices=('none', 'energies', 'scan', 'full'),
        default='none',
        help='GPAW here: none (the shipped reference row), energies (the two energy differences only, ~15 min), '
        'scan (the PbTiO3 E(c) scan only, ~10 min), full (every quantity, ~30 min).',
    )
    parser.add_argument(
        '--heating',
        default=None,
        help='Also heat N×N×N PbTiO3 with each potential through these temperatures (K, comma-separated).',
    )
    parser.add_argument('--heating-steps', type=int, default=1000, help='MD steps per temperature (2 fs).')
    parser.add_argument('--heating-size', type=int, default=3, help='N of the N×N×N PbTiO3 supercell.')
    parser.add_argument('--table', type=Path, default=None, help='Only print the table of a bulk.json.')
    args = parser.parse_args()
    reference = load_reference()
    if args.table is not None:
        result = json.loads(args.table.read_text())
        print(bulk_table(result['rows'], result['names'], check_bulk(result['rows'][0], reference['values'])))
        return
    args.out.mkdir(parents=True, exist_ok=True)
    c_values = [float(c) for c in args.c_values.split(',')]
    rows, names = [], []
    if args.dft not in ('energies', 'scan'):
        mlips, dipole = args.mlip, args.dipole
        if not mlips or dipole is None:
            student, trained_dipole = train_models(args.out / 'models')
            mlips, dipole = mlips or [student], dipole or trained_dipole
        from aiida_flexo.mlip import load_calculator

        for mlip in mlips:
            tick = time.perf_counter()
            calculator = load_calculator(mlip)
            rows.append(validate_bulk(calculator, gnn_dipole_of(dipole), c_values=c_values, log=print))
            rows[-1]['wall_s'] = time.perf_counter() - tick
            names.append(mlip.name)
            if args.heating:
                rows[-1]['heating'] = heat(calculator, dipole, args, args.out / f'heating_{mlip.stem}.traj')
    workdir = args.out / 'gpaw'
    workdir.mkdir(exist_ok=True)
    if args.dft == 'full':
        tick = time.perf_counter()
        rows.append(
            validate_bulk(gpaw_calculator(workdir), gpaw_dipole_of(workdir), c_values=c_values, log=print)
        )
        rows[-1]['wall_s'] = time.perf_counter() - tick
        names.append('GPAW (fast, PBE) here')
    elif args.dft == 'scan':
        tick = time.perf_counter()
        rows.append({**dft_scan(workdir, c_values), 'wall_s': time.perf_counter() - tick})
        names.append('GPAW (fast, PBE) E(c) here')
    elif args.dft == 'energies':
        tick = time.perf_counter()
        rows.append({**dft_energies(gpaw_calculator(workdir)), 'wall_s': time.perf_counter() - tick})
        names.append('GPAW (fast, PBE) energies here')
    rows.append(reference['values'])
    names.append(reference['method'])
    result = {'names': names, 'rows': rows}
    (args.out / 'bulk.json').write_text(json.dumps(result, indent=1))
    print(bulk_table(rows, names, check_bulk(rows[0], reference['values']) if len(rows) > 1 else None))
    for name, row in zip(names, rows):
        if 'wall_s' in row:
            print(f'{name}: {row["wall_s"]:.0f} s')
        if 'heating' in row:
            from aiida_flexo.textures.heating import heating_table

            print(
                f'\n{name}, PbTiO3 heating ({row["heating"]["settings"]["n_atoms"]} atoms, '
                f'{row["heating"]["wall_s"]:.0f} s, {row["heating"]["md_atom_steps_per_s"]:.0f} atom-steps/s):'
            )
            print(heating_table(row['heating']))


if __name__ == '__main__':
    main()
