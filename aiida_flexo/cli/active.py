"""``aiida-flexo active``: pick uncertain frames (select), run the active-learning loop (submit), read it (report)."""

from __future__ import annotations

from pathlib import Path

import click

from aiida_flexo.cli import echo_json, fail
from aiida_flexo.cli.frames import load_cli_profile, profile_option, require_daemon


@click.group('active')
def active() -> None:
    """Active learning: grow the DFT set where the model committees disagree (flexo.active)."""


def _select_options(command):
    """The options of every selection setting (:func:`aiida_flexo.active.score.select_settings_table`)."""
    from aiida_flexo.active.score import select_settings_table
    from aiida_flexo.cli.settings import setting_options

    return setting_options(select_settings_table().values())(command)


@active.command('select')
@click.argument('explored', type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    '--gnn',
    'gnn_models',
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help='A dipole GNN of the committee (repeat; two or more for a dipole deviation).',
)
@_select_options
@click.option(
    '--out', required=True, type=click.Path(dir_okay=False, path_type=Path), help='Selected frames.'
)
@click.option('--overwrite', is_flag=True, help='Replace --out if it exists.')
@click.option('--json', 'as_json', is_flag=True, help='Print the scores JSON.')
def select_command(
    explored: Path,
    gnn_models: tuple[Path, ...],
    out: Path,
    overwrite: bool,
    as_json: bool,
    **options,
) -> None:
    """Score EXPLORED frames (explored by a potential committee: `mlip sample COMMITTEE`) and write the most
    uncertain, mutually diverse ones to --out (unlabelled, for DFT)."""
    if out.exists() and not overwrite:
        fail(f'{out} exists; choose another file name or pass --overwrite')
    from aiida_flexo.active.score import SelectSettings, dipole_deviation, score_frames, select_settings_table
    from aiida_flexo.cli.settings import given_settings

    try:
        settings = SelectSettings(**given_settings(options, select_settings_table()))
    except ValueError as exc:
        fail(str(exc))
    if len(gnn_models) == 1:
        fail('one --gnn gives no deviation: give two or more GNNs of a committee, or none')
    from aiida_flexo.data import FramesError, read_frames, without_labels, write_frames

    try:
        frames = read_frames(explored)
    except FramesError as exc:
        fail(str(exc))
    dipole_std = None
    if gnn_models:
        from aiida_flexo.gnn import ModelFileError, load_model

        try:
            predictors = [load_model(path) for path in gnn_models]
        except ModelFileError as exc:
            fail(str(exc))
        dipole_std = dipole_deviation(predictors, frames)
    try:
        scores = score_frames(frames, settings, dipole_std)
    except ValueError as exc:
        fail(str(exc))
    chosen = []
    for index in scores['selected']:
        atoms = without_labels(frames[index])
        atoms.info['explored_index'] = index
        atoms.info['force_std_max_meV_A'] = scores['force_std_max_meV_A'][index]
        if dipole_std is not None:
            atoms.info['dipole_std_eA'] = scores['dipole_std_eA'][index]
        chosen.append(atoms)
    if chosen:
        write_frames(out, chosen)
    else:
        out.write_text('')
    if as_json:
        echo_json(scores)
        return
    click.echo(
        f'{scores["n_frames"]} explored frames: force deviation max {scores["force_std_max"]:.1f} / mean '
        f'{scores["force_std_mean"]:.1f} meV/Å'
        + (
            f', dipole deviation max {scores["dipole_std_max"]:.4f} / mean {scores["dipole_std_mean"]:.4f} e·Å'
            if dipole_std is not None
            else ''
        )
    )
    click.echo(
        f'{scores["n_candidates"]} above the floors, {scores["n_above_ceiling"]} above the ceiling; '
        f'{len(chosen)} selected -> {out}'
    )


def _positive(what: str):
    def check(ctx, param, value):
        if value is not None and value <= 0:
            raise click.BadParameter(f'{value}: {what} must be positive')
        return value

    return check


@active.command('submit')
@click.option(
    '--frames',
    'frames_file',
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help='Generation 0: labelled frames (extxyz with energy, forces, dipole).',
)
@click.option(
    '--structures',
    'structures_file',
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help='Target structures to explore (DFT-sized periodic cells; any ase-readable file).',
)
@click.option('--engine', type=click.Choice(['gpaw', 'vasp']), default='gpaw', show_default=True)
@click.option(
    '--protocol', type=click.Choice(['fast', 'moderate', 'precise']), default='moderate', show_default=True
)
@click.option(
    '--generations', type=int, default=None, callback=_positive('--generations'), help='Most generations.'
)
@_select_options
@click.option('--dft-budget-frames', type=int, default=None, callback=_positive('the DFT budget'))
@click.option(
    '--dft-budget-hours', type=float, default=None, callback=_positive('the DFT budget'), help='Core-h.'
)
@click.option('--code', 'code_label', default='aiida-flexo@localhost', show_default=True)
@click.option('--dft-code', default=None, help='DFT code [default: --code for gpaw; required for vasp].')
@click.option('--potential-family', default='PBE.54', show_default=True, help='POTCAR family (vasp).')
@profile_option
@click.option('--json', 'as_json', is_flag=True, help='Print JSON (pk, frames_pk, n_frames).')
def submit_command(
    frames_file: Path,
    structures_file: Path,
    engine: str,
    protocol: str,
    generations: int | None,
    dft_budget_frames: int | None,
    dft_budget_hours: float | None,
    code_label: str,
    dft_code: str | None,
    potential_family: str,
    profile: str | None,
    as_json: bool,
    **options,
) -> None:
    """Submit flexo.active: committees trained on FRAMES explore STRUCTURES; the frames they disagree on are
    labelled with DFT, generation after generation. Prints the pk; `aiida-flexo active report PK` reads it."""
    from aiida_flexo.active.score import SelectSettings, select_settings_table
    from aiida_flexo.cli.settings import given_settings

    if engine == 'vasp' and dft_code is None:
        fail('--engine vasp needs --dft-code LABEL (the VASP code, e.g. vasp-6.4@my-cluster)')
    try:
        SelectSettings(**given_settings(dict(options), select_settings_table()))
    except ValueError as exc:
        fail(str(exc))
    load_cli_profile(profile)
    from aiida import orm
    from aiida.common.exceptions import MultipleObjectsError, NotExistent
    from aiida.engine import submit
    from ase.io import read

    from aiida_flexo.data import FramesError, read_frames
    from aiida_flexo.nodes.frames import FramesData
    from aiida_flexo.workflows.active import FlexoActiveWorkChain

    try:
        frames = FramesData.from_frames(
            read_frames(frames_file, require=('energy', 'forces', 'dipole')), source=frames_file.name
        )
    except FramesError as exc:
        fail(str(exc))
    try:
        structures = read(structures_file, index=':')
    except Exception as exc:  # noqa: BLE001 - ase raises many types
        fail(f'{structures_file}: could not be read by ase ({type(exc).__name__}: {exc})')
    if not structures:
        fail(f'{structures_file}: holds no structure')
    species = set(frames.get_frames()[0].get_chemical_symbols())
    for atoms in frames.get_frames()[1:]:
        species |= set(atoms.get_chemical_symbols())
    unknown = sorted({s for a in structures for s in a.get_chemical_symbols()} - species)
    if unknown:
        fail(
            f'the structures hold {unknown}, which no frame of {frames_file.name} has: the models cannot explore them'
        )
    try:
        code = orm.load_code(code_label)
        dft = orm.load_code(dft_code) if dft_code else None
    except (NotExistent, MultipleObjectsError) as exc:
        fail(f'code not found ({exc}); run `aiida-flexo setup` or pass --code / --dft-code')
    overrides: dict = {}
    if generations is not None:
        overrides['max_generations'] = generations
    select = given_settings(options, select_settings_table())
    if select:
        overrides['select'] = select
    budget = {
        k: v for k, v in (('frames', dft_budget_frames), ('cpu_hours', dft_budget_hours)) if v is not None
    }
    if budget:
        overrides['dft_budget'] = budget
    waiting = require_daemon('the active-learning loop')
    frames.label = frames_file.name
    frames.store()
    named = {f's{i}_{a.get_chemical_formula()}': orm.StructureData(ase=a) for i, a in enumerate(structures)}
    try:
        builder = FlexoActiveWorkChain.get_builder_from_protocol(
            code, frames, named, protocol=protocol, overrides=overrides, engine=engine, dft_code=dft,
            potential_family=potential_family,
        )  # fmt: skip
    except ValueError as exc:
        fail(str(exc))
    builder.metadata.label = f'active learning on {frames_file.name} ({engine}, {protocol})'
    node = submit(builder)
    if waiting:
        click.echo(f'Warning: {waiting}', err=True)
    data = {'pk': node.pk, 'frames_pk': frames.pk, 'n_frames': frames.n_frames, 'n_structures': len(named)}
    if as_json:
        echo_json(data)
        return
    click.echo(
        f'Submitted flexo.active <{node.pk}> from {frames.n_frames} frames, exploring {len(named)} structures'
    )
    click.echo(
        f'  follow it: verdi process status {node.pk}   |   read it: aiida-flexo active report {node.pk}'
    )


def generation_rows(node) -> list[dict]:
    """Per generation of a flexo.active node (finished or running): what its summary and report record."""
    from aiida.common.links import LinkType

    rows = []
    for link in node.base.links.get_outgoing(link_type=LinkType.CALL_WORK).all():
        child = link.node
        if child.process_label != 'ActiveGenerationWorkChain' or 'summary' not in child.outputs:
            continue
        rows.append({**child.outputs.summary.get_dict(), 'pk': child.pk})
    return sorted(rows, key=lambda row: row['generation'])


@active.command('report')
@click.argument('pk', type=int)
@profile_option
@click.option('--json', 'as_json', is_flag=True, help='Print JSON (generations, stop reason, totals).')
def report_command(pk: int, profile: str | None, as_json: bool) -> None:
    """Per generation of flexo.active PK: frames added, committee deviations on the explored set, DFT time, and the
    errors of that generation's models on the new frames before retraining (the honest learning curve)."""
    load_cli_profile(profile)
    from aiida import orm
    from aiida.common.exceptions import NotExistent

    try:
        node = orm.load_node(pk)
    except NotExistent:
        fail(f'no node with pk {pk}')
    if (
        node.process_type is None
        or 'flexo.active' not in (node.process_type or '')
        or 'generation' in node.process_type
    ):
        fail(
            f'node {pk} is not a flexo.active workflow (it is {node.__class__.__name__} {node.process_type or ""})'
        )
    rows = generation_rows(node)
    final = node.outputs.report.get_dict() if 'report' in node.outputs else {}
    data = {
        'pk': pk,
        'state': node.process_state.value if node.process_state else None,
        'exit_status': node.exit_status,
        'generations': rows,
        **{k: v for k, v in final.items() if k != 'generations'},
    }
    if as_json:
        echo_json(data)
        return
    click.echo(f'flexo.active <{pk}>: {data["state"]} [{data["exit_status"]}]')
    header = f'{"g":>2} {"explored":>8} {"cand.":>5} {"added":>5} {"σF max":>8} {"σF mean":>8} {"σd max":>7} ' \
             f'{"DFT min":>7} {"F MAE new":>9} {"d MAE new":>9}'  # fmt: skip
    click.echo(header)

    def number(value, fmt):
        return format(value, fmt) if value is not None else '-'

    for r in rows:
        click.echo(
            f'{r["generation"]:>2} {r["n_explored"]:>8} {r["n_candidates"]:>5} {r["n_added"]:>5} '
            f'{number(r["force_std_max_meV_A"], "8.1f")} {number(r["force_std_mean_meV_A"], "8.1f")} '
            f'{number(r.get("dipole_std_max_eA"), "7.4f")} '
            f'{number(r.get("dft_core_seconds", 0) / 60, "7.1f")} '
            f'{number(r.get("new_frames_force_mae_meV_A"), "9.1f")} {number(r.get("new_frames_dipole_mae_eA"), "9.4f")}'
        )
    click.echo('(σF: committee force deviation, meV/Å; σd: GNN committee dipole deviation, e·Å; MAE on the new frames '
               'with the models of that generation, before retraining)')  # fmt: skip
    if final:
        click.echo(
            f'{final.get("stop_reason")}; {final.get("dft_frames")} DFT frames, {final.get("dft_core_hours", 0):.3g} '
            f'core-hours; {final.get("n_frames_start")} -> {final.get("n_frames_final")} frames'
        )
