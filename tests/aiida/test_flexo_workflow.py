"""Train both models as CalcJobs through the daemon, run FlexoCoefficientWorkChain, query the provenance.

One chain per session (tiny models, short supercell): frames → flexo.gnn.train + flexo.mlip.train →
flexo.coefficient (flexo.mlip.relax.base → flexo.gnn.predict → calcfunctions) → μ, then the provenance helpers
must find μ ← relax ← MLIP model ← frames, and the GNN behind it.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from aiida_flexo.cli import main
from aiida_flexo.resources import bundled_path

pytestmark = [pytest.mark.aiida, pytest.mark.daemon, pytest.mark.slow]

N_FRAMES = 8


@pytest.fixture(scope='module')
def chain(aiida_profile, daemon_client):
    """Run the chain once (module scope) and return its nodes."""
    import time

    from aiida import orm
    from aiida.engine import submit
    from aiida.plugins import CalculationFactory, WorkflowFactory

    from aiida_flexo.data import read_frames
    from aiida_flexo.nodes.frames import FramesData
    from aiida_flexo.profiles import SetupReport, ensure_codes, ensure_computer

    if not daemon_client.is_daemon_running:
        daemon_client.start_daemon()
    report = SetupReport(profile=aiida_profile.name)
    code = ensure_codes(report, ensure_computer(report))['aiida-flexo']
    frames = FramesData.from_frames(
        read_frames(bundled_path('BaTiO3_qe_berry_bec.xyz'), index=f':{N_FRAMES}'), source='bundled BaTiO3'
    ).store()

    def wait(node, timeout=900):
        start = time.monotonic()
        while not node.is_terminated:
            if time.monotonic() - start > timeout:
                raise TimeoutError(
                    f'{node.process_label}<{node.pk}> still {node.process_state} after {timeout} s'
                )
            time.sleep(1)
        return node

    options = {'resources': {'num_machines': 1, 'num_mpiprocs_per_machine': 1}, 'max_wallclock_seconds': 1800}
    gnn = submit(
        CalculationFactory('flexo.gnn.train'),
        code=code,
        frames=frames,
        parameters=orm.Dict({'epochs': 3, 'seed': 1, 'threads': 1}),
        metadata={'options': options, 'label': 'tiny GNN'},
    )
    mlip = submit(
        CalculationFactory('flexo.mlip.train'),
        code=code,
        frames=frames,
        parameters=orm.Dict({'epochs': 2, 'seed': 1, 'model_size': 'tiny'}),
        metadata={'options': options, 'label': 'tiny Allegro'},
    )
    wait(gnn)
    wait(mlip)
    assert gnn.is_finished_ok, describe(gnn)
    assert mlip.is_finished_ok, describe(mlip)

    workchain = WorkflowFactory('flexo.coefficient')
    structure = orm.StructureData(ase=read_frames(bundled_path('BaTiO3_qe_berry_bec.xyz'), index='0')[0][:5])
    from aiida_flexo.flexo.structures import builtin

    structure = orm.StructureData(ase=builtin('BaTiO3'))
    builder = workchain.get_builder_from_protocol(
        code,
        structure,
        gnn.outputs.model,
        mlip.outputs.model,
        protocol='fast',
        overrides={'supercell': {'repeat': 4}, 'relax_parameters': {'fmax': 0.5, 'max_steps': 3}},
        options=options,
    )
    builder.bec_from_model = orm.Bool(True)
    builder.metadata.label = 'BaTiO3 mu3333 (tiny models)'
    flexo = wait(submit(builder))
    return {'frames': frames, 'gnn': gnn, 'mlip': mlip, 'flexo': flexo, 'code': code}


def test_training_calcjobs(chain):
    gnn, mlip = chain['gnn'], chain['mlip']
    metrics = gnn.outputs.metrics.get_dict()
    assert metrics['n_frames'] == N_FRAMES
    assert metrics['training_data_hash'] == chain['frames'].frames_hash
    assert 'test_dipole_mae_eA' in metrics or 'test' in metrics
    assert gnn.outputs.model.filename == 'model.pt'
    assert mlip.outputs.model.filename == 'model.nequip.zip'
    test = mlip.outputs.metrics.get_dict()['test']
    assert np.isfinite(test['force_mae_meV_A'])


def describe(node) -> str:
    """Exit status, message, exception and report of a process and its descendants (for failed assertions)."""
    from aiida.cmdline.utils.common import get_workchain_report

    lines = [
        f'{node.process_label}<{node.pk}> [{node.exit_status}] {node.exit_message} {node.exception or ""}'
    ]
    for child in getattr(node, 'called_descendants', []):
        if not child.is_finished_ok:
            lines.append(
                f'  {child.process_label}<{child.pk}> [{child.exit_status}] {child.exit_message} {child.exception or ""}'
            )
    if hasattr(node, 'called_descendants'):
        lines.append(get_workchain_report(node, 'REPORT'))
    return '\n'.join(lines)


def test_flexo_coefficient_workchain(chain):
    flexo = chain['flexo']
    assert flexo.is_finished_ok, describe(flexo)
    coefficient = flexo.outputs.coefficient
    assert coefficient.component == '3333'
    assert np.isfinite(coefficient.mu_fit) and np.isfinite(coefficient.mu_two_point)
    result = flexo.outputs.result.get_dict()
    assert result['supercell']['repeat'][2] == 4
    assert 'bec' in result and 'decomposition' in result
    # the fixed Ba sublattice did not move in the relaxation
    supercell = flexo.outputs.supercell.get_dict()
    fixed = [int(i) for i in result['supercell']['fixed_indices']]
    displaced = np.array(supercell['atoms']['positions'])[fixed]
    relaxed = np.array(flexo.outputs.relaxed_structure.get_ase().positions)[fixed]
    assert np.array_equal(displaced, relaxed)
    assert flexo.outputs.plot.filename == 'profile.png'
    assert len(flexo.outputs.profile.get_array('cell_P_C_m2')) == 4


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
    assert any(code['label'] == 'aiida-flexo@localhost' for code in trace['codes'])
    rows = list_coefficients(component='3333')
    assert coefficient.pk in [row.pk for row in rows]
    assert [row.pk for row in results_using(chain['frames'].pk)] == [coefficient.pk]
    assert results_using(chain['gnn'].outputs.model.pk)[0].pk == coefficient.pk


def test_query_cli(chain):
    runner = CliRunner()
    pk = chain['flexo'].outputs.coefficient.pk
    listed = runner.invoke(main, ['query', 'list', '--json'])
    assert listed.exit_code == 0, listed.output
    assert pk in [row['pk'] for row in json.loads(listed.output)]
    traced = runner.invoke(main, ['query', 'trace', str(pk)])
    assert traced.exit_code == 0, traced.output
    assert f'pk {chain["frames"].pk}' in traced.output and 'model' in traced.output
    uses = runner.invoke(main, ['query', 'uses', str(chain['frames'].pk), '--json'])
    assert [row['pk'] for row in json.loads(uses.output)] == [pk]
    wrong = runner.invoke(main, ['query', 'trace', str(chain['frames'].pk)])
    assert wrong.exit_code != 0 and 'not a flexo.coefficient' in wrong.output
