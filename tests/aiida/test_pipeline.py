"""The pipeline end to end through the daemon on tiny settings, a daemon restart in the middle, provenance queries.

One run per session: frames → flexo.pipeline (flexo.gnn.train + flexo.mlip.train → validation →
flexo.coefficient: flexo.mlip.relax.base → flexo.gnn.predict → calcfunctions) → μ; then the provenance helpers must
find μ ← relax ← MLIP model ← frames, and the GNN behind it.

The frames are a linear Born-charge world (:func:`aiida_flexo.flexo.synthetic.linear_response_frames`: dipoles
Σ Z*·u with the perovskite Z* of BaTiO3, harmonic energies and forces), so μ has a known answer whatever the tiny
potential did in the relaxation: the Born-charge route must give the closed form of ``analytic_mu`` on the imposed
field and ``extract(Z*·u)`` on the relaxed supercell, and the GNN the total dipole Σ Z*·u of that supercell.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from tests_helpers import describe_process as describe
from tests_helpers import record_timings

from aiida_flexo.cli import main

# backend: its daemon restart, caching and provenance queries depend on the storage and the broker; heavy: when both
# sessions run side by side it runs in the production one, and the silicon pipeline in the embedded one
pytestmark = [pytest.mark.aiida, pytest.mark.backend, pytest.mark.daemon, pytest.mark.slow, pytest.mark.heavy]

N_FRAMES = 8


def born_charges(bulk):
    """The synthetic world's Z* (e): anisotropic perovskite charges of BaTiO3, acoustic sum rule exact."""
    from aiida_flexo.flexo.synthetic import perovskite_born_charges

    z = perovskite_born_charges(bulk)
    return z - z.sum(axis=0) / len(z)


@pytest.fixture(scope='module')
def chain(aiida_profile, daemon_client):
    """Run FlexoPipelineWorkChain once on tiny settings, restarting the daemon in the middle of it."""
    import time

    from aiida import orm
    from aiida.engine import submit

    from aiida_flexo.flexo.structures import builtin
    from aiida_flexo.flexo.synthetic import linear_response_frames
    from aiida_flexo.nodes.frames import FramesData
    from aiida_flexo.profiles import SetupReport, ensure_codes, ensure_computer
    from aiida_flexo.workflows.pipeline import FlexoPipelineWorkChain

    if not daemon_client.is_daemon_running:
        daemon_client.start_daemon()
    report = SetupReport(profile=aiida_profile.name)
    code = ensure_codes(report, ensure_computer(report))['aiida-flexo']
    bulk = builtin('BaTiO3')
    frames = FramesData.from_frames(
        linear_response_frames(bulk, born_charges(bulk), N_FRAMES, seed=4), source='linear Born-charge BaTiO3'
    ).store()
    options = {'resources': {'num_machines': 1, 'num_mpiprocs_per_machine': 1}, 'max_wallclock_seconds': 1800}
    builder = FlexoPipelineWorkChain.get_builder_from_protocol(
        code,
        orm.StructureData(ase=bulk),
        protocol='fast',
        frames=frames,
        overrides={
            'gnn': {'epochs': 3, 'seed': 1, 'threads': 1},
            # tiny Allegro, not the fine-tuned SevenNet-0 the fast protocol picks for 8 frames: loading SevenNet-0
            # in each of the training, relaxation and evaluation jobs took ~60 % of this test's time
            # (test_mlip_potentials_daemon runs the fine-tuning route through the daemon)
            'potential_route': 'allegro',
            'mlip': {'epochs': 1, 'seed': 1, 'model_size': 'tiny'},
            'flexo': {
                'supercell': {'repeat': 4},
                'relax_parameters': {'fmax': 0.5, 'max_steps': 3},
                'check_fmax': True,
            },
            # tiny models (3 epochs): the fast protocol's physical gates would refuse them before any μ
            'thresholds': {'max_dipole_mae_eA': 100.0, 'max_force_mae_meV_A': 1e4},
            'convergence_repeats': [6],  # beside N = 4: μ∞ from two lengths
            # the fast protocol's DFT check: one 5-atom cut-out of the relaxed supercell, GPAW at minimal settings
            'label': {'engine_inputs': {'cutoff': 250.0, 'kpoints': [2, 2, 2]}},
        },
        options={name: options for name in ('gnn', 'mlip', 'flexo', 'label')},
    )
    builder.metadata.label = 'tiny pipeline'
    pipeline = submit(builder)

    def wait(condition, what, timeout=900):
        start = time.monotonic()
        while not condition():
            if time.monotonic() - start > timeout:
                raise TimeoutError(f'{what} not reached after {timeout} s: {describe(pipeline)}')
            time.sleep(1)

    def training_calcs():
        return [
            n
            for n in pipeline.called_descendants
            if n.process_label in ('GnnTrainCalculation', 'MlipTrainCalculation')
        ]

    # stop the daemon once the first training CalcJob has finished, then start it again
    wait(
        lambda: any(n.is_finished for n in training_calcs()) or pipeline.is_terminated, 'a finished training'
    )
    finished_before = {n.pk for n in training_calcs() if n.is_finished}
    daemon_client.stop_daemon(wait=True)
    time.sleep(2)
    daemon_client.start_daemon()
    wait(lambda: pipeline.is_terminated, 'the end of the pipeline')
    record_timings(pipeline, 'test_pipeline')
    # each training runs in its restart WorkChain (flexo.gnn.train.base, flexo.mlip.train.base)
    gnn = next((n for n in pipeline.called_descendants if n.process_label == 'GnnTrainCalculation'), None)
    mlip = next((n for n in pipeline.called_descendants if n.process_label == 'MlipTrainCalculation'), None)
    flexo = next((n for n in pipeline.called if n.label == 'mu3333'), None)
    flexo_n6 = next((n for n in pipeline.called if n.label == 'mu3333 N=6'), None)
    verify = next((n for n in pipeline.called if n.process_label == 'VerifyWorkChain'), None)
    return {
        'verify': verify,
        'frames': frames,
        'pipeline': pipeline,
        'gnn': gnn,
        'mlip': mlip,
        'flexo': flexo,
        'flexo_n6': flexo_n6,
        'code': code,
        'finished_before_restart': finished_before,
    }


def test_pipeline_extrapolates_mu_over_the_supercell_length(chain):
    """μ at N = 4 (the main run) and N = 6 (convergence_repeats): μ∞ through both, every part of the error bar."""
    pipeline, main, extra = chain['pipeline'], chain['flexo'], chain['flexo_n6']
    assert extra is not None and extra.is_finished_ok, describe(pipeline)
    assert extra.outputs.coefficient.base.attributes.get('repeat')[2] == 6
    limit = pipeline.outputs.convergence['mu3333'].get_dict()
    assert limit['repeats'] == [4, 6]
    mu4, mu6 = main.outputs.coefficient.mu_fit, extra.outputs.coefficient.mu_fit
    assert limit['mu_nC_per_m'] == pytest.approx([mu4, mu6])
    slope = (mu6 - mu4) / (6.0**-2 - 4.0**-2)  # two lengths: μ∞ + a/N² through both points
    assert limit['mu_inf_nC_per_m'] == pytest.approx(mu4 - slope * 4.0**-2)
    parts = limit['error_parts_nC_per_m']
    assert limit['error_nC_per_m'] == pytest.approx(
        np.sqrt(parts['fit_stderr'] ** 2 + parts['extrapolation'] ** 2)
    )
    assert 'none' in limit['spread_source']


def test_pipeline_survives_a_daemon_restart(chain):
    pipeline = chain['pipeline']
    assert pipeline.is_finished_ok, describe(pipeline)
    trainings = [
        n
        for n in pipeline.called_descendants
        if n.process_label in ('GnnTrainCalculation', 'MlipTrainCalculation')
    ]
    assert len(trainings) == 2, 'each model is trained exactly once'
    assert chain['finished_before_restart'] <= {n.pk for n in trainings}
    assert pipeline.outputs.coefficients['mu3333'].pk == chain['flexo'].outputs.coefficient.pk
    assert pipeline.outputs.dipole_model.pk == chain['gnn'].outputs.model.pk
    assert pipeline.outputs.frames.pk == chain['frames'].pk


def test_process_reports_tell_what_happened(chain):
    from aiida.cmdline.utils.common import get_workchain_report

    report = get_workchain_report(chain['pipeline'], 'REPORT')
    assert 'using the given labelled frames' in report
    # the route the test chose (the auto route's choice is checked in test_pipeline_route)
    assert 'potential: Allegro from scratch (potential_route)' in report
    assert 'held-out accuracy: dipole MAE' in report
    assert 'nan' not in report
    assert 'μ3333 =' in get_workchain_report(chain['flexo'], 'REPORT')


def test_verification_of_the_relaxed_supercell(chain):
    """flexo.verify after μ: a DFT-labelled cut-out of the relaxed supercell, both models' errors in the report."""
    from aiida.cmdline.utils.common import get_workchain_report

    verify = chain['verify']
    assert verify is not None and verify.is_finished_ok, describe(chain['pipeline'])
    (cutout,) = verify.outputs.labelled.get_frames()
    relaxed = chain['flexo'].outputs.relaxed_structure.get_ase()
    # one unit cell of the relaxed 1×1×4 supercell: its atoms, its positions relative to each other
    assert sorted(cutout.get_chemical_symbols()) == ['Ba', 'O', 'O', 'O', 'Ti']
    assert np.allclose(cutout.cell.array[2], relaxed.cell.array[2] / 4)
    index = np.asarray(verify.outputs.cutouts.get_frames()[0].info['supercell_index'])
    shift = (cutout.positions - cutout.positions[0]) - (
        relaxed.positions[index] - relaxed.positions[index[0]]
    )
    periods = shift @ np.linalg.inv(relaxed.cell.array)  # equal up to whole periods of the supercell
    assert np.allclose(periods, np.round(periods), atol=1e-8)
    assert np.isfinite(cutout.info['energy']) and np.isfinite(cutout.info['dipole']).all()
    report = chain['pipeline'].outputs.verification.get_dict()
    assert report['trusted'] and report['n_frames'] == 1
    # given frames (not labelled by this DFT): energies are not compared, forces and dipoles are
    assert set(report['metrics']) == {'force_mae_meV_A', 'dipole_mae_eA'}
    force = report['metrics']['force_mae_meV_A']
    assert force['verified'] == verify.outputs.mlip_metrics['force_mae_meV_A']
    assert force['held_out'] == chain['mlip'].outputs.metrics['test']['force_mae_meV_A']
    assert force['ratio'] == pytest.approx(force['verified'] / force['held_out'])
    text = get_workchain_report(chain['pipeline'], 'REPORT')
    assert 'verification: force MAE' in text and 'on 1 DFT frame (held-out' in text
    assert 'verification: verified: trusted' in text and 'energies not compared' in text


def test_verification_threshold_fails_loudly(chain, submit_and_await):
    """The same verification with a force limit no potential meets: exit 410, the report kept; no DFT rerun."""
    from aiida import orm
    from aiida.engine import ProcessState

    builder = chain['verify'].get_builder_restart()
    builder.thresholds = orm.Dict({'max_force_mae_meV_A': 1e-6})
    rerun = submit_and_await(builder, state=ProcessState.FINISHED, timeout=300)
    assert rerun.exit_status == 410, describe(rerun)
    assert 'force MAE' in rerun.exit_message and 'max_force_mae_meV_A' in rerun.exit_message
    assert rerun.outputs.report['trusted'] is False
    dft = [n for n in rerun.called_descendants if n.process_label == 'GpawCalculation']
    assert dft and all(n.base.caching.is_created_from_cache for n in dft)


def test_rerun_reuses_training_and_thresholds_stop_it(chain, submit_and_await):
    """The same pipeline with a strict force threshold: the trainings come from the cache, validation stops it."""
    from aiida.engine import ProcessState

    builder = chain['pipeline'].get_builder_restart()
    builder.thresholds = chain['pipeline'].inputs.thresholds.get_dict() | {'max_force_mae_meV_A': 1e-3}
    rerun = submit_and_await(builder, state=ProcessState.FINISHED, timeout=300)
    assert rerun.exit_status == 405, describe(rerun)
    assert 'force_mae_meV_A' in rerun.exit_message
    trainings = [
        n
        for n in rerun.called_descendants
        if n.process_label in ('GnnTrainCalculation', 'MlipTrainCalculation')
    ]
    assert len(trainings) == 2 and all(n.base.caching.is_created_from_cache for n in trainings)
    assert {n.base.caching.get_cache_source() for n in trainings} == {chain['gnn'].uuid, chain['mlip'].uuid}


def test_training_calcjobs(chain):
    gnn, mlip = chain['gnn'], chain['mlip']
    metrics = gnn.outputs.metrics.get_dict()
    assert metrics['n_frames'] == N_FRAMES
    assert metrics['training_data_hash'] == chain['frames'].frames_hash
    assert np.isfinite(metrics['test_dipole_mae_eA'])
    assert gnn.outputs.model.filename == 'model.pt'
    assert mlip.outputs.model.filename == 'model.nequip.zip'
    assert 'from_potential' not in mlip.inputs.parameters.get_dict()
    metrics = mlip.outputs.metrics.get_dict()
    assert (
        metrics['route'] == 'allegro'
        and metrics['n_train'] + metrics['n_val'] + metrics['n_test'] == N_FRAMES
    )
    assert np.isfinite(metrics['test']['force_mae_meV_A'])


def test_flexo_coefficient_workchain(chain):
    flexo = chain['flexo']
    assert flexo.is_finished_ok, describe(flexo)
    coefficient = flexo.outputs.coefficient
    assert coefficient.component == '3333'
    assert np.isfinite(coefficient.mu_fit) and np.isfinite(coefficient.mu_two_point)
    result = flexo.outputs.result.get_dict()
    assert result['supercell']['repeat'][2] == 4
    assert 'bec' in result and 'decomposition' in result
    # the relaxation's tolerance, final force and steps (all restarts) are stored with μ
    relaxation = result['relaxation']
    # check_fmax: the relaxation went on to fmax/2; μ comes from there, both μ are on record
    assert relaxation['fmax_eV_A'] == 0.25 and relaxation['max_force_eV_A'] <= 0.25
    assert relaxation['n_steps'] >= 0 and relaxation['n_calculations'] >= 2
    check = flexo.outputs.tolerance_check.get_dict()
    assert check['fmax_eV_A'] == [0.5, 0.25] and relaxation['tolerance_check'] == check
    assert check['mu_fit_nC_per_m'][1] == pytest.approx(coefficient.mu_fit)
    assert check['stable'] == (check['relative_change'] <= 0.02)
    # the fixed Ba sublattice did not move in the relaxation
    supercell = flexo.outputs.supercell.get_dict()
    fixed = [int(i) for i in result['supercell']['fixed_indices']]
    displaced = np.array(supercell['atoms']['positions'])[fixed]
    relaxed = np.array(flexo.outputs.relaxed_structure.get_ase().positions)[fixed]
    assert np.array_equal(displaced, relaxed)
    assert flexo.outputs.plot.filename == 'profile.png'
    assert len(flexo.outputs.profile.get_array('cell_P_C_m2')) == 4


def test_mu_has_the_known_answer_of_the_linear_born_charge_world(chain):
    """μ against the analytic values of the world the models were trained on (see the module docstring).

    Born charges are derivatives of the cell dipole, independent of how a model splits it into atoms, so the
    Born-charge route (the GNN's Z* at the reference times the displacements) must reproduce the linear model
    exactly, up to the GNN's Z* error. The dipole route splits the same cell dipoles into bond charges instead of
    Z*·u: its per-cell μ differs by construction (a partition choice), but the total dipole of the supercell does
    not.
    """
    from aiida_flexo.flexo.cells import displacements
    from aiida_flexo.flexo.convention import mu_to_nc_per_m
    from aiida_flexo.flexo.extract import extract_from_dipoles
    from aiida_flexo.flexo.supercell import FlexoSupercell
    from aiida_flexo.flexo.synthetic import LinearBornChargeModel, analytic_mu

    flexo = chain['flexo']
    coefficient = flexo.outputs.coefficient
    attributes = coefficient.base.attributes.all
    supercell = FlexoSupercell.from_dict(flexo.outputs.supercell.get_dict())
    relaxed = flexo.outputs.relaxed_structure.get_ase()
    z = born_charges(supercell.unit)
    model = LinearBornChargeModel(z).for_supercell(supercell)
    tolerance = 0.03  # relative; measured 0.3-2 % with a Z* MAE of 0.002-0.01 e

    # imposed field (clamped): the closed form, independent of the atoms, assignment and extraction code
    clamped = flexo.outputs.result['decomposition']['bec']['clamped_nC_per_m']
    expected_clamped = mu_to_nc_per_m(analytic_mu(supercell, z))
    assert abs(expected_clamped) > 0.1  # not a vanishing number that any sign would match
    assert clamped['fit'] == pytest.approx(expected_clamped, rel=tolerance)
    assert clamped['two_point'] == pytest.approx(expected_clamped, rel=tolerance)

    # relaxed supercell: μ of Z*·u on the structure the pipeline relaxed
    world_dipoles = model.per_atom_dipoles(relaxed)
    expected = extract_from_dipoles(supercell, world_dipoles)
    scale = max(abs(mu_to_nc_per_m(expected.mu_fit)), abs(expected_clamped))
    assert abs(attributes['bec_mu_fit_nC_per_m'] - mu_to_nc_per_m(expected.mu_fit)) <= tolerance * scale
    assert (
        abs(attributes['bec_mu_two_point_nC_per_m'] - mu_to_nc_per_m(expected.mu_two_point))
        <= tolerance * scale
    )

    # the GNN learned the world's Z*: its Born charges at the reference, the input of the Born-charge route
    gnn_z = coefficient.creator.inputs.born_charges.get_array('born_charges').reshape(-1, 3, 3)
    assert np.abs(gnn_z - model.born_charges(supercell.reference)).max() < 0.1

    # dipole route: the GNN's total dipole of the relaxed supercell is Σ Z*·u (the split into cells is the GNN's
    # own, bond charges rather than Z*·u, so its per-cell μ has no closed form to compare with)
    predicted = coefficient.creator.inputs.dipoles.get_array('per_atom_dipoles')
    total = world_dipoles.sum(axis=0)
    u = displacements(relaxed, supercell.reference)
    assert np.linalg.norm(predicted.sum(axis=0) - total) <= 0.1 * np.abs(u).sum() + 1e-3  # Z* error ≤ 0.1 e


def test_provenance_links(chain):
    from aiida_flexo.provenance import ancestors, list_coefficients, results_using, trace_coefficient

    coefficient = chain['flexo'].outputs.coefficient
    upstream = {node.pk for node in ancestors(coefficient)}
    # μ <- extraction <- relaxed structure <- relax calc <- MLIP model <- MLIP training <- frames
    relax_calcs = [n for n in chain['flexo'].called_descendants if n.process_label == 'MlipRelaxCalculation']
    assert relax_calcs and all(calc.pk in upstream for calc in relax_calcs)
    assert chain['mlip'].outputs.model.pk in upstream and chain['mlip'].pk in upstream
    assert chain['gnn'].outputs.model.pk in upstream
    assert chain['frames'].pk in upstream
    trace = trace_coefficient(coefficient.pk)
    assert [f['pk'] for f in trace['frames']] == [chain['frames'].pk]
    assert set(trace['models']) == {'dipole', 'mlip'}
    assert trace['models']['mlip']['training_calc'] == chain['mlip'].pk
    assert trace['models']['dipole']['dipole_mae_eA'] == chain['gnn'].outputs.metrics['test_dipole_mae_eA']
    assert np.isfinite(trace['models']['mlip']['force_mae_meV_A'])
    assert any(code['label'] == 'aiida-flexo@localhost' for code in trace['codes'])
    rows = list_coefficients(component='3333')
    assert coefficient.pk in [row.pk for row in rows]
    # every μ made from these frames: the main length and the convergence length N = 6
    assert sorted(row.pk for row in results_using(chain['frames'].pk)) == sorted(
        [coefficient.pk, chain['flexo_n6'].outputs.coefficient.pk]
    )
    assert coefficient.pk in [row.pk for row in results_using(chain['gnn'].outputs.model.pk)]


def test_query_cli(chain):
    runner = CliRunner()
    pk = chain['flexo'].outputs.coefficient.pk
    listed = runner.invoke(main, ['query', 'list', '--json'])
    assert listed.exit_code == 0, listed.output
    row = next(row for row in json.loads(listed.output) if row['pk'] == pk)
    # the tiny models miss the physical accuracy gates: every μ they produced is flagged in the list
    assert row['gate']['passed'] is False and row['gate']['failures'], row
    table = runner.invoke(main, ['query', 'list'])
    assert 'GATE FAILED' in table.output, table.output
    traced = runner.invoke(main, ['query', 'trace', str(pk)])
    assert traced.exit_code == 0, traced.output
    assert f'pk {chain["frames"].pk}' in traced.output and 'model' in traced.output
    uses = runner.invoke(main, ['query', 'uses', str(chain['frames'].pk), '--json'])
    assert sorted(row['pk'] for row in json.loads(uses.output)) == sorted(
        [pk, chain['flexo_n6'].outputs.coefficient.pk]
    )
    wrong = runner.invoke(main, ['query', 'trace', str(chain['frames'].pk)])
    assert wrong.exit_code != 0 and 'not a flexo.coefficient' in wrong.output
