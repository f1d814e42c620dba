"""Bad input on the dipole-GNN route: one clear ``Error:`` line naming the problem and the fix, before any work.

One model is trained once (one epoch on six 5-atom BaTiO3 frames); every case runs the command line on it.
"""

from __future__ import annotations

import copy
import hashlib
import importlib
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.io import write
from click.testing import CliRunner

from aiida_flexo.cli import main
from aiida_flexo.data import write_frames

TRAIN = ['--epochs', '1', '--cutoff', '4.5', '--quiet']


def batio3_frames(n: int, seed: int = 0) -> list[Atoms]:
    """``n`` displaced 5-atom BaTiO3 cells with (arbitrary) dipole and Born-charge labels."""
    rng = np.random.default_rng(seed)
    frames = []
    for _ in range(n):
        atoms = Atoms(
            'BaTiO3',
            scaled_positions=[[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]],
            cell=[4.0, 4.0, 4.1],
            pbc=True,
        )
        atoms.positions += rng.normal(scale=0.08, size=(5, 3))
        atoms.info['dipole'] = rng.normal(size=3)
        atoms.arrays['born_charges'] = np.einsum('i,ab->iab', [2.0, 4.0, -2.0, -2.0, -2.0], np.eye(3))
        frames.append(atoms)
    return frames


def invoke(*args: str | Path):
    """Run ``aiida-flexo ARGS`` in-process."""
    return CliRunner().invoke(main, [str(a) for a in args])


def assert_refused(result, *fragments: str) -> str:
    """Exit 1 with exactly one ``Error:`` line containing every fragment (and no traceback); returns that line."""
    errors = [line for line in result.output.splitlines() if line.startswith('Error:')]
    assert result.exit_code == 1, result.output
    assert len(errors) == 1 and 'Traceback' not in result.output, result.output
    for fragment in fragments:
        assert fragment in errors[0], errors[0]
    return errors[0]


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope='module')
def root(tmp_path_factory) -> Path:
    """A folder with data files (good and bad) and a trained run ``run/`` (its model: ``run/model.pt``)."""
    root = tmp_path_factory.mktemp('gnn_bad_input')
    good = batio3_frames(6)
    write_frames(root / 'data.xyz', good)
    write_frames(root / 'one.xyz', good[:1])
    for name, spoil in {
        'nan_dipole': lambda f: f[2].info['dipole'].__setitem__(1, np.nan),
        'inf_born': lambda f: f[3].arrays['born_charges'].__setitem__((4, 0, 0), np.inf),
        'nan_forces': lambda f: f[1].arrays.__setitem__('forces', np.full((5, 3), np.nan)),
        'nan_position': lambda f: f[1].positions.__setitem__((2, 0), np.nan),
    }.items():
        frames = copy.deepcopy(good)
        spoil(frames)
        write_frames(root / f'{name}.xyz', frames)
    structures = [Atoms(a.numbers, a.positions, cell=a.cell, pbc=True) for a in good[:2]]
    structures[1].positions[3, 2] = np.nan
    write(root / 'nan_structure.xyz', structures, format='extxyz')
    flat = structures[0].copy()
    flat.set_cell([4.0, 4.0, 0.01], scale_atoms=False)  # flattened: 0.03 Å³ per atom
    write(root / 'flat.xyz', [structures[0], flat], format='extxyz')
    result = invoke('gnn', 'train', root / 'data.xyz', '--out', root / 'run', *TRAIN)
    assert result.exit_code == 0, result.output
    return root


@pytest.fixture
def run_copy(root, tmp_path) -> Path:
    """A copy of the trained run folder (to resume from or to spoil)."""
    return Path(shutil.copytree(root / 'run', tmp_path / 'run'))


# 1. outputs: never an input, an existing one only with --overwrite
@pytest.mark.parametrize(
    ('out', 'fragments'),
    [
        ('data.xyz', ['the output', 'data.xyz is also an input', 'choose another output path']),
        ('run/model.pt', ['model.pt is also an input']),
        ('run/metrics.json', ['metrics.json exists', 'pass --overwrite']),
    ],
    ids=['out-is-the-data', 'out-is-the-model', 'out-exists'],
)
def test_predict_refuses_to_replace_an_input_or_an_existing_file(root, out, fragments):
    before = digest(root / out)
    result = invoke('gnn', 'predict', root / 'run/model.pt', root / 'data.xyz', '--out', root / out)
    assert_refused(result, *fragments)
    assert digest(root / out) == before, 'the file was not touched'


def test_predict_overwrite_replaces_an_output_but_never_an_input(root, tmp_path):
    out = tmp_path / 'pred.json'
    out.write_text('old')
    ok = invoke('gnn', 'predict', root / 'run/model.pt', root / 'data.xyz', '--out', out, '--overwrite')
    assert ok.exit_code == 0, ok.output
    assert out.read_text().startswith('{')
    same = invoke(
        'gnn', 'predict', root / 'run/model.pt', root / 'data.xyz', '--out', root / 'data.xyz', '--overwrite'
    )
    assert_refused(same, 'is also an input')


# 2. NaN or infinite labels and positions: refused where frames are read, by every route
@pytest.mark.parametrize(
    ('command', 'fragments'),
    [
        (
            ['gnn', 'train', '{root}/nan_dipole.xyz', '--out', '{tmp}/out'],
            ['frame 2: label "dipole"', 'is NaN'],
        ),
        (
            ['gnn', 'train', '{root}/inf_born.xyz', '--out', '{tmp}/out'],
            ['frame 3: label "born_charges"', '[4]'],
        ),
        (
            ['gnn', 'train', '{root}/nan_position.xyz', '--out', '{tmp}/out'],
            ['frame 1: non-finite atomic positions'],
        ),
        (
            ['gnn', 'eval', '{root}/run/model.pt', '{root}/nan_dipole.xyz'],
            ['frame 2: label "dipole"', 'relabel'],
        ),
        (
            ['gnn', 'eval', '{root}/run/model.pt', '{root}/nan_forces.xyz'],
            ['frame 1: label "forces" (eV/Å) is NaN'],
        ),
        (
            ['frames', 'import', '{root}/nan_forces.xyz'],
            ['nan_forces.xyz, frame 1: label "forces" (eV/Å) is NaN'],
        ),
    ],
    ids=[
        'train-dipole',
        'train-born-charges',
        'train-position',
        'eval-dipole',
        'eval-forces',
        'frames-import',
    ],
)
def test_non_finite_labels_are_refused(root, tmp_path, monkeypatch, command, fragments):
    monkeypatch.setattr(
        'aiida_flexo.cli.frames.load_cli_profile', lambda profile: None
    )  # refused before storing
    result = invoke(*(part.format(root=root, tmp=tmp_path) for part in command))
    assert_refused(result, *fragments)
    assert not (tmp_path / 'out').exists() or not any((tmp_path / 'out').iterdir())


def test_a_diverging_training_stops_without_saving_a_model(root, tmp_path, monkeypatch):
    train_module = importlib.import_module(
        'aiida_flexo.gnn.training'
    )  # the module (gnn.train is the function)

    original = train_module.batch_loss

    def diverging(*args, **kwargs):
        loss, parts = original(*args, **kwargs)
        return loss * float('nan'), parts

    monkeypatch.setattr(train_module, 'batch_loss', diverging)
    result = invoke('gnn', 'train', root / 'data.xyz', '--out', tmp_path / 'out', *TRAIN)
    assert_refused(result, 'the training loss became nan at epoch 0', 'no model was saved', 'lower --lr')
    assert not (tmp_path / 'out' / 'model.pt').exists()


def test_a_model_with_nan_weights_is_refused(root, tmp_path):
    payload = torch.load(root / 'run/model.pt', weights_only=True)
    payload['state_dict']['readout.weight'][0] = float('nan')
    torch.save(payload, tmp_path / 'nan.pt')
    result = invoke('gnn', 'eval', tmp_path / 'nan.pt', root / 'data.xyz')
    assert_refused(result, 'NaN or infinite weights (readout.weight)', 'train it again')


# 3. an existing non-empty --out folder: only with --overwrite or --resume
def test_train_refuses_a_non_empty_out_folder(root, run_copy):
    before = digest(run_copy / 'model.pt')
    result = invoke('gnn', 'train', root / 'data.xyz', '--out', run_copy, *TRAIN)
    assert_refused(result, f'the folder {run_copy} exists and is not empty', 'pass --overwrite')
    assert digest(run_copy / 'model.pt') == before
    assert invoke('gnn', 'train', root / 'data.xyz', '--out', run_copy, *TRAIN, '--overwrite').exit_code == 0


# 4. too few frames for the split
def test_one_frame_is_too_few_for_a_split_unless_held_out_sets_are_off(root, tmp_path):
    result = invoke('gnn', 'train', root / 'one.xyz', '--out', tmp_path / 'out', *TRAIN)
    assert_refused(
        result, '1 frame(s) are too few', 'give at least 3 frames', '--val-fraction 0 --test-fraction 0'
    )
    assert not any((tmp_path / 'out').iterdir()), 'nothing written'
    whole = invoke(
        'gnn',
        'train',
        root / 'one.xyz',
        '--out',
        tmp_path / 'all',
        *TRAIN,
        '--val-fraction',
        '0',
        '--test-fraction',
        '0',
    )
    assert whole.exit_code == 0, whole.output
    assert 'nan' not in whole.output and 'val    no frames' in whole.output


# 5. --resume with another architecture
@pytest.mark.parametrize(
    ('options', 'fragment'),
    [
        (['--cutoff', '4'], 'cutoff 4.5 in the checkpoint, 4.0 given'),
        (['--triplet-cutoff', '3'], '--triplet-cutoff 3.5 in the checkpoint, 3.0 given'),
        (['--float64'], "dtype 'float32' in the checkpoint, 'float64' given"),
    ],
    ids=['cutoff', 'triplet-cutoff', 'dtype'],
)
def test_resume_refuses_changed_settings(root, run_copy, options, fragment):
    result = invoke(
        'gnn', 'train', root / 'data.xyz', '--out', run_copy, '--resume', '--quiet', '--epochs', '2', *options
    )
    assert_refused(
        result, f'--resume: {run_copy / "checkpoint.pt"} was trained with other settings', fragment
    )


def test_resume_with_the_same_cutoff_continues(root, run_copy):
    result = invoke(
        'gnn', 'train', root / 'data.xyz', '--out', run_copy, '--resume', *TRAIN[:1], '2', *TRAIN[2:]
    )
    assert result.exit_code == 0, result.output
    assert 'after 2 epochs' in result.output


# 6. a cutoff no bond is shorter than
@pytest.mark.parametrize(
    ('cutoff', 'fragments'),
    [
        ('0.5', ['frame 0: the cutoff 0.5 Å is shorter than the shortest interatomic distance (1.', 'Å)']),
        ('0', ['cutoff must be positive (Å), got 0.0']),
        ('-1', ['cutoff must be positive (Å), got -1.0']),
    ],
    ids=['below-shortest-bond', 'zero', 'negative'],
)
def test_train_refuses_a_cutoff_below_the_shortest_bond(root, tmp_path, cutoff, fragments):
    result = invoke(
        'gnn', 'train', root / 'data.xyz', '--out', tmp_path / 'out', '--cutoff', cutoff, '--quiet'
    )
    assert_refused(result, *fragments, 'default 5')
    assert not (tmp_path / 'out').exists() or not any((tmp_path / 'out').iterdir())


# 7. --device cuda where torch has no CUDA
@pytest.mark.parametrize(
    'command',
    [
        ['gnn', 'train', '{root}/data.xyz', '--out', '{tmp}/out'],
        ['gnn', 'eval', '{root}/run/model.pt', '{root}/data.xyz'],
        ['gnn', 'predict', '{root}/run/model.pt', '{root}/data.xyz'],
        ['mlip', 'train', '{root}/data.xyz', '--out', '{tmp}/out'],
    ],
    ids=['gnn-train', 'gnn-eval', 'gnn-predict', 'mlip-train'],
)
def test_cuda_on_a_cpu_build_of_torch_is_refused(root, tmp_path, monkeypatch, command):
    monkeypatch.setattr(torch.version, 'cuda', None)  # a CPU build of torch, on any machine
    result = invoke(*(part.format(root=root, tmp=tmp_path) for part in command), '--device', 'cuda')
    assert_refused(result, '--device cuda: CUDA is not available in this torch build', 'use --device cpu')
    assert not (tmp_path / 'out').exists()


def test_mlip_calculators_use_the_same_device_check(monkeypatch):
    from aiida_flexo.mlip import ModelError, load_calculator

    monkeypatch.setattr(torch.version, 'cuda', None)
    with pytest.raises(ModelError, match='CUDA is not available in this torch build'):
        load_calculator('sevennet-0', device='cuda')
    with pytest.raises(ModelError, match='is not a torch device'):
        load_calculator('sevennet-0', device='gpu0')


# 8. a structure no neighbour list can work on
@pytest.mark.parametrize(
    ('structure', 'fragments'),
    [
        ('nan_structure.xyz', ['nan_structure.xyz, frame 1: non-finite atomic positions (atoms [3])']),
        (
            'flat.xyz',
            ['flat.xyz, frame 1: the periodic cell is degenerate', 'Å³ per atom', 'three independent'],
        ),
    ],
    ids=['nan-coordinate', 'flattened-cell'],
)
def test_predict_refuses_a_broken_structure_before_the_neighbour_list(root, tmp_path, structure, fragments):
    result = invoke('gnn', 'predict', root / 'run/model.pt', root / structure, '--out', tmp_path / 'p.xyz')
    assert_refused(result, *fragments)
    assert not (tmp_path / 'p.xyz').exists()


# 9. checkpoints: written atomically; an unreadable one is a clear error
def test_resume_from_a_truncated_checkpoint_names_the_file(root, run_copy):
    checkpoint = run_copy / 'checkpoint.pt'
    checkpoint.write_bytes(checkpoint.read_bytes()[:1000])
    result = invoke(
        'gnn', 'train', root / 'data.xyz', '--out', run_copy, '--resume', '--quiet', '--epochs', '2'
    )
    assert_refused(result, f'--resume: {checkpoint} cannot be read', 'with --overwrite instead of --resume')


def test_a_run_killed_while_saving_keeps_the_previous_checkpoint(root, run_copy, monkeypatch):
    from aiida_flexo.gnn.checkpoint import read_checkpoint

    before = {name: digest(run_copy / name) for name in ('checkpoint.pt', 'log.csv', 'model.pt')}
    original = torch.save

    def killed(obj, path, *args, **kwargs):
        original(obj, path, *args, **kwargs)
        Path(path).write_bytes(Path(path).read_bytes()[:100])  # half written when the signal came
        raise KeyboardInterrupt('SIGTERM')

    monkeypatch.setattr(torch, 'save', killed)
    result = invoke(
        'gnn', 'train', root / 'data.xyz', '--out', run_copy, '--resume', '--quiet', '--epochs', '2'
    )
    assert isinstance(result.exception, KeyboardInterrupt) or result.exit_code != 0
    assert digest(run_copy / 'checkpoint.pt') == before['checkpoint.pt'], 'the old checkpoint is intact'
    assert digest(run_copy / 'model.pt') == before['model.pt']
    assert read_checkpoint(run_copy / 'checkpoint.pt').epoch == 0
    assert (run_copy / 'log.csv').stat().st_size > 0
    assert not list(run_copy.glob('.*.part')), 'no temporary file is left'
