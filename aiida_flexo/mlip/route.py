"""Which potential to train, and training it: Allegro from scratch, a fine-tuned universal potential, a committee.

:func:`train_potential` is what ``aiida-flexo mlip train`` (and so the ``flexo.mlip.train`` CalcJob) runs. It
dispatches on the settings: ``from_potential`` set -> :func:`aiida_flexo.mlip.finetune.finetune`, else
:func:`aiida_flexo.mlip.train.train` (Allegro); ``committee`` K >= 2 -> K members in ``out_dir/member_<k>`` with
different seeds and train/validation splits around one shared test set, packed into ``model.committee.zip``.

:func:`choose_route` is the rule the pipeline and its protocols apply when the user does not choose: small frame
sets fine-tune a pretrained universal potential (Allegro from scratch needs thousands of frames to be competitive:
96 meV/Å from 47 BaTiO3 frames against 24 meV/Å for fine-tuned SevenNet-0, 2 cores, 20 min each); large ones
train Allegro, fast enough for large MD without distillation.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from ase import Atoms

from aiida_flexo.data import committee_split, frames_hash, make_split
from aiida_flexo.mlip.config import TrainingSettings
from aiida_flexo.mlip.train import CURVE_FILE, METRICS_FILE, TrainResult

#: below this many labelled frames the pipeline fine-tunes a pretrained potential (see the module docstring)
FINETUNE_BELOW_FRAMES = 500
#: the pretrained potential the pipeline fine-tunes by default (the best fine-tuned on the bundled BaTiO3 frames)
DEFAULT_UNIVERSAL = 'sevennet-0'


def choose_route(n_frames: int, species: Sequence[str] = ()) -> str | None:
    """The pretrained potential to fine-tune for ``n_frames`` labelled frames, or ``None`` for Allegro.

    Falls back to Allegro when no universal potential is installed or the default one lacks a species.
    """
    if n_frames >= FINETUNE_BELOW_FRAMES:
        return None
    from aiida_flexo.mlip.universal import UnknownPotentialError, resolve_potential

    try:
        resolve_potential(DEFAULT_UNIVERSAL)
    except UnknownPotentialError:
        return None
    return DEFAULT_UNIVERSAL


def _train_single(frames, out_dir, settings, *, resume, compile, source, split, device) -> TrainResult:
    if settings.from_potential:
        from aiida_flexo.mlip.finetune import finetune

        return finetune(frames, out_dir, settings, resume=resume, source=source, split=split, device=device)
    from aiida_flexo.mlip.train import train

    return train(frames, out_dir, settings, resume=resume, compile=compile, source=source, split=split)


def train_potential(
    frames: Sequence[Atoms],
    out_dir: str | Path,
    settings: TrainingSettings,
    *,
    resume: bool = False,
    compile: bool = False,
    source: str = 'frames',
    device: str = 'cpu',
) -> TrainResult:
    """Train the potential ``settings`` describe (route and committee); the outputs of one training in ``out_dir``.

    A committee's ``max_time`` is shared: each member gets ``max_time / K``. Its ``metrics.json`` has the keys of
    one training, with ``test`` the committee mean's errors on the shared test frames and ``val`` the mean of the
    members' validation errors, plus ``members`` (each member's metrics) and ``committee`` (size, mean and largest
    per-frame force deviation on the test frames, and how the deviation tracks the true error).
    """
    if settings.committee == 1:
        return _train_single(
            frames,
            out_dir,
            settings,
            resume=resume,
            compile=compile,
            source=source,
            split=None,
            device=device,
        )
    from aiida_flexo.mlip.committee import COMMITTEE_FILE, write_committee

    start = time.perf_counter()
    out_dir = Path(out_dir).resolve()
    if (out_dir / COMMITTEE_FILE).is_file() and not resume:
        from aiida_flexo.mlip.train import TrainingError

        raise TrainingError(f'{out_dir} already holds a committee; choose a new output directory')
    out_dir.mkdir(parents=True, exist_ok=True)
    base = make_split(len(frames), fractions=settings.fractions, seed=settings.seed)
    share = None if settings.max_time is None else settings.max_time / settings.committee
    members: list[TrainResult] = []
    for k in range(settings.committee):
        member_dir = out_dir / f'member_{k}'
        done = member_dir / METRICS_FILE
        member_settings = settings.updated(seed=settings.seed + k, committee=1, max_time=share)
        if resume and done.is_file():
            metrics = json.loads(done.read_text())
            members.append(
                TrainResult(
                    member_dir,
                    member_dir / metrics['model_file'],
                    done,
                    member_dir / CURVE_FILE,
                    member_dir / metrics['model_file'],
                    metrics,
                )
            )
            continue
        members.append(
            _train_single(
                frames,
                member_dir,
                member_settings,
                resume=resume,
                compile=False,
                source=f'{source} (committee member {k})',
                split=committee_split(base, k),
                device=device,
            )
        )
    model_path = write_committee([m.model_path for m in members], out_dir / COMMITTEE_FILE)
    curve_path = _merge_curves(members, out_dir / CURVE_FILE)
    metrics = _committee_metrics(frames, base, members, model_path, settings, source, device)
    metrics['wall_time_s'] = time.perf_counter() - start
    write_committee([m.model_path for m in members], model_path, metrics=metrics)
    metrics_path = out_dir / METRICS_FILE
    metrics_path.write_text(json.dumps(metrics, indent=2))
    return TrainResult(out_dir, model_path, metrics_path, curve_path, model_path, metrics)


def _merge_curves(members: Sequence[TrainResult], path: Path) -> Path:
    """One learning curve with a leading ``member`` column."""
    import csv

    rows, columns = [], None
    for k, member in enumerate(members):
        with open(member.learning_curve_path, newline='') as handle:
            reader = csv.DictReader(handle)
            columns = columns or ['member', *reader.fieldnames]
            rows += [{'member': k, **row} for row in reader]
    with open(path, 'w', newline='') as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    return path


def _mean_metrics(dicts: Sequence[dict]) -> dict:
    out = {}
    for key in dicts[0]:
        values = [d[key] for d in dicts]
        if all(isinstance(v, (int, float)) for v in values):
            out[key] = float(np.mean(values))
        else:
            out[key] = None
    return out


def _committee_metrics(frames, base, members, model_path, settings, source, device) -> dict:
    from aiida_flexo.mlip.calculator import load_calculator
    from aiida_flexo.mlip.committee import frame_uncertainty
    from aiida_flexo.mlip.metrics import error_metrics

    calculator = load_calculator(model_path, device=device)
    test_frames = [frames[i] for i in (base.test or base.val)]
    test = error_metrics(calculator, test_frames, source=f'{source} (shared test frames)')
    deviation, error = [], []
    for atoms in test_frames:
        probe = atoms.copy()
        probe.calc = calculator
        forces = probe.get_forces()
        info = frame_uncertainty(calculator)
        deviation.append(info['force_std_max_meV_A'])
        error.append(float(np.max(np.linalg.norm(forces - atoms.arrays['forces'], axis=1))) * 1e3)
    first = members[0].metrics
    return {
        'val': _mean_metrics([m.metrics['val'] for m in members]),
        'test': test,
        'best_epoch': first.get('best_epoch'),
        'epochs': int(sum(m.metrics.get('epochs') or 0 for m in members)),
        'train_time_s': float(sum(m.metrics.get('train_time_s') or 0 for m in members)),
        'n_train': first['n_train'],
        'n_val': first['n_val'],
        'n_test': len(base.test),
        'type_names': first['type_names'],
        'frames_sha256': frames_hash(frames),
        'resumed_from': None,
        'settings': settings.as_dict(),
        'model_file': model_path.name,
        'route': first.get('route', settings.route),
        'from_potential': settings.from_potential,
        'members': [m.metrics for m in members],
        'committee': {
            'size': len(members),
            'test_force_std_max_meV_A': deviation,
            'test_force_max_error_meV_A': error,
            'test_force_std_mean_of_max_meV_A': float(np.mean(deviation)),
            'deviation_error_correlation': (
                float(np.corrcoef(deviation, error)[0, 1])
                if len(deviation) > 2 and np.std(deviation) > 0
                else None
            ),
        },
    }
