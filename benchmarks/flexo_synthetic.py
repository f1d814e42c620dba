"""Flexo core on synthetic models: exactness against the analytic μ and the cost of each step (issue 7).

For BaTiO3 (linear anisotropic Z*, ASR exact, synthetic internal relaxation λ_Ti = 0.6, λ_O = −0.25 Å²) and Si
(diamond, 2-atom primitive cell, random Z* obeying the ASR), every geometry and several N: the relative error of the
two-point and fit μ against :func:`aiida_flexo.flexo.synthetic.analytic_mu`, and the wall time of build, the
synthetic predict and extract. A GNN and an MLIP add their own cost on top (see benchmarks/flexo_batio3.py).

Usage::

    python benchmarks/flexo_synthetic.py [--out bench_flexo_synthetic.json]

Timings on shared CPUs are noisy.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from aiida_flexo.flexo.convention import mu_to_nc_per_m
from aiida_flexo.flexo.extract import extract_from_dipoles
from aiida_flexo.flexo.structures import cubic_perovskite, diamond
from aiida_flexo.flexo.supercell import build_supercell
from aiida_flexo.flexo.synthetic import (
    InternalRelaxation,
    LinearBornChargeModel,
    analytic_mu,
    perovskite_born_charges,
)

CASES = [
    # (material, component, N, transverse repeat, max strain)
    ('BaTiO3', '3333', 14, None, 0.005),
    ('BaTiO3', '3333', 56, None, 0.005),
    ('BaTiO3', '3333', 224, None, 0.005),
    ('BaTiO3', '1133', 14, None, 0.005),
    ('BaTiO3', '3113', 14, 7, 0.005),
    ('Si', '3113', 28, 7, 0.0005),
    ('Si', '3333', 28, None, 0.0005),
    ('BaTiO3', '3333', 14, 10, 0.005),  # 10×10×14 cells, 7000 atoms
]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument('--out', default=None, help='write the table as JSON')
    args = parser.parse_args()
    bto = cubic_perovskite()
    z_bto = perovskite_born_charges(bto)
    z_bto -= z_bto.sum(axis=0) / len(z_bto)
    si = diamond('Si')
    rng = np.random.default_rng(3)
    z_si = rng.normal(scale=0.3, size=(2, 3, 3))
    z_si -= z_si.mean(axis=0)
    rows = []
    for material, component, n, transverse, strain in CASES:
        bulk, z, fix, shifts = (
            (bto, z_bto, 'Ba', {'Ti': 0.6, 'O': -0.25}) if material == 'BaTiO3' else (si, z_si, None, {})
        )
        t0 = time.perf_counter()
        sc = build_supercell(
            bulk,
            component,
            n,
            strain,
            fix,
            shape='cosine' if material == 'Si' else 'sine',
            transverse_repeat=transverse,
        )
        t1 = time.perf_counter()
        atoms = InternalRelaxation(shifts).for_supercell(sc)(sc.atoms) if shifts else sc.atoms
        per_atom = LinearBornChargeModel(z).for_supercell(sc).per_atom_dipoles(atoms)
        t2 = time.perf_counter()
        ext = extract_from_dipoles(sc, per_atom)
        t3 = time.perf_counter()
        z_unit = z[sc.bulk_index[: len(sc.unit)]] if len(sc.unit) != len(bulk) else z
        expected = analytic_mu(sc, z_unit, shifts)
        rows.append(
            {
                'material': material,
                'component': component,
                'repeat': list(sc.repeat),
                'n_atoms': len(sc.atoms),
                'mu_analytic_nC_per_m': mu_to_nc_per_m(expected),
                'rel_error_two_point': abs(ext.mu_two_point / expected - 1),
                'rel_error_fit': abs(ext.mu_fit / expected - 1),
                'build_s': t1 - t0,
                'predict_synthetic_s': t2 - t1,
                'extract_s': t3 - t2,
            }
        )
        r = rows[-1]
        print(
            f'{material:7} {component} {"×".join(map(str, sc.repeat)):>9} {r["n_atoms"]:6d} atoms  μ = '
            f'{r["mu_analytic_nC_per_m"]:+.5f} nC/m  err two-point {r["rel_error_two_point"]:.1e} fit '
            f'{r["rel_error_fit"]:.1e}  build {r["build_s"] * 1e3:.1f} ms  extract {r["extract_s"] * 1e3:.1f} ms'
        )
    if args.out:
        with open(args.out, 'w') as handle:
            json.dump(rows, handle, indent=2)


if __name__ == '__main__':
    main()
