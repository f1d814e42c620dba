"""``flexo.vasp.label`` end to end, with VASP replaced by the replay of real VASP outputs (see conftest.py).

The scenarios below are all submitted to the daemon at once (module fixture ``replayed``; they run concurrently,
which keeps this module near a minute) and each test checks one of them: the Berry-phase path of BaTiO3 (VASP
5.3.5), La2Ga2O6 (VASP 6.3, the other dipole sign), SiC and Zn3P2S8 DFPT, Pt(111)/water MD, and modified copies of
recorded runs for the error handlers. Bad inputs and the vasprun-only Si64 MD are in test_vasp_label_inprocess.py.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
from vasp_replay_helpers import REPLAY_ROOT, replay_options, structure_from_file

from aiida_flexo.polarization import read_born_charges
from aiida_flexo.resources import bundled_path

pytestmark = [pytest.mark.aiida, pytest.mark.daemon, pytest.mark.slow, pytest.mark.heavy]

BTO = 'vasp/BTO_221_99_polarization'
FIXTURES = REPLAY_ROOT.parent / 'vasp'
PT111 = REPLAY_ROOT / 'recorded' / 'aimd' / 'Pt111_24H2O_SimSoliqTools'
E_PER_A2_TO_UC_PER_CM2 = 1602.176634
BERRY = {'berry_phase': True}
DFPT = {'born_charges': {'enabled': True, 'method': 'dfpt'}}
PT111_MD = {
    'md': {'steps': 3, 'timestep': 1.0, 'temperature': 300.0},
    'engine_options': {'vasp': {'MDALGO': 0, 'SMASS': 0.0, 'IVDW': 11}},
}


def bto(step: str = 'polar_polarization'):
    return structure_from_file(bundled_path(f'{BTO}/{step}/POSCAR'))


def zn3p2s8_interleaved():
    """Zn3P2S8 with its species interleaved (P S Zn P S Zn ...), and the order used."""
    import ase.io
    from aiida import orm

    recorded = ase.io.read(FIXTURES / 'dfpt_lepsilon' / 'Zn3P2S8_aiida_vasp' / 'POSCAR', format='vasp')
    symbols = recorded.get_chemical_symbols()
    queues = {s: [i for i, t in enumerate(symbols) if t == s] for s in ('P', 'S', 'Zn')}
    order = []
    while any(queues.values()):
        for s in ('P', 'S', 'Zn'):
            if queues[s]:
                order.append(queues[s].pop(0))
    return orm.StructureData(ase=recorded[order]), order


#: scenario -> (structure, replayed cases in the order tried, engine-neutral overrides)
SCENARIOS = {
    'bto_polar': (lambda: bto(), ['bto_polar_berry'], BERRY),
    'bto_nonpolar': (lambda: bto('nonpolar_polarization'), ['bto_nonpolar_berry'], BERRY),
    'la2ga2o6': (
        lambda: structure_from_file(REPLAY_ROOT / 'la2ga2o6_berry_vasp63' / 'POSCAR'),
        ['la2ga2o6_berry_vasp63'],
        BERRY,
    ),
    'sic_dfpt': (
        lambda: structure_from_file(REPLAY_ROOT / 'sic_dfpt' / 'POSCAR'),
        ['sic_scf_from_dfpt_run', 'sic_dfpt'],
        DFPT,
    ),
    'zn3p2s8_dfpt': (lambda: zn3p2s8_interleaved()[0], ['zn3p2s8_scf_from_dfpt_run', 'zn3p2s8_dfpt'], DFPT),
    'pt111_md': (lambda: structure_from_file(PT111 / 'POSCAR'), ['pt111_h2o_md'], PT111_MD),
    'pt111_md_overheated': (
        lambda: structure_from_file(PT111 / 'POSCAR'),
        ['pt111_h2o_md_overheated'],
        PT111_MD,
    ),
    'scf_unconverged': (lambda: bto(), ['bto_polar_scf_unconverged', 'bto_polar_berry'], BERRY),
    'walltime': (lambda: bto(), ['bto_polar_walltime', 'bto_polar_restart_from_wavecar'], BERRY),
    'subspace': (lambda: bto(), ['bto_polar_subspace_error', 'bto_polar_berry'], BERRY),
    'no_lcalcpol': (lambda: bto(), ['bto_polar_no_lcalcpol_output'], BERRY),
    'pt111_md_walltime': (
        lambda: structure_from_file(PT111 / 'POSCAR'),
        ['pt111_h2o_md_walltime', 'pt111_h2o_md_continued'],
        PT111_MD,
    ),
    'zbrent': (
        lambda: bto(),
        ['bto_polar_zbrent', 'bto_polar_berry'],
        {**BERRY, 'engine_options': {'vasp': {'IBRION': 2, 'NSW': 5}}},
    ),
}


def builder_for(code, family, structure, cases, overrides=None):
    from aiida_flexo.workflows.vasp_label import VaspLabelWorkChain

    return VaspLabelWorkChain.get_builder_from_protocol(
        code, structure, 'fast', overrides=overrides, potential_family=family, options=replay_options(*cases)
    )


@pytest.fixture(scope='module')
def replayed(replay_code, fake_potcar_family, daemon_client):
    """Every scenario submitted to the daemon at once; scenario -> its (terminated) WorkChainNode."""
    from aiida.engine import submit
    from aiida.orm import load_node

    if not daemon_client.is_daemon_running:
        daemon_client.start_daemon()
    pks = {}
    for name, (structure, cases, overrides) in SCENARIOS.items():
        pks[name] = submit(builder_for(replay_code, fake_potcar_family, structure(), cases, overrides)).pk
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and not all(load_node(pk).is_terminated for pk in pks.values()):
        time.sleep(1.0)
    return {name: load_node(pk) for name, pk in pks.items()}


def finished(replayed, name):
    node = replayed[name]
    assert node.is_terminated, (
        f'{name}: {node} did not terminate within the time limit ({node.process_state})'
    )
    return node


def vasp_calcs(node):
    from aiida.orm import CalcJobNode

    return sorted((n for n in node.called_descendants if isinstance(n, CalcJobNode)), key=lambda n: n.pk)


def replayed_case(calc) -> str:
    return (
        calc.outputs.retrieved.base.repository.get_object_content('vasp_output')
        .split('recorded case ')[1]
        .split()[0]
    )


def test_bto_berry_phase_has_the_physical_sign(replayed):
    node = finished(replayed, 'bto_polar')
    assert node.is_finished_ok, (node.exit_status, node.exit_message)
    (calc,) = vasp_calcs(node)
    incar = calc.inputs.parameters.get_dict()
    assert incar['lcalcpol'] is True and incar['isym'] == 0 and replayed_case(calc) == 'bto_polar_berry'
    pol = node.outputs.polarization.get_dict()
    # VASP 5.3.5 prints p[elc] = +3.61674 and p[ion] = -5.56684 "electrons Angst": the physical dipoles are the opposite
    assert pol['vasp_version'] == '5.3.5'
    assert pol['dipole_electronic'][2] == pytest.approx(-3.61674)
    assert pol['dipole_ionic'][2] == pytest.approx(5.56684)
    assert pol['dipole'][2] == pytest.approx(1.9501) and pol['charge_quantum'] == 1.0
    assert pol['polarization_C_per_m2'][2] == pytest.approx(0.46289, abs=1e-4)  # Ti and O displaced along +z
    props = node.outputs.properties.get_dict()
    assert props['energy'] == pytest.approx(-39.94310588)
    assert node.outputs.forces.get_array('forces')[1, 2] == pytest.approx(0.021834)
    (frame,) = node.outputs.frames.get_frames()
    assert frame.info['dipole'][2] == pytest.approx(1.9501) and frame.info['energy'] == pytest.approx(
        -39.94310588
    )
    assert set(node.outputs.frames.labels) >= {'energy', 'forces', 'stress', 'dipole', 'charge_quantum'}


def test_vasp63_dipoles_keep_their_printed_sign(replayed):
    node = finished(replayed, 'la2ga2o6')
    assert node.is_finished_ok, (node.exit_status, node.exit_message)
    pol = node.outputs.polarization.get_dict()
    assert pol['vasp_version'] == '6.3.0'
    # VASP 6.3 prints "|e| Angst" with the physical sign: p[elc] = (-9.01127, 0.00001, -3.24308), p[ion] = (79.03374, 0, 28.44354)
    assert np.allclose(pol['dipole_electronic'], [-9.01127, 0.00001, -3.24308])
    assert np.allclose(pol['dipole_raw'], [70.02247, 0.00001, 25.20046])
    # the folded dipole differs from the raw one by a lattice vector of quanta (e·R)
    shift = np.linalg.solve(np.array(pol['cell']).T, np.subtract(pol['dipole_raw'], pol['dipole']))
    assert np.allclose(shift, np.round(shift), atol=1e-8)


def test_dfpt_born_charges_from_the_outcar_when_there_is_no_vasprun(replayed):
    node = finished(replayed, 'sic_dfpt')
    assert node.is_finished_ok, (node.exit_status, node.exit_message)
    born = node.outputs.born_charges
    assert born.base.attributes.get('source').startswith('OUTCAR')
    z_si = born.get_array('born_charges')[0]
    assert np.allclose(np.diag(z_si), 2.5499, atol=2e-4)  # Z*(Si in SiC)
    assert np.allclose(born.get_array('epsilon_inf'), born.get_array('epsilon_inf').T)
    dfpt = [c for c in vasp_calcs(node) if c.inputs.parameters.get_dict().get('lepsilon')]
    assert len(dfpt) == 1 and dfpt[0].inputs.parameters.get_dict()['ibrion'] == 8
    # the recorded SiC geometry is odd (C 0.43 Å from Si): VASP's forces are ±624.98 eV/Å, read as they are
    forces = node.outputs.forces.get_array('forces')
    assert np.allclose(forces, [[-624.981935] * 3, [624.981935] * 3])
    (frame,) = node.outputs.frames.get_frames()
    assert np.allclose(frame.arrays['born_charges'], born.get_array('born_charges'))


def test_dfpt_born_charges_from_aiida_vasp_in_the_callers_atom_order(replayed):
    node = finished(replayed, 'zn3p2s8_dfpt')
    assert node.is_finished_ok, (node.exit_status, node.exit_message)
    _, order = zn3p2s8_interleaved()
    born = node.outputs.born_charges
    assert born.base.attributes.get('source').startswith('aiida-vasp')
    reference = read_born_charges(FIXTURES / 'dfpt_lepsilon' / 'Zn3P2S8_aiida_vasp' / 'OUTCAR')
    assert np.allclose(born.get_array('born_charges'), reference.born_charges[order], atol=1e-4)
    assert np.allclose(born.get_array('epsilon_inf'), reference.epsilon_inf, atol=1e-5)
    assert np.abs(born.get_array('asr_residual')).max() < 1e-3
    (frame,) = node.outputs.frames.get_frames()
    assert frame.get_chemical_symbols()[:3] == ['P', 'S', 'Zn']  # the caller's order, not VASP's


def test_md_energies_read_from_the_right_field(replayed):
    """Pt(111)/water (VASP 5.4.4): not the −0.40 eV of vasprun's e_0_energy, not the −528 eV without vdW."""
    node = finished(replayed, 'pt111_md')
    assert node.is_finished_ok, (node.exit_status, node.exit_message)
    traj = node.outputs.trajectory
    assert np.allclose(traj.get_array('energy'), [-558.56152941, -558.5733752, -558.5407407], atol=1e-6)
    assert np.allclose(
        traj.get_array('free_energy'), [-558.76023193, -558.77211641, -558.73961886], atol=1e-6
    )
    assert np.allclose(traj.get_array('temperature'), [312.58, 318.08, 318.18])
    assert [f.info['energy'] for f in node.outputs.frames.get_frames()] == pytest.approx(
        traj.get_array('energy')
    )


def test_md_far_above_its_target_temperature_is_reported_with_its_frames(replayed):
    node = finished(replayed, 'pt111_md_overheated')
    assert node.exit_status == 420
    assert 'limit 1500 K' in node.exit_message and 'target of 300 K' in node.exit_message
    assert 'step 2' in node.exit_message
    assert node.outputs.trajectory.numsteps == 3 and node.outputs.frames.n_frames == 3  # finished frames kept


def test_scf_non_convergence_is_handled_by_changing_the_mixing(replayed):
    node = finished(replayed, 'scf_unconverged')
    assert node.is_finished_ok, (node.exit_status, node.exit_message)
    first, second = vasp_calcs(node)
    assert first.exit_status == 701  # ERROR_ELECTRONIC_NOT_CONVERGED: NELM (100) reached
    assert 'amix' not in first.inputs.parameters.get_dict()
    assert second.inputs.parameters.get_dict()['amix'] == 0.2 and replayed_case(second) == 'bto_polar_berry'
    assert node.outputs.polarization.get_dict()['dipole'][2] == pytest.approx(1.9501)


def test_walltime_restarts_from_the_wavecar(replayed):
    node = finished(replayed, 'walltime')
    assert node.is_finished_ok, (node.exit_status, node.exit_message)
    first, second = vasp_calcs(node)
    assert first.exit_status == 700  # ERROR_DID_NOT_FINISH: the OUTCAR stops before the Berry phase
    assert second.inputs.parameters.get_dict()['istart'] == 1
    assert (
        second.inputs.restart_folder.pk == first.outputs.remote_folder.pk
    )  # WAVECAR copied (the case checks it)
    assert replayed_case(second) == 'bto_polar_restart_from_wavecar'
    assert node.outputs.polarization.get_dict()['dipole'][2] == pytest.approx(1.9501)


def test_md_stopped_by_the_walltime_goes_on_from_its_contcar(replayed):
    node = finished(replayed, 'pt111_md_walltime')
    assert node.is_finished_ok, (node.exit_status, node.exit_message)
    first, second = vasp_calcs(node)
    assert first.exit_status == 700 and replayed_case(first) == 'pt111_h2o_md_walltime'
    assert second.inputs.parameters.get_dict()['nsw'] == 1  # 3 asked, 2 done
    assert (
        replayed_case(second) == 'pt111_h2o_md_continued'
    )  # it checked the POSCAR against the step-3 positions
    traj = node.outputs.trajectory
    # the two segments stitched: the energies of the uninterrupted recorded run
    assert np.allclose(traj.get_array('energy'), [-558.56152941, -558.5733752, -558.5407407], atol=1e-6)
    assert np.allclose(traj.get_array('temperature'), [312.58, 318.08, 318.18])
    assert node.outputs.md.get_dict()['n_segments'] == 2


def test_zbrent_error_switches_to_ibrion_1_with_a_tighter_ediff(replayed):
    node = finished(replayed, 'zbrent')
    assert node.is_finished_ok, (node.exit_status, node.exit_message)
    first, second = vasp_calcs(node)
    assert replayed_case(first) == 'bto_polar_zbrent'
    before, after = first.inputs.parameters.get_dict(), second.inputs.parameters.get_dict()
    assert before['ibrion'] == 2 and after['ibrion'] == 1
    assert after['ediff'] == pytest.approx(before['ediff'] / 10)


def test_subspace_matrix_error_switches_the_algorithm(replayed):
    node = finished(replayed, 'subspace')
    assert node.is_finished_ok, (node.exit_status, node.exit_message)
    first, second = vasp_calcs(node)
    # VASP's "Sub-Space-Matrix is not hermitian in DAV" escapes aiida-vasp (it looks for "Hermitian"): the run
    # passes as finished, and our handler, which reads the stdout itself, reruns it
    assert first.exit_status == 0 and replayed_case(first) == 'bto_polar_subspace_error'
    incar = second.inputs.parameters.get_dict()
    assert incar['algo'] == 'all' and incar['istart'] == 0 and incar['lreal'] is False


def test_outcar_without_lcalcpol_output_has_a_clear_exit_code(replayed):
    node = finished(replayed, 'no_lcalcpol')
    assert node.exit_status == 410
    assert 'LCALCPOL' in node.exit_message
    assert node.outputs.properties.get_dict()['energy'] == pytest.approx(
        -39.94310588
    )  # finished pieces are kept


def test_spontaneous_polarization_through_the_daemon(replayed, submit_and_await):
    """Both BaTiO3 endpoints labelled through the daemon; the same-branch ΔP along c is 46.29 µC/cm²."""
    from aiida_flexo.polarization import minimum_image

    nodes = {
        name: submit_and_await(finished(replayed, name), timeout=10) for name in ('bto_polar', 'bto_nonpolar')
    }
    for name, node in nodes.items():
        assert node.is_finished_ok, (name, node.exit_status, node.exit_message)
    polar = nodes['bto_polar'].outputs.polarization.get_dict()
    nonpolar = nodes['bto_nonpolar'].outputs.polarization.get_dict()
    assert np.allclose(nonpolar['dipole'], 0.0, atol=1e-4)  # centrosymmetric: folded onto zero
    cell = np.array(polar['cell'])
    delta = np.array(polar['dipole']) / polar['volume'] - np.array(nonpolar['dipole']) / nonpolar['volume']
    delta = minimum_image(delta * polar['volume'], cell, 1.0) / polar['volume']
    assert delta[2] * E_PER_A2_TO_UC_PER_CM2 == pytest.approx(46.29, abs=0.05)
    assert cell[2, 2] / polar['volume'] * E_PER_A2_TO_UC_PER_CM2 == pytest.approx(
        100.07, abs=0.01
    )  # quantum e·c/Ω
