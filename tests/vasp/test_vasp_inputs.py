"""INCAR/KPOINTS from the engine-neutral inputs, species grouping, the exploded-MD check, the replayer's matching."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from vasp_replay_helpers import HERE

from aiida_flexo.engines.inputs import NOSE_HOOVER_STEPS, EngineInputs, InputsError, to_native
from aiida_flexo.engines.vasp import (
    DFPT_EDIFF,
    VASP_PROTOCOLS,
    kelvin_from_kinetic,
    md_exploded,
    sorting_permutation,
    species_order,
    vasp_inputs,
    vasp_runs,
)


def batio3() -> Atoms:
    return Atoms(
        'BaTiO3',
        scaled_positions=[[0, 0, 0], [0.5, 0.5, 0.52], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]],
        cell=[4.0, 4.0, 4.1],
        pbc=True,
    )


def test_scf_incar_follows_the_protocol_and_the_engine_neutral_fields():
    atoms = batio3()
    native = vasp_inputs(EngineInputs(protocol='moderate'), atoms, 'scf')
    incar = native['incar']
    assert incar['ENCUT'] == VASP_PROTOCOLS['moderate']['encut'] == 520.0
    assert incar['EDIFF'] == pytest.approx(1e-6 * 5)  # EDIFF per atom × atoms
    assert (incar['IBRION'], incar['NSW'], incar['ISIF']) == (-1, 0, 2)  # single point with stress
    assert (incar['ISMEAR'], incar['SIGMA']) == (-1, 0.02)  # Fermi–Dirac, moderate width (eV)
    assert incar['GGA'] == 'PE' and incar['NELM'] == 200
    assert 'LCALCPOL' not in incar and 'LEPSILON' not in incar
    # k-mesh: the engine-neutral one (3.5 k-points per Å⁻¹ → 6×6×6 for a = 4 Å), Monkhorst–Pack as in GPAW: a
    # Γ-centred grid shifted by half a spacing along even divisions
    assert native['kpoints'] == {'mesh': [6, 6, 6], 'offset': [0.5, 0.5, 0.5], 'gamma': False}
    centred = vasp_inputs(EngineInputs(protocol='moderate', gamma_centered=True), atoms, 'scf')
    assert centred['kpoints'] == {'mesh': [6, 6, 6], 'offset': [0.0, 0.0, 0.0], 'gamma': True}
    odd = vasp_inputs(EngineInputs(protocol='moderate', kpoints=[3, 4, 5]), atoms, 'scf')
    assert odd['kpoints']['offset'] == [0.0, 0.5, 0.0]
    explicit = vasp_inputs(
        EngineInputs(protocol='fast', cutoff=600.0, kpoints=[2, 3, 4], smearing='gaussian'), atoms
    )
    assert explicit['incar']['ENCUT'] == 600.0 and explicit['kpoints']['mesh'] == [2, 3, 4]
    assert explicit['incar']['ISMEAR'] == 0
    no_stress = vasp_inputs(EngineInputs(stress=False), atoms)['incar']
    assert no_stress['ISIF'] == 0


def test_scf_tolerance_per_electron_uses_the_potcar_valence():
    atoms = batio3()
    inputs = EngineInputs(scf_energy_tolerance=1e-6)
    zval = {'Ba': 10.0, 'Ti': 10.0, 'O': 6.0}  # 38 valence electrons
    assert vasp_inputs(inputs, atoms, zval=zval)['incar']['EDIFF'] == pytest.approx(38e-6)
    assert vasp_inputs(inputs, atoms)['incar']['EDIFF'] == pytest.approx(
        8 * 5 * 1e-6
    )  # estimate: 8 e per atom
    with pytest.raises(InputsError, match=r"\['O'\]"):
        vasp_inputs(inputs, atoms, zval={'Ba': 10.0, 'Ti': 10.0})


def test_berry_phase_and_born_charge_runs():
    atoms = batio3()
    inputs = EngineInputs(berry_phase=True, born_charges={'enabled': True, 'method': 'dfpt'})
    runs = vasp_runs(inputs, atoms)
    assert list(runs) == ['berry_phase', 'born_charges']
    berry = runs['berry_phase']['incar']
    assert berry['LCALCPOL'] is True and berry['ISYM'] == 0 and berry['NSW'] == 0
    born = runs['born_charges']['incar']
    assert born['LEPSILON'] is True and born['IBRION'] == 8 and born['EDIFF'] <= DFPT_EDIFF
    assert 'LCALCPOL' not in born
    fd = vasp_runs(EngineInputs(born_charges={'enabled': True}), atoms)  # finite differences -> LCALCEPS
    assert list(fd) == ['scf', 'born_charges'] and fd['born_charges']['incar']['LCALCEPS'] is True
    with pytest.raises(InputsError, match='all atoms'):
        vasp_runs(EngineInputs(born_charges={'enabled': True, 'atoms': [1]}), atoms)
    # the registered engine-neutral mapping
    assert to_native('vasp', inputs, atoms, task='berry_phase')['incar']['LCALCPOL'] is True


def test_md_thermostats():
    atoms = batio3()
    md = {'steps': 20, 'temperature': 600.0, 'timestep': 2.0, 'friction': 0.01, 'seed': 7}
    langevin = vasp_inputs(EngineInputs(md=md), atoms, 'md')['incar']
    assert (langevin['IBRION'], langevin['NSW'], langevin['POTIM']) == (0, 20, 2.0)
    assert langevin['TEBEG'] == langevin['TEEND'] == 600.0 and langevin['ISYM'] == 0
    assert langevin['MDALGO'] == 3 and langevin['LANGEVIN_GAMMA'] == [
        10.0,
        10.0,
        10.0,
    ]  # 0.01/fs = 10/ps per species
    assert langevin['RANDOM_SEED'] == [7, 0, 0]
    nve = vasp_inputs(EngineInputs(md={**md, 'thermostat': 'nve'}), atoms, 'md')['incar']
    assert nve['MDALGO'] == 1 and nve['ANDERSEN_PROB'] == 0.0 and 'LANGEVIN_GAMMA' not in nve
    nose = vasp_inputs(EngineInputs(md={**md, 'thermostat': 'nose-hoover'}), atoms, 'md')['incar']
    assert (
        nose['MDALGO'] == 2 and nose['SMASS'] == 0.0 and NOSE_HOOVER_STEPS == 40
    )  # SMASS = 0: a 40-step period
    heavy = vasp_inputs(
        EngineInputs(md=md, engine_options={'vasp': {'mdalgo': 2, 'smass': 1.0}}), atoms, 'md'
    )['incar']
    assert heavy['MDALGO'] == 2 and heavy['SMASS'] == 1.0 and 'LANGEVIN_GAMMA' not in heavy
    legacy = vasp_inputs(EngineInputs(md=md, engine_options={'vasp': {'MDALGO': 0}}), atoms, 'md')['incar']
    assert legacy['MDALGO'] == 0 and legacy['SMASS'] == 0.0 and 'LANGEVIN_GAMMA' not in legacy
    assert list(vasp_runs(EngineInputs(md=md, berry_phase=True), atoms)) == ['md']


def test_bad_inputs_name_the_problem():
    atoms = batio3()
    with pytest.raises(InputsError, match='pbc'):
        vasp_inputs(EngineInputs(), Atoms('Si2', positions=[[0, 0, 0], [1, 1, 1]], cell=[5, 5, 5], pbc=False))
    with pytest.raises(InputsError, match='marzari'):
        vasp_inputs(EngineInputs(smearing='marzari-vanderbilt'), atoms)
    with pytest.raises(InputsError, match='functional'):
        vasp_inputs(EngineInputs(xc='B3LYP-ish'), atoms)
    with pytest.raises(InputsError, match='md.steps'):
        vasp_inputs(EngineInputs(), atoms, 'md')


def test_species_grouping_round_trip():
    symbols = ['O', 'Ba', 'O', 'Ti', 'O', 'Ba']
    perm = sorting_permutation(symbols)
    assert [symbols[i] for i in perm] == ['O', 'O', 'O', 'Ba', 'Ba', 'Ti']
    values = np.arange(len(symbols)) * 1.5
    restored = np.empty_like(values)
    restored[perm] = values[perm]
    assert np.array_equal(restored, values)
    assert species_order(bulk('NaCl', 'rocksalt', a=5.6) * (2, 1, 1)) == ['Na', 'Cl']


def test_md_exploded_and_temperature():
    # 64 atoms, 3N − 3 = 189 degrees of freedom: E_kin = 16.28687 eV is 2000 K (the recorded Si64 run)
    assert kelvin_from_kinetic(16.28687, 189) == pytest.approx(2000.0, abs=1.0)
    assert md_exploded(np.array([290.0, 310.0, 1200.0]), 300.0, 5.0) is None  # limit max(1500, 1300) K
    message = md_exploded(np.array([300.0, 2000.0]), 300.0, 5.0)
    assert '2000 K' in message and 'step 1' in message
    assert 'non-finite' in md_exploded(np.array([300.0, np.nan]), 300.0, 5.0)


def _replayer():
    spec = importlib.util.spec_from_file_location('replay_vasp', HERE / 'replay_vasp.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_replayer_matches_incar_values_and_structures(tmp_path):
    replay = _replayer()
    (tmp_path / 'INCAR').write_text(
        'LCALCPOL = .TRUE.\nISYM = 0 ; ENCUT = 520.0  # cutoff\nLANGEVIN_GAMMA = 10 10\n'
    )
    incar = replay.read_incar(tmp_path / 'INCAR')
    assert replay.same(incar['LCALCPOL'], True) and replay.same(incar['ISYM'], 0)
    assert replay.same(incar['ENCUT'], 520) and not replay.same(incar['ENCUT'], 400)
    assert replay.same(incar['LANGEVIN_GAMMA'], [10.0, 10.0])
    import ase.io

    atoms = batio3()
    ase.io.write(tmp_path / 'POSCAR', atoms, format='vasp', direct=True)
    ase.io.write(tmp_path / 'REF', atoms, format='vasp', direct=True)
    replay.check_structure(tmp_path / 'REF', tmp_path / 'POSCAR')
    moved = atoms.copy()
    moved.positions[1, 2] += 0.01
    ase.io.write(tmp_path / 'POSCAR', moved, format='vasp', direct=True)
    with pytest.raises(replay.NoMatch, match='atom 1'):
        replay.check_structure(tmp_path / 'REF', tmp_path / 'POSCAR')
