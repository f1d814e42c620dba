"""``aiida-flexo flexo``: flexoelectric coefficients from strain-gradient supercells (no AiiDA profile needed).

Model arguments: ``--dipole`` is a dipole-GNN file (loaded with ``aiida_flexo.gnn.load_model``) or a synthetic model
(``synthetic:perovskite``, ``synthetic:charges:Ba=2,Ti=4,O=-2``, ``synthetic:linear-bec`` with ``--bec``);
``--mlip`` is a potential (any model file or pretrained name :func:`aiida_flexo.mlip.load_calculator` takes) or
``synthetic:relax:Ti=0.5,O=-0.2`` (a synthetic internal relaxation). The GNN and MLIP packages are imported only when a file is given.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from aiida_flexo.cli import echo_json, fail
from aiida_flexo.cli.outputs import overwrite_option, refuse_existing
from aiida_flexo.workflows.protocols import protocol_inputs

#: the relaxation of flexo.coefficient's moderate protocol: the CLI's defaults are the WorkChain's
MODERATE_RELAXATION = protocol_inputs('flexo_coefficient', 'moderate')['relax_parameters']


def _read_bulk(spec: str):
    from aiida_flexo.flexo.structures import builtin

    if spec.startswith('builtin:'):
        try:
            return builtin(spec.split(':', 1)[1])
        except ValueError as exc:
            fail(str(exc))
    path = Path(spec)
    if not path.exists():
        fail(
            f'bulk structure {spec} does not exist (give a file ase can read, or builtin:BaTiO3 / builtin:Si)'
        )
    from ase.io import read

    try:
        atoms = read(path)
    except Exception as exc:  # ase raises many kinds
        fail(f'could not read the bulk structure {path}: {exc}')
    return atoms


def _parse_repeat(text: str) -> int | tuple[int, int, int]:
    cleaned = text.lower().replace('×', 'x').replace(',', 'x')
    try:
        values = [int(v) for v in cleaned.split('x')]
    except ValueError:
        fail(f'--repeat must be N (cells along the gradient axis) or AxBxC, got {text!r}')
    if len(values) == 1:
        return values[0]
    if len(values) != 3:
        fail(f'--repeat must be N or AxBxC, got {text!r}')
    return tuple(values)


def _parse_floats(text: str, option: str) -> list[float]:
    try:
        return [float(v) for v in text.split(',') if v.strip()]
    except ValueError:
        fail(f'{option} must be numbers separated by commas, got {text!r}')


def _read_bec(path: str | None, bulk):
    if path is None:
        return None
    from aiida_flexo.flexo.born import read_born_charges_file

    try:
        charges, symbols = read_born_charges_file(path)
    except (ValueError, OSError) as exc:
        fail(f'--bec {path}: {exc}')
    if symbols is not None and len(charges) == len(bulk) and list(symbols) != bulk.get_chemical_symbols():
        fail(
            f'--bec {path}: Born charges for {list(symbols)} but the bulk cell has {bulk.get_chemical_symbols()}; '
            'give Z* of the same cell, atoms in the same order'
        )
    return charges


def _load_dipole(spec: str, bulk, bec_array):
    if spec.startswith('synthetic:'):
        from aiida_flexo.flexo.synthetic import model_from_spec

        try:
            return model_from_spec(spec, bulk=bulk, born_charges=bec_array)
        except ValueError as exc:
            fail(str(exc))
    if not Path(spec).exists():
        fail(f'--dipole {spec}: no such model file (or use synthetic:perovskite for a synthetic model)')
    try:
        from aiida_flexo.gnn import load_model
    except ImportError as exc:
        fail(f'the dipole GNN package (aiida_flexo.gnn) cannot be imported: {exc}')
    try:
        return load_model(spec)
    except (ValueError, OSError) as exc:  # ModelFileError is a ValueError
        fail(f'--dipole {spec}: {exc}')


def _load_mlip(spec: str | None, device: str):
    """(calculator, relaxer): one of them or neither."""
    if spec is None:
        return None, None
    if spec.startswith('synthetic:'):
        from aiida_flexo.flexo.synthetic import relaxer_from_spec

        try:
            return None, relaxer_from_spec(spec)
        except ValueError as exc:
            fail(str(exc))
    try:
        from aiida_flexo.mlip import ModelError, load_calculator
    except ImportError as exc:
        fail(f'the MLIP package (aiida_flexo.mlip) cannot be imported: {exc}')
    try:
        return load_calculator(spec, device=device), None
    except (ModelError, ValueError, OSError) as exc:  # committee and pretrained-name errors are ValueErrors
        fail(f'--mlip {spec}: {exc}')


def _common_options(function):
    options = [
        click.option(
            '--bulk',
            required=True,
            help='Bulk cell: a file ase reads (POSCAR, cif, extxyz) or builtin:BaTiO3.',
        ),
        click.option(
            '--component',
            default='3333',
            show_default=True,
            help='μ_ijkl, P_i = μ_ijkl ∂ε_jk/∂x_l: 3333 longitudinal, 3113 transverse, 1133 shear.',
        ),
        click.option(
            '--fix', default=None, help='Fixed sublattice: species (Ba or Ba,O) or supercell atom indices.'
        ),
        click.option('--shape', type=click.Choice(['sine', 'cosine']), default='sine', show_default=True),
        click.option('--transverse-repeat', type=int, default=None, help='Cells along the transverse axes.'),
        click.option(
            '--mlip',
            default=None,
            help='MLIP model file for the relaxation (omit: imposed field, unrelaxed).',
        ),
        click.option(
            '--dipole',
            required=True,
            help='Dipole GNN model file, or synthetic:perovskite / synthetic:charges:…',
        ),
        click.option(
            '--bec',
            default=None,
            help="Born charges of the bulk cell (JSON of 'born-charges --json', OUTCAR, …).",
        ),
        click.option(
            '--bec-from-model',
            is_flag=True,
            help="Born-charge route with the dipole model's Z* at the reference.",
        ),
        click.option(
            '--fmax',
            type=float,
            default=MODERATE_RELAXATION['fmax'],
            show_default=True,
            help='Relaxation force threshold (eV/Å), that of the moderate protocol of flexo.coefficient: μ of '
            'BaTiO3 moves by 0.1 % from there to half of it.',
        ),
        click.option('--max-steps', type=int, default=2000, show_default=True),
        click.option('--optimizer', default='FIRE', show_default=True),
        click.option('--device', default='cpu', show_default=True, help='Device of the MLIP.'),
        click.option(
            '--two-point',
            'two_point',
            type=click.Choice(['nearest', 'interpolate']),
            default='nearest',
            show_default=True,
            help='Cells for the two-point formula: nearest to the gradient extrema, or interpolated.',
        ),
        click.option(
            '--exclude-seam',
            type=int,
            default=0,
            show_default=True,
            help='Transverse geometry: cells dropped on each side of the seam of the bending-like field.',
        ),
    ]
    for option in reversed(options):
        function = option(function)
    return function


def _check_out_folder(out_dir: Path | None, overwrite: bool = True) -> None:
    """Stop before any work when ``out_dir`` cannot take the results (a file, inside a file, a result there)."""
    if out_dir is None:
        return
    refuse_existing(overwrite, out_dir, folder=True)
    ancestor = next((p for p in (out_dir.absolute(), *out_dir.absolute().parents) if p.exists()), None)
    if ancestor is not None and not ancestor.is_dir():
        fail(f'--out {out_dir}: {ancestor} is a file, not a folder: choose another output folder')


def _setup(bulk, component, dipole, bec, bec_from_model, mlip, device):
    from aiida_flexo.flexo.convention import Component

    try:
        Component.parse(component).geometry  # noqa: B018 (validates)
    except ValueError as exc:
        fail(str(exc))
    if bec is not None and bec_from_model:
        fail('give either --bec FILE or --bec-from-model, not both')
    atoms = _read_bulk(bulk)
    if bec is not None or bec_from_model:
        from aiida_flexo.flexo.run import check_born_route

        try:
            check_born_route(atoms)
        except ValueError as exc:
            fail(str(exc))
    bec_array = _read_bec(bec, atoms)
    model = _load_dipole(dipole, atoms, bec_array)
    calculator, relaxer = _load_mlip(mlip, device)
    bec_source = 'model' if bec_from_model else bec_array
    return atoms, model, calculator, relaxer, bec_source


@click.group('flexo')
def flexo() -> None:
    """Flexoelectric coefficients μ (nC/m) from strain-gradient supercells, dipole models and an MLIP."""


@flexo.command('coefficient')
@_common_options
@click.option('--repeat', default='14', show_default=True, help='N cells along the gradient axis, or AxBxC.')
@click.option(
    '--max-strain',
    type=float,
    default=0.005,
    show_default=True,
    help='Maximum strain amplitude max ε_jk (dimensionless).',
)
@click.option('--out', 'out_dir', required=True, type=click.Path(path_type=Path), help='Output folder.')
@click.option(
    '--check-fmax/--no-check-fmax',
    default=True,
    show_default=True,
    help='Continue the relaxation to fmax/2 and report μ at both tolerances (a warning above 2 % change).',
)
@overwrite_option('results in a non-empty --out folder')
@click.option('--json', 'as_json', is_flag=True, help='Print the summary as JSON.')
def coefficient(
    bulk, component, fix, shape, transverse_repeat, mlip, dipole, bec, bec_from_model, fmax, max_steps, optimizer,
    device, two_point, exclude_seam, repeat, max_strain, out_dir, check_fmax, overwrite, as_json,
) -> None:  # fmt: skip
    """Compute one μ component: writes OUT/result.json, OUT/profile.png, OUT/supercell.json, OUT/relaxed.extxyz.

    A relaxation that does not reach --fmax within --max-steps is an error (exit status 3), not a number.
    """
    from aiida_flexo.flexo.run import RelaxationNotConvergedError, compute_coefficient, summary

    _check_out_folder(out_dir, overwrite)
    atoms, model, calculator, relaxer, bec_source = _setup(
        bulk, component, dipole, bec, bec_from_model, mlip, device
    )
    try:
        result = compute_coefficient(
            atoms,
            component,
            _parse_repeat(repeat),
            max_strain,
            fix,
            model,
            calculator=calculator,
            bec=bec_source,
            shape=shape,
            transverse_repeat=transverse_repeat,
            relaxer=relaxer,
            relax_options={'fmax': fmax, 'max_steps': max_steps, 'optimizer': optimizer},
            two_point_method=two_point,
            exclude_seam=exclude_seam,
            check_fmax=check_fmax,
            out_dir=out_dir,
        )
    except RelaxationNotConvergedError as exc:
        fail(str(exc), 3)
    except ValueError as exc:
        fail(str(exc))
    data = result.to_dict()
    brief = {
        'component': data['component'],
        'convention': data['convention'],
        'mu_nC_per_m': data['mu_nC_per_m'],
        'bec_mu_nC_per_m': data.get('bec', {}).get('mu_nC_per_m'),
        'relaxed': data['relaxation']['relaxed'],
        'relaxation': {
            k: data['relaxation'].get(k)
            for k in ('fmax_eV_A', 'max_force_eV_A', 'n_steps', 'converged', 'tolerance_check')
        },
        'notes': data['notes'],
        'files': {'result': str(out_dir / 'result.json'), 'profile': str(out_dir / 'profile.png')},
        'wall_s': data['timings_s']['total'],
    }
    if as_json:
        echo_json(brief)
        return
    click.echo(summary(result))
    relaxation = data['relaxation']
    if relaxation.get('relaxed') and 'max_force_eV_A' in relaxation:
        click.echo(
            f'relaxed to max |F| {relaxation["max_force_eV_A"]:.2g} eV/Å (fmax {relaxation["fmax_eV_A"]:g}) in '
            f'{relaxation["n_steps"]} steps'
        )
        check = relaxation.get('tolerance_check')
        if check:
            click.echo(
                f'tolerance check: μ (fit) {check["mu_fit_nC_per_m"][0]:.4f} → {check["mu_fit_nC_per_m"][1]:.4f} nC/m '
                f'at fmax {check["fmax_eV_A"][0]:g} → {check["fmax_eV_A"][1]:g} eV/Å '
                f'({100 * check["relative_change"]:.2f} %, {"stable" if check["stable"] else "NOT stable"})'
            )
    for note in data['notes']:
        click.echo(f'Note: {note}')
    click.echo(f'wrote {out_dir / "result.json"} and {out_dir / "profile.png"} ({brief["wall_s"]:.1f} s)')


@flexo.command('convergence')
@_common_options
@click.option('--repeats', default='6,10,14,18', show_default=True, help='N values for μ vs N.')
@click.option(
    '--strains', default='0.001,0.0025,0.005', show_default=True, help='ε_max values for μ vs amplitude.'
)
@click.option('--repeat', default='14', show_default=True, help='N used in the amplitude scan.')
@click.option('--max-strain', type=float, default=0.005, show_default=True, help='ε_max used in the N scan.')
@click.option(
    '--committee-dipole',
    'committee',
    multiple=True,
    help='Another dipole model (a committee member or another training seed; repeat the option): μ(N) is '
    'measured with each on the same relaxed supercells, and the spread of their μ∞ enters the error bar.',
)
@click.option(
    '--spread',
    type=float,
    default=0.0,
    show_default=True,
    help='Committee/seed spread of μ (nC/m), added in quadrature to the error bar of μ∞.',
)
@click.option('--out', 'out_dir', required=True, type=click.Path(path_type=Path))
@click.option('--json', 'as_json', is_flag=True)
def convergence(
    bulk, component, fix, shape, transverse_repeat, mlip, dipole, bec, bec_from_model, fmax, max_steps, optimizer,
    device, two_point, exclude_seam, repeats, strains, repeat, max_strain, committee, spread, out_dir, as_json,
) -> None:  # fmt: skip
    """μ against N and against the maximum strain, and the large-N limit μ∞ with its error bar.

    μ(N) is fitted by μ∞ + a/N² and μ∞ + a/N (the form with the lower χ² is taken with three or more N); the error
    bar of μ∞ combines the fit's standard error, the extrapolation (the other form's μ∞, weighted by how well the
    data allow it) and --spread. Writes OUT/convergence.json and OUT/convergence.png.
    """
    from aiida_flexo.flexo.convention import mu_to_nc_per_m
    from aiida_flexo.flexo.convergence import committee_extrapolation, mu_vs_repeat, mu_vs_strain
    from aiida_flexo.flexo.plots import plot_convergence
    from aiida_flexo.flexo.run import coefficient_runner, remeasure

    _check_out_folder(out_dir)
    atoms, model, calculator, relaxer, bec_source = _setup(
        bulk, component, dipole, bec, bec_from_model, mlip, device
    )
    members = [_load_dipole(spec, atoms, None) for spec in committee]
    run = coefficient_runner(
        atoms,
        component,
        fix,
        model,
        calculator=calculator,
        bec=bec_source,
        shape=shape,
        transverse_repeat=transverse_repeat,
        relaxer=relaxer,
        relax_options={'fmax': fmax, 'max_steps': max_steps, 'optimizer': optimizer},
        two_point_method=two_point,
        exclude_seam=exclude_seam,
    )
    fixed_n = _parse_repeat(repeat)
    from aiida_flexo.flexo.run import RelaxationNotConvergedError

    extract_options = {'two_point_method': two_point, 'exclude_seam': exclude_seam}
    member_mu: list[list[float]] = [[] for _ in members]

    def run_length(n: int):
        result = run(n, max_strain)
        for k, member in enumerate(members):  # the same relaxed supercell, another dipole model
            member_mu[k].append(mu_to_nc_per_m(remeasure(result, member, **extract_options).mu_fit))
        return result

    try:
        by_n = mu_vs_repeat(run_length, [int(v) for v in _parse_floats(repeats, '--repeats')])
        by_strain = mu_vs_strain(lambda e: run(fixed_n, e), _parse_floats(strains, '--strains'))
    except RelaxationNotConvergedError as exc:
        fail(str(exc), 3)
    except ValueError as exc:
        fail(str(exc))
    limit = member_limits = None
    if len(set(by_n.values)) >= 2:
        limit, member_limits = committee_extrapolation(
            by_n.values, [by_n.mu_fit, *member_mu], by_n.fit_stderr, spread=spread
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    data = {
        'component': component,
        'relaxed': calculator is not None or relaxer is not None,
        'mu_vs_repeat': by_n.to_dict(),
        'mu_vs_strain': by_strain.to_dict(),
        'converged_in_repeat_2pct': by_n.converged(0.02),
        'converged_in_strain_2pct': by_strain.converged(0.02),
        'limit': None if limit is None else limit.to_dict(),
        'committee': {
            'models': [dipole, *committee],
            'mu_fit_nC_per_m': [by_n.mu_fit, *member_mu],
            'mu_inf_nC_per_m': None if member_limits is None else [m.mu_inf for m in member_limits],
        },
    }
    (out_dir / 'convergence.json').write_text(json.dumps(data, indent=2))
    plot_convergence([by_n, by_strain], out_dir / 'convergence.png', limit=limit)
    if as_json:
        echo_json(data)
        return
    for table in (by_n, by_strain):
        click.echo(f'{table.parameter:>10}  {"two-point":>10}  {"fit":>10}  {"stderr":>8}  (nC/m)')
        for v, a, b, s in zip(table.values, table.mu_two_point, table.mu_fit, table.fit_stderr):
            click.echo(f'{v:>10}  {a:10.4f}  {b:10.4f}  {s:8.4f}')
    if limit is not None:
        click.echo(limit.summary())
    else:
        click.echo('μ∞: give two or more --repeats for the large-N limit')
    click.echo(f'wrote {out_dir / "convergence.json"} and {out_dir / "convergence.png"}')


@flexo.command('sensitivity')
@click.option('--dipole', required=True, help='Dipole GNN model file, or a synthetic model spec.')
@click.option('--bulk', default='builtin:BaTiO3', show_default=True)
@click.option('--repeat', default='3x3x3', show_default=True)
@click.option('--steps', default='-0.04,-0.02,0.02,0.04', show_default=True, help='Displacements (Å).')
@click.option('--direction', type=click.Choice(['x', 'y', 'z']), default='z', show_default=True)
@click.option(
    '--bec', default=None, help='Born charges of the bulk cell for the expectation (default: the model).'
)
@click.option(
    '--phases', is_flag=True, help='Also tabulate cubic/tetragonal/orthorhombic/rhombohedral BaTiO3.'
)
@click.option(
    '--out', 'out_dir', default=None, type=click.Path(path_type=Path), help='Write sensitivity.json here.'
)
@click.option('--json', 'as_json', is_flag=True)
def sensitivity(dipole, bulk, repeat, steps, direction, bec, phases, out_dir, as_json) -> None:
    """Single-atom sensitivity: Δ(cell dipole) of one displaced atom per species against Z*·u (and a phase report)."""
    from aiida_flexo.flexo.sensitivity import phase_report, single_atom_sensitivity

    _check_out_folder(out_dir)
    atoms = _read_bulk(bulk)
    bec_array = _read_bec(bec, atoms)
    reps = _parse_repeat(repeat)
    reps = (reps, reps, reps) if isinstance(reps, int) else reps
    model = _load_dipole(dipole, atoms, bec_array)
    try:
        report = single_atom_sensitivity(
            model,
            atoms,
            reps,
            _parse_floats(steps, '--steps'),
            direction,
            born_charges='model' if bec_array is None else bec_array,
        )
        if phases:
            report['phases'] = phase_report(model, repeat=reps)
    except ValueError as exc:
        fail(str(exc))
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / 'sensitivity.json').write_text(json.dumps(report, indent=2))
    if as_json:
        echo_json(report)
        return
    click.echo(
        f'{"species":>8} {"atom":>5}  effective Z* column (e)        Born column (e)              max |Δd−Z*u| (eÅ)'
    )
    for row in report['species']:
        eff = ' '.join(f'{x:8.3f}' for x in row['effective_born_column_e'])
        ref = ' '.join(f'{x:8.3f}' for x in row.get('born_column_e', [float('nan')] * 3))
        click.echo(
            f'{row["species"]:>8} {row["atom_index"]:>5}  {eff}   {ref}   {row.get("max_deviation_eA", float("nan")):.4g}'
        )
    for row in report.get('phases', []):
        p = ' '.join(f'{x:8.3f}' for x in row['P_uC_cm2'])
        click.echo(f'{row["phase"]:>13}: P = {p} µC/cm²')
