"""``aiida-flexo quickstart``: the main job on the embedded profile, end to end, with a report folder.

Sets up the embedded profile (SQLite + ZeroMQ) if needed, starts its daemon and runs, through it:

1. ``flexo.pipeline`` on the bundled BaTiO3 frames (Quantum ESPRESSO Berry-phase dipoles and Born charges): trains
   the dipole GNN and fine-tunes the pretrained SevenNet-0 potential (the pipeline's route for small frame sets),
   checks both on held-out frames, relaxes a strain-gradient supercell and extracts μ3333 (GNN route and Born-charge
   route);
2. when GPAW is installed, a small real DFT labelling step (``flexo.label``): the Berry-phase dipole of a 5-atom
   BaTiO3 cell with a displaced Ti, next to the GNN's prediction for it;
3. ``flexo.polarization`` on the bundled VASP Berry-phase path of BaTiO3 (spontaneous polarization).

The report folder gets ``summary.md``, the parity plot of the GNN, the polarization profile, ``result.json`` and the
pks to query. The settings are sized to finish in well under 20 minutes on 2 cores: the models are small and
briefly trained, so μ is a demonstration, not a converged number (use ``examples/submit_flexo.py`` with the
moderate protocol for that).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import click

from aiida_flexo.cli import fail

#: training budgets of the quickstart (a demonstration that fits in minutes on 2 cores)
QUICKSTART = {
    'gnn': {'epochs': 200, 'seed': 0, 'threads': 1},
    # the auto route fine-tunes sevennet-0 (59 frames): loading, graphs, the reference-energy fit and the zero-shot
    # validation take ~2 min on 2 quiet cores, an epoch ~4.5 min (measured: 7 min left no time for an epoch once
    # the machine was shared); the first epoch brings the validation force MAE from ~74 to ~30 meV/Å
    'mlip': {'epochs': 2, 'seed': 0, 'max_time': '10m'},
    'flexo': {
        'supercell': {'repeat': 14, 'max_strain': 0.005, 'fix': 'Ba'},
        'relax_parameters': {'fmax': 0.05, 'max_steps': 200},
    },
    # μ at N = 6 and 10 beside N = 14: the report's μ∞ and how far N = 14 is from it
    'convergence_repeats': [6, 10],
}


def ensure_daemon(profile_name: str) -> None:
    """Start the profile's daemon unless it runs (the ZeroMQ broker starts with it)."""
    from aiida.engine.daemon.client import get_daemon_client

    client = get_daemon_client(profile_name)
    if not client.is_daemon_running:
        click.echo(f'Starting the daemon of profile "{profile_name}" ...')
        client.start_daemon()


def follow(nodes: dict, timeout: float) -> None:
    """Wait for every process in ``nodes`` ({name: node}), printing each step as it starts and ends."""
    start, seen = time.monotonic(), {}
    while True:
        for name, node in nodes.items():
            for child in [node, *getattr(node, 'called_descendants', [])]:
                state = child.process_state.value if child.process_state else 'created'
                if child.is_finished:
                    state = f'finished [{child.exit_status}]'
                if seen.get(child.pk) != state:
                    seen[child.pk] = state
                    elapsed = time.monotonic() - start
                    click.echo(f'  {elapsed:6.0f} s  {name}: {child.process_label}<{child.pk}> {state}')
        if all(node.is_terminated for node in nodes.values()):
            return
        if time.monotonic() - start > timeout:
            pks = ', '.join(str(n.pk) for n in nodes.values())
            fail(f'not finished within {timeout:.0f} s; follow with `verdi process list -a` (pks {pks})')
        time.sleep(2.0)


def _gpaw_available() -> bool:
    try:
        import gpaw  # noqa: F401
    except ImportError:
        return False
    from aiida_flexo.engines.gpaw_driver import missing_setups

    return not missing_setups(['Ba', 'Ti', 'O'], 'PBE')


def _displaced_batio3():
    from aiida_flexo.flexo.structures import builtin

    atoms = builtin('BaTiO3')
    ti = atoms.get_chemical_symbols().index('Ti')
    atoms.positions[ti, 2] += 0.1
    return atoms


def protocol_epilog() -> str:
    """The protocol table of flexo.pipeline for ``quickstart --help`` (from its protocol file, as the docs' table)."""
    from aiida_flexo.workflows.protocols import protocol_table

    lines = ['Protocols of flexo.pipeline (this command runs fast; examples/submit_flexo.py takes any):']
    for row in protocol_table('pipeline'):
        lines.append(f'{row["name"].upper()}: {row["description"]}')
        lines.append(f'Cost: {row["cost"]}')
        lines.append(f'Accuracy: {row["accuracy"]}')
    return '\n\n'.join(lines)


@click.command('quickstart', epilog=protocol_epilog())
@click.option(
    '--profile', 'profile_name', default='flexo', show_default=True, help='Embedded profile to use/create.'
)
@click.option('--out', 'out_dir', default='flexo_report', show_default=True, type=click.Path(path_type=Path))
@click.option('--timeout', default=1800.0, show_default=True, help='Seconds to wait for the processes.')
@click.option('--no-dft', is_flag=True, help='Skip the GPAW labelling step even when GPAW is installed.')
def quickstart(profile_name: str, out_dir: Path, timeout: float, no_dft: bool) -> None:
    """Run the main job on the embedded profile: train both models, μ3333 of BaTiO3, a report folder."""
    from aiida_flexo.profiles import SetupError, setup_profile

    started = time.monotonic()
    try:
        report = setup_profile(profile_name, storage='sqlite', broker='zeromq')
    except SetupError as exc:
        fail(str(exc))
    from aiida import orm
    from aiida.engine import submit

    from aiida_flexo.calcjobs.base import serial_options
    from aiida_flexo.data import read_frames
    from aiida_flexo.flexo.structures import builtin
    from aiida_flexo.nodes.frames import FramesData
    from aiida_flexo.resources import BTO_PATH_STEPS, bundled_path
    from aiida_flexo.workflows.pipeline import FlexoPipelineWorkChain

    ensure_daemon(report.profile)
    code = orm.load_code('aiida-flexo@localhost')
    frames = FramesData.from_frames(
        read_frames(bundled_path('BaTiO3_qe_berry_bec.xyz'), require=('dipole', 'born_charges', 'forces')),
        source='BaTiO3_qe_berry_bec.xyz (allegro-pol, Quantum ESPRESSO PBE)',
    )
    frames.label = 'bundled BaTiO3 frames'
    frames.store()
    options = serial_options(3600)
    dft = not no_dft and _gpaw_available()
    # the potential (fine-tuning, then the supercell relaxation) takes both cores; the GNN trains on one beside it;
    # with GPAW, the pipeline ends with its DFT check (flexo.verify: one 5-atom cut-out of the relaxed supercell)
    builder = FlexoPipelineWorkChain.get_builder_from_protocol(
        code,
        orm.StructureData(ase=builtin('BaTiO3-qe')),
        protocol='fast',
        frames=frames,
        overrides={**QUICKSTART, 'verify': {'enabled': dft}},
        options={
            'gnn': options,
            'mlip': serial_options(3600, threads=2),
            'flexo': serial_options(3600, threads=2),
            'label': options,
        },
    )
    builder.metadata.label = 'quickstart: BaTiO3 mu3333'
    nodes = {'pipeline': submit(builder)}
    click.echo(
        f'Submitted flexo.pipeline <{nodes["pipeline"].pk}> on {frames.n_frames} frames (pk {frames.pk})'
    )

    from aiida.plugins import CalculationFactory

    polarization = CalculationFactory('flexo.polarization').get_builder()
    polarization.code = code
    polarization.outcars = orm.FolderData(tree=bundled_path('vasp/BTO_221_99_polarization'))
    polarization.steps = orm.List(list(BTO_PATH_STEPS))
    polarization.metadata.label = 'quickstart: BaTiO3 polarization path (VASP)'
    nodes['polarization'] = submit(polarization)

    if dft:
        from aiida_flexo.workflows.label import LabelWorkChain

        dft_frames = FramesData.from_frames(
            [_displaced_batio3()], source='cubic BaTiO3, Ti displaced +0.1 Å along z'
        )
        dft_frames.store()
        label = LabelWorkChain.get_builder_from_protocol(
            code, dft_frames, engine='gpaw', protocol='fast', options=options
        )
        label.metadata.label = 'quickstart: GPAW Berry phase of BaTiO3'
        nodes['dft'] = submit(label)
        click.echo(f'Submitted flexo.label <{nodes["dft"].pk}> (GPAW, 5-atom BaTiO3)')
    elif not no_dft:
        click.echo(
            'GPAW is not installed: skipping the DFT labelling step (bash scripts/install_gpaw.sh adds it)'
        )

    follow(nodes, timeout)
    write_report(nodes, out_dir, report.profile, time.monotonic() - started)
    click.echo(daemon_note(report.profile))


def daemon_note(profile: str) -> str:
    """What the quickstart leaves running, and how to stop it."""
    return (
        f'The daemon of profile "{profile}" is still running (it runs whatever you submit next to this profile): '
        f'`verdi -p {profile} daemon stop` stops it, `verdi -p {profile} daemon start` starts it again.'
    )


def _route(metrics: dict) -> str:
    """How the potential was made, from its training metrics."""
    if metrics.get('route') == 'finetune':
        before = metrics.get('before_finetuning_val', {}).get('val_force_mae_meV_A')
        start = f', {before:.0f} meV/Å before fine-tuning' if before is not None else ''
        return f'{metrics["from_potential"]} fine-tuned for {metrics.get("epochs")} epoch(s){start}'
    return f'Allegro from scratch, {metrics.get("epochs")} epochs'


def convergence_lines(pipeline, key: str) -> list[str]:
    """Report lines of μ∞ (the pipeline's ``convergence`` output for ``key``), or why there is none."""
    if key not in pipeline.outputs.get('convergence', {}):
        return ['- μ∞: not computed (no second supercell length finished; see `verdi process report`)']
    limit = pipeline.outputs.convergence[key].get_dict()
    table = ', '.join(f'N = {n}: {m:.4f}' for n, m in zip(limit['repeats'], limit['mu_nC_per_m']))
    parts = limit['error_parts_nC_per_m']
    return [
        f'- μ(N), fit (nC/m): {table}',
        f'- large-N limit: **μ∞ = {limit["mu_inf_nC_per_m"]:.4f} ± {limit["error_nC_per_m"]:.4f} nC/m** '
        f'({limit["form"]}; error: fit {parts["fit_stderr"]:.4f}, extrapolation {parts["extrapolation"]:.4f}; '
        f'no committee spread); '
        + (
            'μ∞ is zero within its error'
            if limit['distance_from_limit'] is None
            else f'the longest supercell is {100 * limit["distance_from_limit"]:.0f} % from it'
            + (' — far from converged: use longer supercells' if limit['distance_from_limit'] > 0.1 else '')
        ),
    ]


def write_report(nodes: dict, out_dir: Path, profile: str, wall_s: float) -> None:
    """summary.md, result.json and the plots of a finished quickstart."""
    from aiida_flexo.provenance import held_out_metrics

    out_dir.mkdir(parents=True, exist_ok=True)
    pipeline = nodes['pipeline']
    lines = ['# aiida-flexo quickstart report', '', f'- profile: `{profile}`; wall time {wall_s:.0f} s', '']
    if not pipeline.is_finished_ok:
        lines.append(
            f'**flexo.pipeline <{pipeline.pk}> failed**: [{pipeline.exit_status}] {pipeline.exit_message}'
        )
        (out_dir / 'summary.md').write_text('\n'.join(lines) + '\n')
        fail(f'flexo.pipeline <{pipeline.pk}> failed: [{pipeline.exit_status}] {pipeline.exit_message}')
    coefficient = pipeline.outputs.coefficients['mu3333']
    result = pipeline.outputs.results['mu3333'].get_dict()
    gnn = held_out_metrics(pipeline.outputs.gnn_metrics.get_dict())
    mlip = held_out_metrics(pipeline.outputs.mlip_metrics.get_dict())
    mu = result['mu_nC_per_m']
    lines += [
        '## μ3333 of BaTiO3 (P_i = μ_ijkl ∂ε_jk/∂x_l)',
        '',
        f'- GNN route: **{mu["fit"]:.4f} ± {mu["fit_stderr"]:.4f} nC/m** (least-squares fit over all cells), '
        f'{mu["two_point"]:.4f} nC/m (two-point difference at L/4 and 3L/4)',
    ]
    if 'bec' in result:
        bec = result['bec']['mu_nC_per_m']
        lines.append(
            f'- Born-charge route (GNN Z* of the reference): {bec["fit"]:.4f} nC/m (fit), {bec["two_point"]:.4f} nC/m (two-point)'
        )
    if 'decomposition' in result:
        dec = result['decomposition']
        lines.append(
            f'- clamped (imposed field) {dec["clamped_nC_per_m"]["fit"]:.4f} nC/m + lattice-mediated '
            f'{dec["lattice_mediated_nC_per_m"]["fit"]:.4f} nC/m'
        )
    lines += convergence_lines(pipeline, 'mu3333')
    lines += [
        f'- supercell: repeat {result["supercell"]["repeat"]}, maximum strain {result["supercell"]["max_strain"]}, '
        f'{", ".join(result["supercell"]["fixed_species"])} fixed; fit residual {result["residual"]["rms_C_m2"]:.3g} C/m²',
        '- seed reference (Ma et al. PRB 111, 184105): −0.758 nC/m (GNN, 1×1×14, converged models); about −0.36 nC/m '
        'from bulk Born charges. The quickstart trains small models for minutes: its μ is a demonstration.',
        '',
        '## Models (held-out frames)',
        '',
        f'- dipole GNN: dipole MAE {gnn.get("dipole_mae_eA", float("nan")):.4f} e·Å, Born-charge MAE '
        f'{gnn.get("bec_mae_e", float("nan")):.4f} e (model pk {pipeline.outputs.dipole_model.pk})',
        f'- potential ({_route(pipeline.outputs.mlip_metrics.get_dict())}): force MAE '
        f'{mlip.get("force_mae_meV_A", float("nan")):.1f} meV/Å, energy MAE '
        f'{mlip.get("energy_mae_meV_atom", float("nan")):.2f} meV/atom (model pk {pipeline.outputs.mlip_model.pk})',
    ]
    relaxation = result.get('relaxation', {})
    if relaxation.get('relaxed'):
        lines.append(
            f'- supercell relaxation: max |F| {relaxation.get("max_force_eV_A", float("nan")):.3g} eV/Å (fmax '
            f'{relaxation.get("fmax_eV_A")}) in {relaxation.get("n_steps")} steps; the fast protocol relaxes '
            'loosely: converge μ in the relaxation tolerance before trusting it (`aiida-flexo flexo coefficient '
            '--check-fmax`)'
        )
    if 'verification' in pipeline.outputs:
        from aiida_flexo.active.verify import summary_lines

        lines += [
            '',
            '## DFT check of the relaxed supercell (flexo.verify)',
            '',
            'GPAW labels of a cell cut from the relaxed supercell; the models were trained on Quantum ESPRESSO frames, '
            "so energies are not compared and part of the difference is the codes'.",
            '',
            *[f'- {line}' for line in summary_lines(pipeline.outputs.verification.get_dict())],
        ]
    polarization = nodes.get('polarization')
    if polarization is not None and polarization.is_finished_ok:
        ps = polarization.outputs.polarization['spontaneous_uC_cm2']
        lines += [
            '',
            '## Spontaneous polarization of BaTiO3 (bundled VASP Berry-phase path)',
            '',
            f'- same-branch ΔP = ({ps[0]:.3f}, {ps[1]:.3f}, {ps[2]:.3f}) µC/cm² (flexo.polarization pk {polarization.pk})',
        ]
    dft = nodes.get('dft')
    if dft is not None:
        lines += ['', '## DFT labelling step (GPAW, fast protocol)', '']
        if dft.is_finished_ok:
            (frame,) = dft.outputs.labelled.get_frames()
            from aiida_flexo.gnn import load_model

            with pipeline.outputs.dipole_model.as_path() as path:
                predicted = load_model(path).dipole(frame)
            d = frame.info['dipole']
            lines.append(
                f'- 5-atom BaTiO3, Ti +0.1 Å along z: GPAW Berry-phase dipole ({d[0]:.4f}, {d[1]:.4f}, {d[2]:.4f}) e·Å '
                f'(quantum {frame.info["charge_quantum"]:g} e·R); GNN ({predicted[0]:.4f}, {predicted[1]:.4f}, '
                f'{predicted[2]:.4f}) e·Å; energy {frame.info["energy"]:.4f} eV (flexo.label pk {dft.pk})'
            )
        else:
            lines.append(f'- flexo.label <{dft.pk}> failed: [{dft.exit_status}] {dft.exit_message}')
    lines += [
        '',
        '## Provenance',
        '',
        f'- `verdi -p {profile} process report {pipeline.pk}`: what each step did',
        f"- `aiida-flexo query list -p {profile}`: every μ with its models' accuracy",
        f'- `aiida-flexo query trace {coefficient.pk} -p {profile}`: this μ back to its frames, codes and models',
        f'- `aiida-flexo query uses {pipeline.outputs.frames.pk} -p {profile}`: every μ that used these frames',
        '',
        'Files: `result.json`, `profile.png` (displacement and per-cell polarization with the fit), '
        '`gnn_parity.png` (GNN vs DFT dipoles and Z* on held-out frames).',
    ]
    (out_dir / 'summary.md').write_text('\n'.join(lines) + '\n')
    (out_dir / 'result.json').write_text(json.dumps(result, indent=1))
    flexo = next(n for n in pipeline.called if n.process_label == 'FlexoCoefficientWorkChain')
    (out_dir / 'profile.png').write_bytes(flexo.outputs.plot.get_content(mode='rb'))
    train_gnn = next(n for n in pipeline.called if n.process_label == 'GnnTrainWorkChain')
    if 'parity' in train_gnn.outputs:
        (out_dir / 'gnn_parity.png').write_bytes(train_gnn.outputs.parity.get_content(mode='rb'))
    click.echo('\n'.join(lines))
    click.echo(f'\nReport written to {out_dir}/ (summary.md, result.json, profile.png, gnn_parity.png)')
