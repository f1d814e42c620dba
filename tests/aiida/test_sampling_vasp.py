"""``flexo.sampling`` with sampler ``vasp``: VASP AIMD through ``flexo.vasp.label``, thinned into unlabelled frames.

VASP is replaced by the replay of a real AIMD run (``tests/vasp/replay_vasp.py``): Pt(111) + 24 H2O, 3 steps of 1 fs
at 300 K (VASP 5.4.4, SimSoliqTools; case ``pt111_h2o_md``, files and license in
``tests/fixtures/vasp_replay/SOURCES.md``). The smaller Si64 run (VASP 6.3.2) cannot be replayed through the daemon:
its record kept only vasprun.xml, and aiida-vasp 5.1 reads the run status from the OUTCAR alone (its trajectory is
tested at the calcfunction level in ``tests/vasp/test_vasp_label_inprocess.py``). Both samplings below are submitted
to the daemon at once (module fixture ``sampled``).
"""

from __future__ import annotations

import time

import numpy as np
import pytest
from vasp.conftest import fake_potcar_family, replay_code  # noqa: F401 - the VASP replay fixtures
from vasp.vasp_replay_helpers import REPLAY_ROOT, replay_options, structure_from_file

pytestmark = [pytest.mark.aiida, pytest.mark.daemon, pytest.mark.slow]

PT111 = REPLAY_ROOT / 'recorded' / 'aimd' / 'Pt111_24H2O_SimSoliqTools'
CASE = 'pt111_h2o_md'
#: the thermostat and dispersion of the recorded INCAR (Nosé with SMASS = 0, MDALGO = 0, IVDW = 11)
ENGINE_INPUTS = {'protocol': 'fast', 'engine_options': {'vasp': {'MDALGO': 0, 'SMASS': 0.0, 'IVDW': 11}}}
#: scenario -> (md of flexo.sampling: steps, timestep fs, stride, skip in thinned frames; MD steps kept)
SCENARIOS = {
    'stride': ({'steps': 3, 'timestep_fs': 1.0, 'stride': 2, 'skip': 0}, [0, 2]),
    'stride_and_skip': ({'steps': 3, 'timestep_fs': 1.0, 'stride': 2, 'skip': 1}, [2]),
}


def sampling_inputs(code, family, md: dict, temperatures: list[float] | None = None) -> dict:
    """Inputs of flexo.sampling (sampler vasp) of the recorded Pt(111)/water structure, MD only."""
    from aiida_flexo.workflows.sampling import SamplingWorkChain

    builder = SamplingWorkChain.get_builder_from_protocol(
        code,
        {'pt111': structure_from_file(PT111 / 'POSCAR')},
        sampler='vasp',
        protocol='fast',
        overrides={
            'temperatures': [300.0] if temperatures is None else temperatures,
            'md': md,
            'perturbations': {'n_frames': 0},
        },
        options=replay_options(CASE),
        engine_inputs=ENGINE_INPUTS,
        potential_family=family,
    )
    return builder._inputs(prune=True)


@pytest.fixture(scope='module')
def sampled(replay_code, fake_potcar_family, daemon_client):  # noqa: F811
    """Every scenario submitted to the daemon at once; scenario -> its (terminated) WorkChainNode."""
    from aiida.engine import submit
    from aiida.orm import load_node

    from aiida_flexo.workflows.sampling import SamplingWorkChain

    if not daemon_client.is_daemon_running:
        daemon_client.start_daemon()
    pks = {
        name: submit(SamplingWorkChain, **sampling_inputs(replay_code, fake_potcar_family, md)).pk
        for name, (md, _) in SCENARIOS.items()
    }
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and not all(load_node(pk).is_terminated for pk in pks.values()):
        time.sleep(1.0)
    return {name: load_node(pk) for name, pk in pks.items()}


def recorded_positions() -> list[np.ndarray]:
    """Fractional positions of the recorded MD steps, from the run's XDATCAR (the trajectory is read from another
    file, vasprun.xml)."""
    import ase.io

    return [
        a.get_scaled_positions(wrap=False)
        for a in ase.io.read(PT111 / 'XDATCAR', index=':', format='vasp-xdatcar')
    ]


@pytest.mark.parametrize('scenario', sorted(SCENARIOS))
def test_vasp_md_is_thinned_into_unlabelled_frames(sampled, scenario):
    from aiida.common.links import LinkType
    from aiida.orm import CalcJobNode

    node = sampled[scenario]
    assert node.is_terminated, f'{node} did not terminate within the time limit ({node.process_state})'
    assert node.is_finished_ok, (node.exit_status, node.exit_message)
    (md_run,) = [n for n in node.called if n.process_label == 'VaspLabelWorkChain']
    call = md_run.base.links.get_incoming(link_type=LinkType.CALL_WORK).one()
    assert call.link_label == 'md_pt111_300K'  # phase and temperature
    calcs = [n for n in md_run.called_descendants if isinstance(n, CalcJobNode)]
    assert len(calcs) == 1  # NSW = 3, POTIM = 1 fs and TEBEG = 300 K matched the recorded INCAR
    assert f'recorded case {CASE}' in calcs[0].outputs.retrieved.base.repository.get_object_content(
        'vasp_output'
    )
    trajectory = md_run.outputs.trajectory
    assert trajectory.numsteps == 3

    _, steps = SCENARIOS[scenario]
    frames = node.outputs.frames
    assert frames.n_frames == len(steps)
    assert frames.labels == [] and frames.base.attributes.get('partial_labels') == []  # DFT labels dropped
    atoms_list = frames.get_frames()
    assert [a.info['md_step'] for a in atoms_list] == steps
    assert {a.info['origin'] for a in atoms_list} == {'md_pt111_300K'}
    recorded = recorded_positions()
    assert len(recorded) == 3
    for atoms, step in zip(atoms_list, steps):
        np.testing.assert_allclose(atoms.positions, trajectory.get_positions()[step], atol=1e-8)
        np.testing.assert_allclose(atoms.cell[:], trajectory.get_cells()[step], atol=1e-8)
        delta = atoms.get_scaled_positions(wrap=False) - recorded[step]
        assert np.abs(delta - np.round(delta)).max() < 1e-6, f'step {step} differs from the XDATCAR'
    # the MD moved the atoms: the kept steps are not all the same structure
    assert np.abs(recorded[2] - recorded[0]).max() > 1e-4


def test_the_vasp_sampler_is_refused_without_its_inputs(replay_code, fake_potcar_family):  # noqa: F811
    from aiida import orm
    from aiida.engine import run_get_node, submit

    from aiida_flexo.workflows.sampling import SamplingWorkChain

    md, _ = SCENARIOS['stride']
    n_workflows = orm.QueryBuilder().append(orm.WorkflowNode).count()
    inputs = sampling_inputs(replay_code, fake_potcar_family, md)
    inputs.pop('vasp')
    with pytest.raises(ValueError, match=r'sampler "vasp" runs MD but no `vasp` inputs were given'):
        submit(SamplingWorkChain, **inputs)
    inputs['vasp'] = {'code': replay_code}  # no POTCAR family
    with pytest.raises(ValueError, match='potential_family'):
        submit(SamplingWorkChain, **inputs)
    assert orm.QueryBuilder().append(orm.WorkflowNode).count() == n_workflows  # refused before any node

    # without MD (no temperatures) the vasp inputs are not needed: perturbations only
    inputs = sampling_inputs(replay_code, fake_potcar_family, md, temperatures=[])
    inputs.pop('vasp')
    inputs['perturbations'] = orm.Dict({'n_frames': 2, 'displacement': 0.01, 'seed': 0})
    _, node = run_get_node(SamplingWorkChain, **inputs)
    assert node.is_finished_ok, (node.exit_status, node.exit_message)
    assert node.outputs.frames.n_frames == 2
    assert not [n for n in node.called_descendants if n.process_label == 'VaspLabelWorkChain']
