"""``aiida-flexo textures``: build superlattices, predict polarization fields, analyse polar textures."""

from __future__ import annotations

from pathlib import Path

import click

from aiida_flexo.cli import echo_json, fail
from aiida_flexo.cli.frames import load_cli_profile, profile_option, require_daemon
from aiida_flexo.cli.outputs import overwrite_option, refuse_existing


@click.group('textures')
def textures() -> None:
    """Polar textures: superlattices, local polarization maps, domain walls and skyrmion numbers."""


def _floats(text: str | None, count: tuple[int, ...], name: str) -> list[float] | None:
    if text is None:
        return None
    try:
        values = [float(x) for x in text.split(',')]
    except ValueError:
        fail(f'{name} must be comma-separated numbers, got {text!r}')
    if len(values) not in count:
        fail(f'{name} takes {" or ".join(str(c) for c in count)} numbers, got {len(values)}')
    return values


def superlattice_options(function):
    """The options describing an (A)m/(B)n superlattice (shared by `textures build` and `textures submit`)."""
    options = [
        click.option(
            '-m',
            '--m-layers',
            type=int,
            default=8,
            show_default=True,
            help='Unit cells of the first material.',
        ),
        click.option(
            '-n',
            '--n-layers',
            type=int,
            default=4,
            show_default=True,
            help='Unit cells of the second material.',
        ),
        click.option(
            '-N', '--size', default='10', show_default=True, help='In-plane cells: N (N×N) or Nx,Ny.'
        ),
        click.option(
            '--materials',
            default='PbTiO3,SrTiO3',
            show_default=True,
            help='The two perovskites A,B (PbTiO3, SrTiO3, BaTiO3).',
        ),
        click.option(
            '--a-inplane', type=float, help='In-plane lattice parameter (Å); default: the substrate.'
        ),
        click.option(
            '--substrate',
            help='Substrate fixing the in-plane parameter (SrTiO3 by default; DyScO3, KTaO3, ...).',
        ),
        click.option(
            '--c',
            'c_values',
            multiple=True,
            help='Out-of-plane parameter override, e.g. --c PbTiO3=4.10 (Å).',
        ),
        click.option(
            '--seed',
            type=click.Choice(['none', 'uniform', 'stripes', 'bubble']),
            default='none',
            show_default=True,
            help='Domain seed (B and O displaced along ±z).',
        ),
        click.option(
            '--seed-in',
            type=click.Choice(['A', 'B', 'both']),
            default='A',
            show_default=True,
            help='Seeded layers.',
        ),
        click.option('--stripe-width', type=int, help='Stripe domain width in cells (default Nx/2).'),
        click.option('--bubble-radius', type=float, help='Bubble radius in cells (default min(Nx,Ny)/4).'),
        click.option(
            '--displacement-b',
            type=float,
            default=0.15,
            show_default=True,
            help='B displacement of a seed (Å).',
        ),
        click.option(
            '--displacement-o',
            type=float,
            default=-0.10,
            show_default=True,
            help='O displacement of a seed (Å).',
        ),
    ]
    for option in reversed(options):
        function = option(function)
    return function


def superlattice_parameters(
    m_layers, n_layers, size, materials, a_inplane, substrate, c_values, seed, seed_in, stripe_width,
    bubble_radius, displacement_b, displacement_o,
) -> dict:  # fmt: skip
    """The keyword arguments of build_superlattice (JSON-ready: the `superlattice` Dict of flexo.textures)."""
    sizes = [int(x) for x in _floats(size, (1, 2), '--size')]
    overrides = {}
    for item in c_values:
        name, _, value = item.partition('=')
        try:
            overrides[name.strip()] = float(value)
        except ValueError:
            fail(f'--c takes MATERIAL=VALUE (Å), e.g. --c PbTiO3=4.10, got {item!r}')
    parameters = {
        'm': m_layers,
        'n': n_layers,
        'size': sizes if len(sizes) == 2 else sizes[0],
        'materials': [x.strip() for x in materials.split(',')],
        'seed': seed,
        'seed_in': seed_in,
        'displacement_B': displacement_b,
        'displacement_O': displacement_o,
    }
    optional = {
        'a_inplane': a_inplane,
        'substrate': substrate,
        'c_out_of_plane': overrides or None,
        'stripe_width': stripe_width,
        'bubble_radius': bubble_radius,
    }
    parameters.update({key: value for key, value in optional.items() if value is not None})
    return parameters


@textures.command('build')
@superlattice_options
@click.option(
    '-o',
    '--out',
    type=click.Path(path_type=Path),
    default='superlattice.extxyz',
    show_default=True,
    help='extxyz file.',
)
@click.option('--json', 'as_json', is_flag=True, help='Print a JSON summary.')
def build(
    m_layers, n_layers, size, materials, a_inplane, substrate, c_values, seed, seed_in, stripe_width, bubble_radius,
    displacement_b, displacement_o, out, as_json,
) -> None:  # fmt: skip
    """Build an (A)m/(B)n perovskite superlattice and write it to extxyz.

    The file carries the B-centred cell assignment (arrays cell_index, site) and the grid (info grid_shape,
    a_inplane, layer_heights, layer_materials) that `textures field` needs.
    """
    import ase.io
    import numpy as np

    from aiida_flexo.textures.superlattice import build_superlattice

    parameters = superlattice_parameters(
        m_layers, n_layers, size, materials, a_inplane, substrate, c_values, seed, seed_in, stripe_width,
        bubble_radius, displacement_b, displacement_o,
    )  # fmt: skip
    size = parameters.pop('size')
    try:
        sl = build_superlattice(
            parameters.pop('m'),
            parameters.pop('n'),
            tuple(size) if isinstance(size, list) else size,
            parameters.pop('materials'),
            **parameters,
        )
    except ValueError as exc:
        fail(str(exc))
    ase.io.write(out, sl.atoms, format='extxyz')
    summary = {
        'path': str(out),
        'n_atoms': len(sl.atoms),
        'formula': sl.atoms.get_chemical_formula(),
        'grid_shape': list(sl.grid_shape),
        'a_inplane_A': sl.a_inplane,
        'layer_heights_A': sl.layer_heights.tolist(),
        'layer_materials': sl.layer_materials,
        'cell_lengths_A': sl.atoms.cell.lengths().tolist(),
        'seed': seed,
        'seeded_cells': int(np.count_nonzero(np.linalg.norm(sl.seed, axis=-1))),
    }
    if as_json:
        echo_json(summary)
        return
    click.echo(
        f'wrote {out}: {summary["formula"]}, {summary["n_atoms"]} atoms, grid {tuple(sl.grid_shape)}, '
        f'a = {sl.a_inplane:.4f} Å, c = {", ".join(f"{c:.4f}" for c in sorted(set(sl.layer_heights)))} Å, seed {seed}'
    )


def _load_dipole_model(path: Path, device: str):
    """The GNN dipole model of ``path`` via aiida_flexo.gnn.load_model (imported only here: it pulls in torch)."""
    import inspect

    try:
        from aiida_flexo.gnn import load_model
    except ImportError as exc:
        fail(f'cannot load the dipole GNN (aiida_flexo.gnn): {exc}')
    try:
        parameters = inspect.signature(load_model).parameters
    except (TypeError, ValueError):
        parameters = {}
    model = load_model(path, device=device) if 'device' in parameters else load_model(path)
    if not hasattr(model, 'per_atom_dipoles'):
        fail(f'{path} did not load a dipole model with per_atom_dipoles(atoms) (got {type(model).__name__})')
    return model


@textures.command('field')
@click.argument('structure', type=click.Path(exists=True, path_type=Path))
@click.option(
    '--dipole', 'model_path', required=True, type=click.Path(exists=True, path_type=Path), help='GNN model.'
)
@click.option(
    '-o', '--out', required=True, type=click.Path(path_type=Path), help='FIELD.npy (+ .meta.json) or .json.'
)
@click.option(
    '--index',
    default='-1',
    show_default=True,
    help="Frames of STRUCTURE to average (ase index: '-1', '-10:', ':').",
)
@click.option(
    '--reference', type=click.Path(exists=True, path_type=Path), help='Superlattice with the cell assignment.'
)
@click.option('--grid', help='Nx,Ny,L when neither STRUCTURE nor --reference carries the grid.')
@click.option('--device', default='cpu', show_default=True, help='Torch device of the model.')
@click.option('--json', 'as_json', is_flag=True, help='Print a JSON summary.')
def field(structure, model_path, out, index, reference, grid, device, as_json) -> None:
    """Polarization field P(x, y, z) (C/m²) of STRUCTURE from per-atom dipoles of a GNN.

    Per-cell dipoles (B-centred cells of the reference assignment) are divided by the reference cell volumes and
    averaged over the selected frames.
    """
    import ase.io
    import numpy as np

    from aiida_flexo.textures.field import (
        PolarizationField,
        field_from_model,
        grid_of,
        reference_cell_volumes,
        save_field,
    )

    if out.suffix not in ('.npy', '.json'):
        fail(f'--out must end in .npy or .json, got {out.name}')
    try:
        frames = ase.io.read(structure, index=index)
    except Exception as exc:  # ase raises many kinds
        fail(f'cannot read frames {index!r} of {structure}: {exc}')
    frames = frames if isinstance(frames, list) else [frames]
    if not frames:
        fail(f'no frames selected by --index {index!r} in {structure}')
    ref = ase.io.read(reference) if reference is not None else frames[0]
    grid_shape = None if grid is None else [int(x) for x in _floats(grid, (3,), '--grid')]
    try:
        cell_index, shape = grid_of(ref, grid_shape)
    except ValueError as exc:
        fail(str(exc))
    volumes = reference_cell_volumes(ref, shape)
    model = _load_dipole_model(model_path, device)
    try:
        P = field_from_model(frames, model, cell_index, shape, volumes)
    except ValueError as exc:
        fail(str(exc))
    heights = ref.info.get('layer_heights')
    heights = None if heights is None else np.ravel(heights)
    a = ref.info.get('a_inplane')
    lengths = ref.cell.lengths()
    cell_size = [
        float(a) if a is not None else lengths[0] / shape[0],
        float(a) if a is not None else lengths[1] / shape[1],
        float(np.mean(heights)) if heights is not None else lengths[2] / shape[2],
    ]
    pfield = PolarizationField(
        P=P,
        cell_size_A=cell_size,
        layer_heights_A=heights,
        n_frames=len(frames),
        meta={
            'structure': str(structure),
            'index': index,
            'model': str(model_path),
            'reference': str(reference) if reference else None,
            'layer_materials': ref.info.get('layer_materials'),
        },
    )
    written = save_field(out, pfield)
    summary = {
        'written': [str(p) for p in written],
        'grid_shape': list(shape),
        'n_frames': len(frames),
        'mean_P_C_per_m2': P.mean(axis=(0, 1, 2)).tolist(),
        'mean_abs_P_C_per_m2': float(np.linalg.norm(P, axis=-1).mean()),
    }
    if as_json:
        echo_json(summary)
        return
    click.echo(
        f'wrote {", ".join(summary["written"])}: grid {tuple(shape)}, {len(frames)} frame(s), '
        f'mean |P| = {summary["mean_abs_P_C_per_m2"]:.4f} C/m²'
    )


@textures.command('analyse')
@click.argument('field_path', metavar='FIELD', type=click.Path(exists=True, path_type=Path))
@click.option('-o', '--out', type=click.Path(path_type=Path), help='Output folder (default: FIELD_texture).')
@click.option('--layers', help="Layers to analyse, e.g. '0-7' (default all).")
@click.option('--cell-size', help='a_x,a_y,c in Å (or one number) when FIELD carries none.')
@click.option('--method', type=click.Choice(['sign', 'orientation']), default='sign', show_default=True)
@click.option(
    '--domain-threshold',
    type=float,
    default=0.0,
    show_default=True,
    help='Cells below this fraction of the largest P_z magnitude belong to no domain (e.g. 0.1 for noisy MD fields).',
)
@click.option(
    '--ising-threshold',
    type=float,
    default=0.15,
    show_default=True,
    help='Rotation fraction for Ising walls.',
)
@click.option('--pictures/--no-pictures', default=True, show_default=True, help='PNG maps and the VTK file.')
@click.option(
    '--html/--no-html', default=True, show_default=True, help='Self-contained 3D HTML view (plotly).'
)
@click.option('--json', 'as_json', is_flag=True, help='Print the analysis as JSON.')
def analyse(
    field_path, out, layers, cell_size, method, domain_threshold, ising_threshold, pictures, html, as_json
) -> None:
    """Analyse a polarization field: skyrmion number per layer, domains, walls (type, width), mean magnitude of P.

    Writes analysis.json and, with --pictures, layers.png, section_xz.png, section_yz.png, field.vtk (and
    field.html with --html) into the output folder.
    """
    from aiida_flexo.textures.analysis import analyse_texture, select_layers
    from aiida_flexo.textures.field import load_field

    size = _floats(cell_size, (1, 3), '--cell-size')
    try:
        pfield = load_field(
            field_path, cell_size_A=None if size is None else (size if len(size) == 3 else size[0])
        )
        chosen = select_layers(pfield.P.shape[2], layers)
    except ValueError as exc:
        fail(str(exc))
    out = out if out is not None else field_path.with_name(field_path.stem + '_texture')
    out.mkdir(parents=True, exist_ok=True)
    try:
        result = analyse_texture(
            pfield.P,
            pfield.cell_size_A,
            layer_heights_A=pfield.layer_heights_A,
            layers=chosen,
            domain_method=method,
            domain_threshold=domain_threshold,
            ising_threshold=ising_threshold,
            out_json=out / 'analysis.json',
        )
    except ValueError as exc:
        fail(str(exc))
    files = [out / 'analysis.json']
    if pictures:
        from aiida_flexo.textures import plots

        files.append(
            plots.plot_layers(
                pfield.P, out / 'layers.png', pfield.cell_size_A, layers=chosen,
                skyrmion_numbers=result['skyrmion_number_per_layer'],
            )
        )  # fmt: skip
        for plane in ('xz', 'yz'):
            files.append(
                plots.plot_cross_section(
                    pfield.P, out / f'section_{plane}.png', pfield.cell_size_A,
                    layer_heights_A=pfield.layer_heights_A, plane=plane,
                )
            )  # fmt: skip
        files.append(
            plots.write_vtk(
                out / 'field.vtk', pfield.P, pfield.cell_size_A, layer_heights_A=pfield.layer_heights_A
            )
        )
    if html:
        from aiida_flexo.textures import plots

        try:
            files.append(
                plots.write_html(
                    out / 'field.html', pfield.P, pfield.cell_size_A, layer_heights_A=pfield.layer_heights_A
                )
            )
        except ImportError as exc:
            click.echo(f'Warning: {exc}', err=True)
    result['files'] = [str(f) for f in files]
    if as_json:
        echo_json(result)
        return
    click.echo(f'grid {tuple(result["grid_shape"])}, layers {result["layers"][0]}..{result["layers"][-1]}')
    click.echo(f'mean |P| = {result["mean_abs_P_C_per_m2"]:.4f} C/m²')
    click.echo(
        'skyrmion number per layer: ' + ' '.join(f'{q:+.3f}' for q in result['skyrmion_number_per_layer'])
    )
    click.echo(
        f'domains: {result["domain_count"]} ({method}); walls: {len(result["walls"])} {result["wall_types"]}'
    )
    for number, wall in enumerate(result['walls']):
        pos = ', '.join('—' if p is None else f'{p:.2f}' for p in wall['position_A'])
        width = (
            'n/a' if wall['width_A'] is None else f'{wall["width_A"]:.2f} Å ({wall["width_cells"]:.2f} cells)'
        )
        click.echo(
            f'  wall {number}: {wall["type"]}, domains {wall["domains"]}, at ({pos}) Å, half-width {width}'
        )
    click.echo('wrote ' + ', '.join(str(f) for f in files))


@textures.command('validate')
@click.argument('mlip_model', metavar='MLIP', type=click.Path(dir_okay=False, path_type=str))
@click.option(
    '--dipole', 'dipole_path', required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help='Dipole GNN.',
)  # fmt: skip
@click.option('-o', '--out', type=click.Path(dir_okay=False, path_type=Path), help='Write the result (JSON).')
@overwrite_option('the output file')
@click.option(
    '--c-values', default='4.0,4.2,4.4,4.6,4.8', show_default=True, help='PbTiO3 c scan at a = 3.905 Å (Å).'
)
@click.option(
    '--heating',
    help='Also heat a PbTiO3 supercell through these temperatures (K, rising, comma-separated, e.g. '
    '300,500,700,900,1100): the magnitude of the mean polarization and c/a per temperature, where it vanishes '
    '(the tetragonal → cubic transition).',
)
@click.option(
    '--heating-steps', type=int, default=1000, show_default=True, help='MD steps each (at least 20).'
)
@click.option('--heating-size', type=int, default=3, show_default=True, help='N×N×N cells (N at least 2).')
@click.option('--heating-timestep', type=float, default=2.0, show_default=True, help='MD time step, fs.')
@click.option('--strict', is_flag=True, help='Exit with status 1 when a check fails.')
@click.option('--device', default='cpu', show_default=True, help='Torch device of both models.')
@click.option('--json', 'as_json', is_flag=True, help='Print the result as JSON.')
def validate(
    mlip_model, dipole_path, out, overwrite, c_values, heating, heating_steps, heating_size, heating_timestep, strict,
    device, as_json,
) -> None:  # fmt: skip
    """Bulk PbTiO3 and SrTiO3 with a potential (MLIP) and a dipole GNN, checked against DFT.

    SrTiO3 lattice constant and what is left of a 0.1 Å Ti shift (off-centring, P_z, its polar well against
    k_B·300 K); PbTiO3 clamped to a = 3.905 Å: c/a, Ti off-centring, P_s, the double well, cubic above tetragonal.
    Each quantity is compared with the shipped GPAW reference (the training frames' settings) within its
    tolerance (aiida_flexo.textures.bulk). Run it before a superlattice: a texture inherits these numbers.
    """
    from aiida_flexo.cli.mlip import check_model_species, load_potential
    from aiida_flexo.textures.bulk import (
        bulk_table,
        check_bulk,
        check_c_values,
        failed_checks,
        load_reference,
        model_dipole_of,
        perovskite,
        summary_line,
        validate_bulk,
    )
    from aiida_flexo.textures.heating import check_heating, heating_table

    if out is not None:
        refuse_existing(overwrite, out, inputs=(Path(mlip_model), dipole_path))
    try:
        scan = check_c_values(_floats(c_values, tuple(range(1, 101)), '--c-values'))
    except ValueError as exc:
        fail(f'--c-values: {exc}')
    temperatures = None
    if heating is not None:
        temperatures = _floats(heating, tuple(range(1, 101)), '--heating')
        try:
            check_heating(temperatures, heating_steps, heating_size, heating_timestep)
        except ValueError as exc:
            fail(f'--heating: {exc}')
    calculator = load_potential(mlip_model, device)
    for a_site in ('Pb', 'Sr'):
        check_model_species(perovskite(a_site, 3.905, 3.905), calculator)
    model = _load_dipole_model(dipole_path, device)
    dipole_of = model_dipole_of(model)

    log = (lambda message: click.echo(message, err=True)) if not as_json else None
    try:
        row = validate_bulk(calculator, dipole_of, c_values=scan, log=log)
    except ValueError as exc:
        fail(str(exc))
    reference = load_reference()
    checks = check_bulk(row, reference['values'])
    heating_result = None
    if temperatures is not None:
        heating_result = _heat_pbtio3(
            calculator, model, temperatures, heating_steps, heating_size, heating_timestep, log
        )
    result = {
        'model': row,
        'reference': reference,
        'checks': checks,
        'failed': [check['quantity'] for check in failed_checks(checks)],
        'summary': summary_line(checks),
        'models': {'mlip': str(mlip_model), 'dipole': str(dipole_path)},
    }
    if heating_result is not None:
        result['heating'] = heating_result
    if out is not None:
        import json

        out.write_text(json.dumps(result, indent=1))
    if as_json:
        echo_json(result)
    else:
        click.echo(bulk_table([row, reference['values']], ['model', reference['method']], checks))
        click.echo(result['summary'])
        if heating_result is not None:
            click.echo(heating_table(heating_result))
    if strict and result['failed']:
        fail(f'bulk validation failed: {result["summary"]}')


def _heat_pbtio3(calculator, dipole_model, temperatures, steps, size, timestep_fs, log) -> dict:
    """:func:`aiida_flexo.textures.heating.pbtio3_heating`, its failures as clear errors."""
    from aiida_flexo.mlip.md import MDExplosionError
    from aiida_flexo.textures.heating import pbtio3_heating

    try:
        summary = pbtio3_heating(
            calculator, dipole_model, temperatures, steps, size=size, timestep_fs=timestep_fs
        )
    except (ValueError, MDExplosionError) as exc:
        fail(f'the PbTiO3 heating run failed: {exc}')
    if log is not None:
        log(f'heating: {len(summary["points"])} temperatures in {summary["wall_s"]:.0f} s')
    return summary


def _model_node(value: str, option: str, kind: str):
    """A SinglefileData from a model file (stored now) or the pk/UUID of a stored model node."""
    from aiida import orm
    from aiida.common.exceptions import MultipleObjectsError, NotExistent

    path = Path(value)
    if path.is_file():
        return orm.SinglefileData(path.resolve())
    try:
        node = orm.load_node(value)
    except (NotExistent, MultipleObjectsError, ValueError):
        fail(
            f'{option} {value}: no such file, nor the pk or UUID of a stored model; give the {kind} file '
            f'(e.g. {"mlip/model.nequip.zip" if option == "--mlip" else "gnn/model.pt"}) or the pk of a trained model'
        )
    if not isinstance(node, orm.SinglefileData):
        fail(
            f'{option} {value} is a {type(node).__name__}, not a model file (SinglefileData); give the pk of the '
            f'"model" output of the training'
        )
    return node


@textures.command('submit')
@superlattice_options
@click.option(
    '--mlip',
    'mlip_model',
    required=True,
    help='Potential: a model file of flexo.mlip.train (model.nequip.zip, model.sevenn.pth, ...), or its pk.',
)
@click.option(
    '--dipole', 'dipole_model', required=True, help='Dipole GNN: model.pt, or the pk of a trained model.'
)
@click.option(
    '--schedule',
    default=None,
    help='Anneal TEMPERATURE_K:N_STEPS,... e.g. "1000:2000,1:2000" [default: protocol].',
)
@click.option(
    '--protocol', type=click.Choice(['fast', 'moderate', 'precise']), default='moderate', show_default=True
)
@click.option(
    '--average-last',
    type=int,
    default=None,
    help='Time-average the field over the last N trajectory frames (1: final structure) [default: protocol].',
)
@click.option(
    '--stride', type=int, default=None, help='MD steps between trajectory frames [default: protocol].'
)
@click.option('--timestep', type=float, default=None, help='MD time step, fs [default: protocol].')
@click.option(
    '--code', 'code_label', default='aiida-flexo@localhost', show_default=True, help='aiida-flexo code.'
)
@click.option('--max-wallclock', type=int, default=86400, show_default=True, help='Walltime of each job, s.')
@profile_option
@click.option(
    '--json', 'as_json', is_flag=True, help='Print JSON (pk, label, n_atoms, grid_shape, protocol).'
)
@click.option(
    '--threads',
    type=click.IntRange(min=1),
    default=None,
    help='torch threads (OMP_NUM_THREADS) and cores of each job: the MD of large superlattices wants them '
    '[default: 1].',
)
@click.option(
    '--device',
    default=None,
    help="torch device of the MD, e.g. 'cuda' on a GPU node (the job's scheduler options must reserve the GPU) "
    '[default: cpu].',
)
@click.option(
    '--epitaxial',
    is_flag=True,
    help="Anneal as a film on its substrate: the in-plane lattice clamped to the superlattice's (--substrate or "
    '--a-inplane), the out-of-plane length free at zero stress (MD thermostat epitaxial: Berendsen NPT along z).',
)
@click.option(
    '--require-anneal-holds/--report-anneal-only',
    default=None,
    help='Stop (exit 407) when the anneal does not hold (a stage > 10 % / 10 K from its target, an atom > 1 Å '
    'from its site), or only report it [default: protocol: stop, except fast].',
)
@click.option(
    '--bulk-validation/--no-bulk-validation',
    default=None,
    help='Check both models on bulk PbTiO3 and SrTiO3 against DFT before the anneal (PbTiO3/SrTiO3 only; '
    'flexo.textures.validate, as `textures validate`) [default: protocol: yes].',
)
@click.option(
    '--require-bulk-valid/--report-bulk-only',
    default=None,
    help='Stop (exit 409) when a bulk check fails, or only report it [default: protocol: stop, except fast].',
)
def submit(
    m_layers, n_layers, size, materials, a_inplane, substrate, c_values, seed, seed_in, stripe_width, bubble_radius,
    displacement_b, displacement_o, mlip_model, dipole_model, schedule, protocol, average_last, stride, timestep,
    code_label, max_wallclock, profile, as_json, threads=None, device=None, require_anneal_holds=None, epitaxial=False,
    bulk_validation=None, require_bulk_valid=None,
) -> None:  # fmt: skip
    """Submit flexo.textures to the daemon: build the superlattice, anneal it with the MLIP, predict the
    polarization field with the dipole GNN, analyse it (skyrmion numbers, domains, walls) and draw it.

    Prints the pk; follow it with `verdi process report PK`, and get the pictures with
    `verdi node repo dump <pk of plots.layers> DIR`.
    """
    from aiida_flexo.mlip.md import parse_schedule
    from aiida_flexo.workflows.protocols import recursive_merge

    parameters = superlattice_parameters(
        m_layers, n_layers, size, materials, a_inplane, substrate, c_values, seed, seed_in, stripe_width,
        bubble_radius, displacement_b, displacement_o,
    )  # fmt: skip
    overrides: dict = {}
    if schedule is not None:
        try:
            overrides['schedule'] = [[s.temperature_K, s.n_steps] for s in parse_schedule(schedule)]
        except ValueError as exc:
            fail(f'--schedule: {exc}')
    if average_last is not None:
        if average_last < 1:
            fail(f'--average-last must be at least 1 (1: the final structure), got {average_last}')
        overrides['average_last'] = average_last
    md_parameters = {
        'stride': stride,
        'timestep_fs': timestep,
        'device': device,
        'thermostat': 'epitaxial' if epitaxial else None,
    }
    if stride is not None and stride < 1:
        fail(f'--stride must be at least 1 MD step, got {stride}')
    if timestep is not None and not timestep > 0:
        fail(f'--timestep must be a positive time step in fs, got {timestep}')
    overrides['md_parameters'] = {key: value for key, value in md_parameters.items() if value is not None}
    for key, value in (
        ('require_anneal_holds', require_anneal_holds),
        ('bulk_validation', bulk_validation),
        ('require_bulk_valid', require_bulk_valid),
    ):
        if value is not None:
            overrides[key] = value
    try:
        from aiida_flexo.calcjobs.functions.textures import superlattice_from_parameters

        superlattice = superlattice_from_parameters(parameters)
    except (TypeError, ValueError) as exc:
        fail(f'the superlattice cannot be built: {exc}')

    load_cli_profile(profile)
    waiting = require_daemon('the texture workflow')
    from aiida import orm
    from aiida.common.exceptions import MultipleObjectsError, NotExistent
    from aiida.engine import submit as submit_process

    from aiida_flexo.calcjobs.base import serial_options
    from aiida_flexo.workflows.textures import TextureWorkChain, format_schedule, stack_name

    try:
        code = orm.load_code(code_label)
    except (NotExistent, MultipleObjectsError) as exc:
        fail(f'code {code_label} not found ({exc}); run `aiida-flexo setup` or pass --code LABEL')
    mlip = _model_node(mlip_model, '--mlip', 'potential')
    dipole = _model_node(dipole_model, '--dipole', 'dipole GNN')
    builder = TextureWorkChain.get_builder_from_protocol(
        code,
        mlip,
        dipole,
        superlattice=parameters,
        protocol=protocol,
        overrides=overrides,
        options=serial_options(max_wallclock, threads),
    )
    merged = recursive_merge(TextureWorkChain.get_protocol_inputs(protocol), overrides)
    stack = stack_name(superlattice.layer_materials)
    nx, ny, nl = superlattice.grid_shape
    builder.metadata.label = f'textures {stack} {nx}×{ny}, seed {seed} ({protocol})'
    builder.metadata.description = f'anneal {format_schedule(merged["schedule"])} steps'
    try:
        node = submit_process(builder)
    except ValueError as exc:
        fail(f'flexo.textures rejected the inputs: {exc}')
    if waiting:
        click.echo(f'Warning: {waiting}', err=True)
    data = {
        'pk': node.pk,
        'label': node.label,
        'n_atoms': len(superlattice.atoms),
        'grid_shape': [nx, ny, nl],
        'protocol': protocol,
        'schedule': merged['schedule'],
        'average_last': merged['average_last'],
        'require_anneal_holds': merged['require_anneal_holds'],
        'bulk_validation': merged['bulk_validation'],
        'require_bulk_valid': merged['require_bulk_valid'],
        'thermostat': merged['md_parameters'].get('thermostat'),
        'mlip_model_pk': mlip.pk,
        'dipole_model_pk': dipole.pk,
    }
    if as_json:
        echo_json(data)
        return
    click.echo(f'Submitted flexo.textures <{node.pk}>: {node.label}, {data["n_atoms"]} atoms')
    click.echo(f'  follow it: verdi process report {node.pk}   |   outputs: verdi process show {node.pk}')
    click.echo('  pictures:  verdi node repo dump <pk of plots.layers> DIR')
