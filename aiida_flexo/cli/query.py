"""``aiida-flexo query``: provenance of flexoelectric coefficients (list, trace, uses)."""

from __future__ import annotations

import click

from aiida_flexo.cli import echo_json, fail
from aiida_flexo.cli.frames import load_cli_profile, profile_option


def _fmt(value, spec: str = '.4f') -> str:
    return '-' if value is None else format(value, spec)


@click.group('query')
def query() -> None:
    """Ask the provenance graph: which frames, codes and models produced a μ, and what used them."""


def _gate_text(gate: dict) -> str:
    """The accuracy gate's verdict on the models behind a μ, for the table."""
    if gate.get('passed') is None:
        return 'gate: unknown (no held-out errors)'
    if gate['passed']:
        return 'gate: passed'
    return 'GATE FAILED: ' + '; '.join(gate['failures'])


@query.command('list')
@click.option('--formula', default=None, help='Only this material (empirical formula, e.g. BaO3Ti).')
@click.option('--component', default=None, help='Only this component (e.g. 3333).')
@profile_option
@click.option('--json', 'as_json', is_flag=True)
def list_command(formula: str | None, component: str | None, profile: str | None, as_json: bool) -> None:
    """Every μ: material, component, supercell, strain, value (nC/m) and the accuracy of the models behind it."""
    load_cli_profile(profile)
    from aiida_flexo.provenance import list_coefficients

    rows = list_coefficients(formula=formula, component=component)
    if as_json:
        echo_json([row.as_dict() for row in rows])
        return
    if not rows:
        click.echo('No flexo.coefficient in this profile yet.')
        return
    header = f'{"pk":>6}  {"formula":<10} {"μ":<6} {"fit (nC/m)":>18} {"2-point":>9} {"repeat":<10} {"strain":>7}  models'
    click.echo(header)
    for row in rows:
        dipole = row.models.get('dipole', {})
        mlip = row.models.get('mlip', {})
        models = (
            f'GNN MAE {_fmt(dipole.get("dipole_mae_eA"), ".3f")} eÅ; '
            f'MLIP F-MAE {_fmt(mlip.get("force_mae_meV_A"), ".1f")} meV/Å'
            if row.models
            else '-'
        )
        models += '; ' + _gate_text(row.gate)
        fit = f'{_fmt(row.mu_fit)} ± {_fmt(row.mu_fit_stderr)}'
        click.echo(
            f'{row.pk:>6}  {row.formula:<10} {row.component:<6} {fit:>18} {_fmt(row.mu_two_point):>9} '
            f'{"x".join(map(str, row.repeat)):<10} {_fmt(row.max_strain, ".4f"):>7}  {models}'
        )


@query.command('trace')
@click.argument('pk')
@profile_option
@click.option('--json', 'as_json', is_flag=True)
def trace_command(pk: str, profile: str | None, as_json: bool) -> None:
    """Trace one μ (pk of a flexo.coefficient) back to its DFT frames, codes, parameters and models."""
    load_cli_profile(profile)
    from aiida_flexo.provenance import trace_coefficient

    try:
        trace = trace_coefficient(pk)
    except (ValueError, Exception) as exc:  # noqa: BLE001 - NotExistent and friends
        fail(str(exc))
    if as_json:
        echo_json(trace)
        return
    mu = trace['coefficient']
    click.echo(
        f'μ{mu["component"]} of {mu.get("formula", "?")} (pk {mu["pk"]}): {_fmt(mu.get("mu_fit_nC_per_m"))} ± '
        f'{_fmt(mu.get("mu_fit_stderr_nC_per_m"))} nC/m (fit), {_fmt(mu.get("mu_two_point_nC_per_m"))} nC/m (two-point)'
    )
    for frames in trace['frames']:
        click.echo(
            f'  frames      pk {frames["pk"]:<6} {frames["n_frames"]} frames ({", ".join(frames["labels"])}) '
            f'{frames["label"] or ""}'
        )
    for calc in trace['dft_calculations']:
        click.echo(
            f'  DFT         pk {calc["pk"]:<6} {calc["process"]} [{calc["exit_status"]}] {calc["label"]}'
        )
    for kind, model in trace['models'].items():
        details = ', '.join(f'{k} {v:.4g}' for k, v in model.items() if isinstance(v, float))
        click.echo(f'  model       {kind:<6} trained by pk {model["training_calc"]}: {details}')
    for code in trace['codes']:
        click.echo(f'  code        pk {code["pk"]:<6} {code["label"]}')
    for step in trace['steps']:
        click.echo(
            f'  step        pk {step["pk"]:<6} {step["process"]} [{step["exit_status"]}] {step["label"] or ""}'
        )
    for parameters in trace['parameters']:
        click.echo(f'  parameters  pk {parameters["pk"]:<6} {parameters["content"]}')


@query.command('uses')
@click.argument('pk')
@profile_option
@click.option('--json', 'as_json', is_flag=True)
def uses_command(pk: str, profile: str | None, as_json: bool) -> None:
    """Every μ that used a node: a DFT frame set, a model, a DFT calculation or a code."""
    load_cli_profile(profile)
    from aiida_flexo.provenance import results_using

    try:
        rows = results_using(pk)
    except Exception as exc:  # noqa: BLE001
        fail(str(exc))
    if as_json:
        echo_json([row.as_dict() for row in rows])
        return
    if not rows:
        click.echo(f'No μ uses node {pk}.')
    for row in rows:
        click.echo(
            f'{row.pk:>6}  {row.formula:<10} μ{row.component}  {_fmt(row.mu_fit)} ± {_fmt(row.mu_fit_stderr)} nC/m'
        )
