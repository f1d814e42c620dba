"""Pretrained universal potentials: names, the package adapters (forward pass, stress sign, reference energies,
saved files) and the one calculator factory."""

from __future__ import annotations

import numpy as np
import pytest

from aiida_flexo.mlip import ModelError, load_calculator
from aiida_flexo.mlip.calculator import MissingSpeciesError, model_kind, predict
from aiida_flexo.mlip.universal import (
    UNIVERSAL_POTENTIALS,
    UnknownPotentialError,
    available_potentials,
    check_universal_species,
    resolve_potential,
)

pytestmark = pytest.mark.slow
CANDIDATES = ['sevennet-0', 'chgnet-0.3.0']


def test_the_wheels_carry_the_weights():
    """The README's set-up installs sevenn and chgnet with their weights: nothing is downloaded at run time."""
    assert set(available_potentials()) == set(UNIVERSAL_POTENTIALS)
    for name in UNIVERSAL_POTENTIALS:
        path = resolve_potential(name).adapter.weights_path(resolve_potential(name))
        assert path.is_file() and 'site-packages' in str(path)


def test_names_aliases_and_unknown_names():
    assert resolve_potential('7net-0').name == 'sevennet-0'
    assert resolve_potential(' SevenNet-0 ').name == 'sevennet-0'
    with pytest.raises(UnknownPotentialError) as info:
        resolve_potential('mace-mp-0')
    for name in UNIVERSAL_POTENTIALS:
        assert name in str(info.value)
    assert model_kind('sevennet-0') == 'pretrained'
    assert model_kind('out/model.sevenn.pth') == 'sevenn'
    assert model_kind('out/model.committee.zip') == 'committee'
    with pytest.raises(ModelError, match='unknown model file kind'):
        model_kind('weights.pt')


def test_missing_species_are_named():
    with pytest.raises(MissingSpeciesError, match=r"\['Po'\]"):
        check_universal_species(['Ba', 'Po'], ['Ba', 'Ti', 'O'], 'sevennet-0')


def _distorted_bto(make_bto):
    atoms = make_bto(4.0)
    atoms.set_cell(
        atoms.cell[:] @ np.array([[1.01, 0.004, 0], [0.004, 0.995, 0], [0, 0, 1.003]]), scale_atoms=True
    )
    atoms.positions += np.random.default_rng(3).normal(0, 0.04, atoms.positions.shape)
    return atoms


@pytest.mark.parametrize('name', CANDIDATES)
def test_adapter_forward_matches_the_calculator_and_the_stress_sign(name, make_bto):
    potential = resolve_potential(name)
    adapter = potential.adapter
    model = adapter.load_pretrained(potential)
    model.eval()
    atoms = _distorted_bto(make_bto)
    out = adapter.forward(model, [adapter.graph(model, atoms, potential.modal)])
    calc = load_calculator(name)
    assert calc.model_kind == 'pretrained' and {'Ba', 'Ti', 'O'} <= set(calc.type_names) and calc.r_max > 0
    ref = predict(calc, atoms)
    assert float(out['energy'][0]) == pytest.approx(ref['energy'], abs=1e-3)
    np.testing.assert_allclose(out['forces'].detach().numpy(), ref['forces'], atol=2e-4)
    np.testing.assert_allclose(out['stress'][0].detach().numpy(), ref['stress'], atol=2e-5)
    # ase sign: σ = (1/V) ∂E/∂ε (positive = tensile), checked by a finite strain of the energy
    eps = 2e-3
    energies = []
    for sign in (1, -1):
        strained = atoms.copy()
        strained.set_cell(atoms.cell[:] @ (np.eye(3) + sign * eps * np.diag([0, 0, 1])), scale_atoms=True)
        energies.append(predict(calc, strained)['energy'])
    sigma_zz = (energies[0] - energies[1]) / (2 * eps) / atoms.get_volume()
    assert ref['stress'][2, 2] == pytest.approx(sigma_zz, rel=0.05, abs=2e-4)


@pytest.mark.parametrize('name', CANDIDATES)
def test_reference_energies_shift_by_the_composition_and_the_saved_file_keeps_them(name, make_bto, tmp_path):
    potential = resolve_potential(name)
    adapter = potential.adapter
    model = adapter.load_pretrained(potential)
    model.eval()
    atoms = _distorted_bto(make_bto)
    graph = adapter.graph(model, atoms, potential.modal)
    before = adapter.forward(model, [graph])
    deltas = {'Ba': -1.5, 'Ti': 2.25, 'O': -0.75}  # Σ n δ = -1.5 + 2.25 - 2.25 = -1.5 eV
    adapter.add_reference_energies(model, deltas, potential.modal)
    after = adapter.forward(model, [graph])
    assert float(after['energy'][0] - before['energy'][0]) == pytest.approx(-1.5, abs=2e-3)
    np.testing.assert_allclose(after['forces'].detach().numpy(), before['forces'].detach().numpy(), atol=1e-5)
    path = adapter.save(model, tmp_path / f'model{adapter.suffix}', {'from': potential.name})
    calc = load_calculator(path)
    assert calc.model_kind == adapter.package
    assert predict(calc, atoms)['energy'] == pytest.approx(float(after['energy'][0]), abs=2e-3)


def test_factory_errors_name_the_fix(tmp_path):
    with pytest.raises(ModelError, match='no such model file'):
        load_calculator(tmp_path / 'model.sevenn.pth')
    broken = tmp_path / 'model.chgnet.pt'
    broken.write_bytes(b'not a model')
    with pytest.raises(ModelError, match='could not be loaded'):
        load_calculator(broken)
    with pytest.raises(ModelError, match='no CUDA'):
        load_calculator('sevennet-0', device='cuda')
