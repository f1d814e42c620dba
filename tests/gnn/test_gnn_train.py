"""Training: an analytic bond-charge dipole model is fitted to machine precision; runs are reproducible and
resumable; saved models load without training state."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from ase.neighborlist import neighbor_list

from aiida_flexo.gnn import (
    DipoleGNN,
    ModelFileError,
    TrainConfig,
    build_graph,
    load_model,
    make_samples,
    read_model_file,
    save_model,
    train,
)
from aiida_flexo.gnn.training import batch_loss, evaluate_samples

#: bond charges q[Z_k, Z_j] (e·Å) of the analytic model, species order Ba, Ti, O
BOND_CHARGES = np.array([[0.0, 0.4, -0.9], [-0.4, 0.0, 1.3], [0.9, -1.3, 0.2]])
SPECIES = ['Ba', 'Ti', 'O']


def _envelope(r, cutoff, p=6):
    x = r / cutoff
    a, b, c = (p + 1) * (p + 2) / 2, p * (p + 2), p * (p + 1) / 2
    u = 1 - a * x**p + b * x ** (p + 1) - c * x ** (p + 2)
    du = (-a * p * x ** (p - 1) + b * (p + 1) * x**p - c * (p + 2) * x ** (p + 1)) / cutoff
    return u, du


def bond_charge_labels(atoms, cutoff):
    """Dipole and Born charges of the bond-charge model ``d = Σ_(k→j) q_kj u(r) r_kj / r`` (independent numpy
    implementation with ase's neighbour list), e·Å and e."""
    i, j, d_vec = neighbor_list('ijD', atoms, cutoff)
    v = -d_vec  # edge j → i points from the neighbour j to the centre i
    r = np.linalg.norm(v, axis=1)
    index = {s: n for n, s in enumerate(SPECIES)}
    z = np.array([index[s] for s in atoms.get_chemical_symbols()])
    q = BOND_CHARGES[z[j], z[i]]
    u, du = _envelope(r, cutoff)
    g = q * u / r
    dg = q * (du * r - u) / r**2
    dipole = (g[:, None] * v).sum(0)
    jac = g[:, None, None] * np.eye(3) + (dg / r)[:, None, None] * v[:, :, None] * v[:, None, :]
    born = np.zeros((len(atoms), 3, 3))
    np.add.at(born, i, jac)
    np.add.at(born, j, -jac)
    return dipole, born


@pytest.fixture
def analytic_frames(bto_cell):
    """Displaced BaTiO3 cells (one triclinic) labelled by the analytic model; the dipole labels are moved by
    random quanta and by a half quantum along every lattice vector (the offset of a centrosymmetric reference on
    a half quantum), as Berry-phase labels can be."""
    rng = np.random.default_rng(11)
    frames = []
    for k in range(10):
        atoms = bto_cell(a=4.0 + 0.05 * (k % 3), seed=k, amplitude=0.1)
        if k % 4 == 3:
            atoms.set_cell(
                atoms.cell[:] + np.array([[0, 0, 0], [0.3, 0, 0], [0.2, -0.25, 0]]), scale_atoms=True
            )
        dipole, born = bond_charge_labels(atoms, 4.5)
        quanta = rng.integers(-2, 3, size=3) @ atoms.cell[:]
        atoms.info['dipole'] = dipole + quanta + 0.5 * atoms.cell[:].sum(axis=0)
        atoms.info['charge_quantum'] = 1.0
        atoms.arrays['born_charges'] = born
        frames.append(atoms)
    return frames


def test_training_fits_the_analytic_bond_charge_model_to_machine_precision(
    analytic_frames, make_config, tmp_path
):
    result = train(
        analytic_frames,
        tmp_path / 'run',
        make_config(),
        # a near-exact least squares (no singular-value cut-off to speak of) recovers the model exactly
        TrainConfig(
            epochs=2, seed=3, reference_offset='half-quantum', fractions=(0.6, 0.2, 0.2), bond_rcond=1e-10
        ),
        progress=False,
    )
    metrics = result.metrics
    assert metrics['dipole_offset_fractional'] == [0.5, 0.5, 0.5], 'the half-quantum offset is found'
    for subset in ('train', 'val', 'test'):
        assert metrics[f'{subset}_dipole_mae_eA'] < 1e-9
        assert metrics[f'{subset}_bec_mae_e'] < 1e-9
    # the bond charges are recovered; same-species ones cancel in d and Z* (edges k → j and j → k), so the
    # minimum-norm fit leaves them at zero
    fitted = result.model.bond_coefficients.detach()[:, :, 0].numpy()
    np.testing.assert_allclose(fitted, BOND_CHARGES - np.diag(np.diag(BOND_CHARGES)), atol=1e-7)


def test_gradient_descent_on_the_folded_losses_reaches_machine_precision(analytic_frames, make_config):
    """LBFGS from zero bond charges through the training loss (folded dipoles + autograd Born charges)."""
    model = DipoleGNN(make_config())  # readout zero: only the bond-charge part is trained here
    with torch.no_grad():
        model.dipole_offset.copy_(torch.tensor([0.5, 0.5, 0.5]))
    # train the constant bond charges B[:, :, 0] (the radial ones stay zero): a well-conditioned problem
    mask = torch.zeros_like(model.bond_coefficients)
    mask[:, :, 0] = 1.0
    model.bond_coefficients.register_hook(lambda grad: grad * mask)
    samples = make_samples(analytic_frames[:4], model.config)
    optimizer = torch.optim.LBFGS(
        [model.bond_coefficients],
        lr=1,
        max_iter=60,
        tolerance_grad=1e-16,
        tolerance_change=1e-30,
        line_search_fn='strong_wolfe',
    )

    def closure():
        optimizer.zero_grad()
        loss, _ = batch_loss(model, samples, dipole_weight=1.0, bec_weight=1.0, create_graph=True)
        loss.backward()
        return loss

    initial = float(closure().detach())
    optimizer.step(closure)
    final = float(closure().detach())
    assert initial > 0.1
    assert final < 1e-18
    errors = evaluate_samples(model, make_samples(analytic_frames[4:], model.config))
    assert errors['dipole_mae_eA'] < 1e-8 and errors['bec_mae_e'] < 1e-8, 'the fit transfers to unseen frames'


def test_training_is_reproducible_and_resumes_exactly(analytic_frames, make_config, tmp_path):
    settings = dict(epochs=2, seed=5, batch_size=2, fractions=(0.6, 0.2, 0.2), lr=1e-2)
    straight = train(analytic_frames, tmp_path / 'a', make_config(), TrainConfig(**settings), progress=False)
    again = train(analytic_frames, tmp_path / 'b', make_config(), TrainConfig(**settings), progress=False)
    first = train(
        analytic_frames,
        tmp_path / 'c',
        make_config(),
        TrainConfig(**dict(settings, epochs=1)),
        progress=False,
    )
    resumed = train(
        analytic_frames, tmp_path / 'c', make_config(), TrainConfig(**settings), resume=True, progress=False
    )
    assert first.metrics['epochs_run'] == 1 and resumed.metrics['epochs_run'] == 2
    for other in (again, resumed):
        assert other.split == straight.split
        assert other.history[-1]['train_loss'] == pytest.approx(
            straight.history[-1]['train_loss'], rel=1e-12, abs=0
        )
        for key, value in straight.model.state_dict().items():
            torch.testing.assert_close(other.model.state_dict()[key], value, rtol=1e-12, atol=1e-14)
    for name in ('model.pt', 'metrics.json', 'split.json', 'log.csv', 'parity.png', 'checkpoint.pt'):
        assert (tmp_path / 'a' / name).is_file(), name
    split = json.loads((tmp_path / 'a' / 'split.json').read_text())
    assert sorted(split['train'] + split['val'] + split['test']) == list(range(len(analytic_frames)))
    metrics = json.loads((tmp_path / 'a' / 'metrics.json').read_text())
    assert {'train_dipole_mae_eA', 'val_dipole_rmse_eA', 'test_bec_mae_e', 'train_wall_time_s'} <= set(
        metrics
    )


def test_save_load_round_trip_gives_identical_predictions(make_model, bto_cell, tmp_path):
    model = make_model(seed=9)
    path = save_model(
        tmp_path / 'model.pt', model, training_data_hash='abc', split={'train': [0], 'val': [], 'test': []}
    )
    predictor = load_model(path)
    atoms = bto_cell(seed=4).repeat((2, 1, 1))
    graph = build_graph(atoms, SPECIES, model.config.cutoff)
    with torch.no_grad():
        expected = model(graph).numpy()
    np.testing.assert_array_equal(predictor.per_atom_dipoles(atoms), expected)
    assert predictor.training_data_hash == 'abc'
    assert predictor.species == SPECIES and predictor.cutoff == model.config.cutoff
    _, meta = read_model_file(path)
    assert meta['units']['dipole'] == 'e·Å' and meta['format'] == 'aiida-flexo-gnn'
    (tmp_path / 'other.pt').write_bytes(b'not a torch file')
    torch.save({'some': 'dict'}, tmp_path / 'dict.pt')
    for name in ('other.pt', 'dict.pt'):
        with pytest.raises(ModelFileError, match='not an aiida-flexo GNN model'):
            load_model(tmp_path / name)


def test_fixed_branches_see_a_quantum_that_folding_hides(bto_cell):
    """With label_branches='fixed' a label moved by one quantum is a different label; folded, it is the same."""
    from tiny_models import random_model

    model = random_model(seed=2)
    atoms = bto_cell(a=4.0, seed=0, amplitude=0.1)
    atoms.info['dipole'] = np.array([0.1, -0.2, 0.9])
    atoms.info['charge_quantum'] = 2.0
    shifted = atoms.copy()
    shifted.info['dipole'] = atoms.info['dipole'] + 2.0 * atoms.cell[2]
    (sample, moved) = make_samples([atoms, shifted], model.config)
    losses = {}
    for fold in (True, False):
        losses[fold] = [
            float(batch_loss(model, [s], 1.0, 0.0, create_graph=False, fold=fold)[0]) for s in (sample, moved)
        ]
    assert losses[True][0] == pytest.approx(losses[True][1], rel=1e-10)
    assert losses[False][1] > losses[False][0] + 1.0


def test_perovskite_born_branches_train_on_pto_sto(tmp_path):
    from aiida_flexo.data import read_frames
    from aiida_flexo.gnn import GNNConfig
    from aiida_flexo.resources import bundled_path

    frames = read_frames(bundled_path('PbTiO3_SrTiO3_gpaw_fast.xyz'), require=('dipole',))[::3]
    config = GNNConfig(
        cutoff=4.5, triplet_cutoff=3.2, hidden=8, edge_channels=8, triplet_channels=4, n_blocks=1
    )
    result = train(
        frames,
        tmp_path,
        config,
        TrainConfig(epochs=2, label_branches='perovskite-born', fractions=(0.6, 0.2, 0.2)),
        progress=False,
    )
    assert result.metrics['label_branches'] == 'perovskite-born'
    assert result.metrics['reference_offset'] == 'zero'  # fixed branches: zero at the cubic parent
    assert result.metrics['dipole_offset_fractional'] == [0.0, 0.0, 0.0]
    assert np.isfinite(result.metrics['test_dipole_mae_eA'])
    with pytest.raises(ValueError, match='label_branches must be one of'):
        TrainConfig(label_branches='nearest')


def test_perovskite_born_branches_need_perovskites(tmp_path, analytic_frames):
    from aiida_flexo.data import FramesError

    frames = [a.copy() for a in analytic_frames[:5]]
    for atoms in frames:
        atoms.set_chemical_symbols(['Si'] * len(atoms))
    with pytest.raises(FramesError, match='needs ABO3 perovskite frames'):
        train(
            frames,
            tmp_path,
            train_config=TrainConfig(epochs=1, label_branches='perovskite-born'),
            progress=False,
        )


def test_bond_fit_stays_bounded_where_pairs_sit_at_few_distances(tmp_path):
    """A–B pairs of 5-atom perovskite cells span a narrow distance range: a near-exact least-squares bond fit
    (old cut-off 1e-10) gives cancelling coefficients of ~10⁵–10⁶ e·Å that explode off the training distances;
    the default cut-off keeps them of order e·Å with nearly the same training residual."""
    from aiida_flexo.data import read_frames
    from aiida_flexo.resources import pto_sto_frame_paths

    frames = [f for path in pto_sto_frame_paths() for f in read_frames(path, require=('dipole',))]
    metrics = {}
    for rcond in (1e-10, None):
        config = TrainConfig(epochs=0, label_branches='perovskite-born')
        if rcond is not None:
            config.bond_rcond = rcond
        metrics[rcond] = train(frames, tmp_path / str(rcond), train_config=config, progress=False).metrics
    tight, default = metrics[1e-10], metrics[None]
    assert default['bond_rcond'] == pytest.approx(1e-3)
    assert tight['bond_coefficient_max_eA'] > 1e4
    assert default['bond_coefficient_max_eA'] < 20.0
    assert default['bond_model_dipole_rmse_eA'] < 1.2 * tight['bond_model_dipole_rmse_eA']
    with pytest.raises(ValueError, match='bond_rcond must be in'):
        TrainConfig(bond_rcond=1.5)


def test_silicon_frames_start_from_zero_bond_charges_and_train(tmp_path):
    """The bundled GPAW Si frames (every pair Si–Si: the bond charges cancel exactly): the bond-charge start is
    exactly zero (it fitted rounding noise with ~10⁵ e·Å coefficients before), and a short training stays on the
    scale of the labels (a few meÅ) with the ideal cell as its reference."""
    from aiida_flexo.data import read_frames
    from aiida_flexo.resources import bundled_path

    frames = read_frames(bundled_path('Si_gpaw_fast.xyz'), require=('dipole',))
    labels = np.array([a.info['dipole'] for a in frames])
    assert all(a.info['charge_quantum'] == 2.0 for a in frames)
    spread = float(np.abs(labels - labels.mean(axis=0)).mean())
    assert 1e-4 < spread < 0.05  # second order in the displacements: meÅ, not quanta
    result = train(frames, tmp_path, train_config=TrainConfig(epochs=5, seed=0), progress=False)
    assert result.metrics['bond_coefficient_max_eA'] == 0.0
    assert result.metrics['test_dipole_mae_eA'] < 5 * spread


def test_a_model_that_learned_nothing_is_flagged():
    """Held-out MAE against the labels' mean deviation (the MAE of predicting the mean): above half, a warning."""
    from aiida_flexo.gnn.training import learned_little_warnings

    assert learned_little_warnings({'label_mean_deviation_eA': 0.003, 'test_dipole_mae_eA': 0.0004}) == []
    (message,) = learned_little_warnings({'label_mean_deviation_eA': 0.003, 'test_dipole_mae_eA': 0.0033})
    assert 'learned little' in message and '1.10 of the labels' in message
    (message,) = learned_little_warnings({'label_mean_deviation_eA': 0.003, 'val_dipole_mae_eA': 0.002})
    assert message.startswith('the val dipole MAE')
    assert learned_little_warnings({'label_mean_deviation_eA': float('nan'), 'test_dipole_mae_eA': 1.0}) == []
