"""``aiida-flexo polarization`` and ``aiida-flexo born-charges``: read DFT polarization output."""

from __future__ import annotations

import warnings
from pathlib import Path

import click
import numpy as np

from aiida_flexo.cli import echo_json, fail


@click.command('polarization')
@click.argument('paths', nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option(
    '--json', 'as_json', is_flag=True, help='Print JSON (keys: polarization_uC_cm2, quantum_uC_cm2, ...).'
)
@click.option(
    '--charge-quantum',
    type=float,
    default=1.0,
    show_default=True,
    help='Charge quantum q (e) of the lattice of dipole quanta q·e·R; 1 is always safe.',
)
def polarization(paths: tuple[Path, ...], as_json: bool, charge_quantum: float) -> None:
    """Polarization along a path of Berry-phase runs (VASP OUTCARs or run folders, in path order).

    Reads the electronic and ionic dipoles of each step (VASP-version-aware sign), puts them on one continuous
    branch and prints each step's polarization, the quantum and the same-branch spontaneous polarization
    (last − first), all in µC/cm².
    """
    from aiida_flexo.polarization import VaspOutputError, path_from_outcars

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        try:
            result = path_from_outcars(list(paths), charge_quantum=charge_quantum)
        except (VaspOutputError, ValueError) as exc:
            fail(str(exc))
    data = result.to_uc_per_cm2()
    data['warnings'] = [
        str(w.message) for w in caught if 'polarization' in str(w.message) or 'VASP' in str(w.message)
    ]
    if as_json:
        echo_json(data)
        return
    click.echo(f'{"step":>4}  {"Px":>10} {"Py":>10} {"Pz":>10}  (µC/cm², one branch)  source')
    for i, (label, p) in enumerate(zip(data['labels'], data['polarization_uC_cm2'])):
        click.echo(f'{i:>4}  {p[0]:10.4f} {p[1]:10.4f} {p[2]:10.4f}  {label}')
    q = data['quantum_uC_cm2']
    s = data['spontaneous_uC_cm2']
    click.echo(f'quantum (last step, e·|R_i|/Ω):  {q[0]:.4f} {q[1]:.4f} {q[2]:.4f} µC/cm²')
    click.echo(
        f'spontaneous (last − first):      {s[0]:.4f} {s[1]:.4f} {s[2]:.4f} µC/cm²  (|P_s| = '
        f'{data["spontaneous_norm_uC_cm2"]:.4f})'
    )
    for message in data['warnings']:
        click.echo(f'Warning: {message}', err=True)


@click.command('born-charges')
@click.argument('path', type=click.Path(exists=True, path_type=Path))
@click.option(
    '--json', 'as_json', is_flag=True, help='Print JSON (keys: born_charges, epsilon_inf, asr_residual).'
)
@click.option(
    '--enforce-asr', is_flag=True, help='Spread the acoustic-sum-rule residual evenly over the atoms.'
)
def born_charges(path: Path, as_json: bool, enforce_asr: bool) -> None:
    """Born effective charges Z* (e) and ε∞ from a VASP DFPT run (OUTCAR or vasprun.xml).

    Z*_i,αβ = ∂d_α/∂r_iβ (row α: polarization direction, column β: displacement). The acoustic sum rule residual
    Σ_i Z*_i is printed; --enforce-asr removes it.
    """
    from aiida_flexo.polarization import VaspOutputError, read_born_charges

    try:
        result = read_born_charges(path)
    except VaspOutputError as exc:
        fail(str(exc))
    raw_residual = result.asr_residual
    if enforce_asr:
        result = result.with_asr_enforced()
    data = {
        'source': result.source,
        'symbols': result.symbols,
        'born_charges': result.born_charges.tolist(),
        'epsilon_inf': result.epsilon_inf.tolist(),
        'asr_residual': result.asr_residual.tolist(),
        'asr_residual_before_enforcing': raw_residual.tolist(),
        'asr_enforced': enforce_asr,
        'units': {'born_charges': 'e', 'epsilon_inf': 'dimensionless'},
    }
    if as_json:
        echo_json(data)
        return
    np.set_printoptions(precision=5, suppress=True)
    for i, (symbol, z) in enumerate(zip(result.symbols, result.born_charges)):
        click.echo(f'atom {i:>3} {symbol:<3} Z* (e):')
        for row in z:
            click.echo('    ' + ' '.join(f'{x:10.5f}' for x in row))
    click.echo('epsilon_inf:')
    for row in result.epsilon_inf:
        click.echo('    ' + ' '.join(f'{x:10.5f}' for x in row))
    click.echo('acoustic sum rule residual Σ Z* (e):' + (' (enforced)' if enforce_asr else ''))
    for row in result.asr_residual:
        click.echo('    ' + ' '.join(f'{x:10.5f}' for x in row))
