"""Labelled frames -> a nequip 0.19 / nequip-allegro 0.8 training configuration (hydra YAML).

:func:`prepare_training` splits a frame set (:func:`aiida_flexo.data.make_split`), writes ``train.xyz``,
``val.xyz``, ``test.xyz`` and ``split.json`` with only the labels the potential learns (energy, forces and,
when weighted, stress) and returns the config dictionary that :func:`write_config` stores as ``config.yaml``
for ``nequip-train -cp DIR -cn config``.

Label mapping (our canonical extxyz -> nequip's ``AtomicDataDict``): ``energy`` (info, eV) -> ``total_energy``,
``forces`` (arrays, eV/Å) -> ``forces``, ``stress`` (info, 9 numbers, eV/Å³) -> ``stress`` (3×3). nequip's stress
is ``(1/V) ∂E/∂ε`` (see ``nequip.nn.grad_output``), the same sign as ase's (positive = tensile), so no sign flip
is applied; ``tests/mlip`` checks it against a finite-difference strain derivative.

Loss (nequip ``EnergyForceStressLoss``, per-atom energy)::

    L = w_E · MSE(E/N) [eV²/atom²] + w_F · MSE(F) [eV²/Å²] + w_S · MSE(σ) [eV²/Å⁶]

The model selection metric (checkpoint, early stopping, learning-rate plateau) is
``√w_E · MAE(E/N) + √w_F · MAE(F) + √w_S · MAE(σ)`` on the validation frames, i.e. the same relative weights as
the loss, in the units of an MAE.

Default weights (w_E, w_F, w_S) = (10, 1, 100): with nequip's (1, 1, 1) the stress term (σ ~ 0.01 eV/Å³) is
negligible and the stress error grows during training (BaTiO3, 47 training frames, small model: validation stress
MAE 1.7 GPa at epoch 40 against 0.14 GPa with (10, 1, 100); forces 12 % worse, energies alike).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms

from aiida_flexo.data import FramesError, Split, check_frames, has_label, make_split, species_of, write_frames
from aiida_flexo.settings import option

#: Allegro hyperparameters per model size. ``tiny`` is for tests (trains in seconds on a CPU); ``small`` (l_max 1) is
#: the default, affordable on CPUs (BaTiO3 1×1×14 relaxations at several steps/s); ``medium`` (l_max 2) is the
#: more accurate choice when a GPU trains it (about 4× slower per epoch and 10× slower to evaluate on CPUs).
MODEL_SIZES: dict[str, dict[str, Any]] = {
    'tiny': {
        'l_max': 1,
        'num_layers': 1,
        'num_scalar_features': 8,
        'num_tensor_features': 4,
        'mlp_width': 8,
        'num_bessels': 6,
    },
    'small': {
        'l_max': 1,
        'num_layers': 2,
        'num_scalar_features': 32,
        'num_tensor_features': 8,
        'mlp_width': 32,
        'num_bessels': 8,
    },
    'medium': {
        'l_max': 2,
        'num_layers': 2,
        'num_scalar_features': 64,
        'num_tensor_features': 16,
        'mlp_width': 64,
        'num_bessels': 8,
    },
}

#: Adam learning rate of each route when none is given (see TrainingSettings.learning_rate).
DEFAULT_LEARNING_RATES = {'allegro': 1e-3, 'finetune': 3e-4}
#: loss of each route when none is given (see TrainingSettings.loss)
DEFAULT_LOSSES = {'allegro': 'mse', 'finetune': 'mse'}

#: The monitored validation metric (a nequip logging key).
MONITOR = 'val0_epoch/weighted_sum'

#: File names inside a training work directory.
TRAIN_FILE, VAL_FILE, TEST_FILE, SPLIT_FILE, CONFIG_NAME = (
    'train.xyz',
    'val.xyz',
    'test.xyz',
    'split.json',
    'config',
)


@dataclass(frozen=True)
class TrainingSettings:
    """Everything that defines an Allegro training run (stored with the model for provenance).

    Attributes:
        cutoff: neighbour cutoff r_max, Å.
        seed: seed of the split, the model initialisation and the data loader.
        fractions: train/validation/test fractions of the frame set.
        energy_weight: loss weight of the per-atom energy MSE (eV/atom)².
        force_weight: loss weight of the force MSE (eV/Å)².
        stress_weight: loss weight of the stress MSE (eV/Å³)²; 0 trains without stress (frames then need none).
        model_size: key of :data:`MODEL_SIZES`.
        model_dtype: ``float32`` (fast) or ``float64`` (exact finite-difference checks, slower).
        max_epochs: maximum number of epochs.
        max_time: wall-time limit of the training, seconds (``None``: no limit); the best checkpoint so far is kept.
        patience: early stopping after this many epochs without improvement of the validation metric.
        learning_rate: Adam learning rate; ``None``: :data:`DEFAULT_LEARNING_RATES` of the route (Allegro from
            scratch 1e-3, fine-tuning a pretrained potential a smaller step that keeps what it knows).
        lr_patience: epochs without improvement before the learning rate is halved.
        batch_size: frames per training batch.
        ema_decay: decay of the exponential moving average of the weights (the EMA weights are exported); 0.99
            averages over ~100 optimizer steps, a few epochs of a small data set (use 0.999 for thousands of frames).
        accelerator: Lightning accelerator (``auto``: a GPU when there is one, else the CPU; or ``cpu``, ``gpu``).
        from_potential: name of a pretrained universal potential to fine-tune
            (:data:`aiida_flexo.mlip.universal.UNIVERSAL_POTENTIALS`); ``None`` trains Allegro from scratch. The
            Allegro-only settings (cutoff, model_size, model_dtype, ema_decay) do not apply to fine-tuning.
        committee: number of models trained with different seeds and train/validation splits (one shared test
            set); their spread is the uncertainty of :class:`aiida_flexo.mlip.committee.CommitteeCalculator`.
        loss: ``'mse'`` or ``'huber'`` (fine-tuning only; ``None``: :data:`DEFAULT_LOSSES` of the route). Huber
            with ``huber_delta`` (in eV/atom, eV/Å and eV/Å³ for the three terms) is quadratic for small and linear
            for large residuals, so it optimises nearly the MAE of the forces, as sevenn's fine-tuning recipe does.
        huber_delta: the Huber threshold (see ``loss``).
    """

    # fields with metadata=option(...) are the user settings: the `mlip train` options, the flexo.mlip.train
    # parameters and the protocols' `mlip` keys (aiida_flexo.settings, aiida_flexo.mlip.settings)
    cutoff: float = field(default=5.0, metadata=option('Neighbour cutoff r_max, Å (Allegro).'))
    seed: int = field(default=0, metadata=option('Seed of the split and the model.'))
    fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)
    energy_weight: float = field(
        default=10.0, metadata=option('Loss weight of the per-atom energy MSE, (eV/atom)².')
    )
    force_weight: float = field(default=1.0, metadata=option('Loss weight of the force MSE, (eV/Å)².'))
    stress_weight: float = field(
        default=100.0, metadata=option('Loss weight of the stress MSE, (eV/Å³)²; 0 trains without stress.')
    )
    model_size: str = field(
        default='small',
        metadata=option(
            'Allegro size (tiny: tests; small: CPUs; medium: l_max 2, for GPUs).', choices=tuple(MODEL_SIZES)
        ),
    )
    model_dtype: str = field(
        default='float32', metadata=option('Model precision.', choices=('float32', 'float64'), name='dtype')
    )
    max_epochs: int = field(default=200, metadata=option('Maximum number of epochs.', name='epochs'))
    max_time: float | None = field(
        default=None,
        metadata=option(
            'Wall-time limit of the training (seconds, or 45m, 2h, 00:30:00); the best model so far is kept.',
            default_text='no limit',
            duration=True,
        ),
    )
    patience: int = field(
        default=40, metadata=option('Early stopping: epochs without improvement of the validation errors.')
    )
    learning_rate: float | None = field(
        default=None,
        metadata=option(
            'Adam learning rate.', default_text='1e-3 for Allegro, 3e-4 for fine-tuning', name='lr'
        ),
    )
    lr_patience: int = field(
        default=10, metadata=option('Epochs without improvement before the learning rate is halved.')
    )
    batch_size: int = field(default=1, metadata=option('Frames per training batch.'))
    ema_decay: float = field(
        default=0.99,
        metadata=option('Decay of the moving average of the weights (Allegro; 0.999: many frames).'),
    )
    accelerator: str = 'auto'
    from_potential: str | None = field(
        default=None,
        metadata=option(
            'Fine-tune this pretrained universal potential instead of training Allegro from scratch: sevennet-0 '
            '(best measured on BaTiO3), sevennet-l3i5, sevennet-mf-0, chgnet-0.3.0 (weights from the installed '
            'sevenn/chgnet packages, never downloaded).',
            default_text='Allegro from scratch',
            flag='--from',
        ),
    )
    committee: int = field(
        default=1,
        metadata=option(
            'Train K >= 2 models (seeds and train/validation splits differ, one shared test set) -> '
            'model.committee.zip, whose spread is the force uncertainty of mlip eval/relax/md.',
            default_text='one model',
        ),
    )
    loss: str | None = field(
        default=None,
        metadata=option(
            'Fine-tuning loss: mse, or huber (threshold --huber-delta in eV/atom, eV/Å, eV/Å³).',
            choices=('mse', 'huber'),
            default_text="the route's",
        ),
    )
    huber_delta: float = field(default=0.01, metadata=option('Huber threshold of the fine-tuning loss.'))

    def __post_init__(self) -> None:
        if self.model_size not in MODEL_SIZES:
            raise ValueError(f'unknown model size {self.model_size!r}; choose one of {sorted(MODEL_SIZES)}')
        if self.model_dtype not in ('float32', 'float64'):
            raise ValueError(f'model_dtype must be "float32" or "float64", got {self.model_dtype!r}')
        if not self.cutoff > 0:
            raise ValueError(f'the cutoff must be positive (Å), got {self.cutoff}')
        for name in ('energy_weight', 'force_weight', 'stress_weight'):
            if getattr(self, name) < 0:
                raise ValueError(f'{name} must be >= 0, got {getattr(self, name)}')
        if self.energy_weight == 0 and self.force_weight == 0:
            raise ValueError('energy_weight and force_weight are both 0: nothing to train on')
        if self.max_epochs < 1:
            raise ValueError(f'max_epochs must be >= 1, got {self.max_epochs}')
        if self.max_time is not None and self.max_time <= 0:
            raise ValueError(f'max_time must be positive (s), got {self.max_time}')
        if self.learning_rate is not None and not self.learning_rate > 0:
            raise ValueError(f'learning_rate must be positive, got {self.learning_rate}')
        if self.batch_size < 1:
            raise ValueError(f'batch_size must be >= 1, got {self.batch_size}')
        if self.loss is not None and self.loss not in ('mse', 'huber'):
            raise ValueError(f'loss must be "mse" or "huber", got {self.loss!r}')
        if self.loss == 'huber' and not self.from_potential:
            raise ValueError(
                'the huber loss applies to fine-tuning (from_potential); Allegro trains with mse'
            )
        if not self.huber_delta > 0:
            raise ValueError(f'huber_delta must be positive, got {self.huber_delta}')
        if self.committee < 1:
            raise ValueError(f'committee must be >= 1 (models), got {self.committee}')
        if self.from_potential is not None:
            from aiida_flexo.mlip.universal import resolve_potential

            object.__setattr__(self, 'from_potential', resolve_potential(self.from_potential).name)
        fractions = tuple(self.fractions)
        if len(fractions) != 3 or min(fractions) < 0 or abs(sum(fractions) - 1) > 1e-6 or fractions[1] <= 0:
            raise ValueError(
                f'split fractions (train, val, test) must be three non-negative numbers summing to 1 with a '
                f'positive validation fraction, got {fractions}'
            )

    @property
    def uses_stress(self) -> bool:
        return self.stress_weight > 0

    @property
    def route(self) -> str:
        """``'finetune'`` (a pretrained universal potential) or ``'allegro'`` (from scratch)."""
        return 'finetune' if self.from_potential else 'allegro'

    @property
    def resolved_loss(self) -> str:
        """The loss: the given one, else the default of the route."""
        return self.loss or DEFAULT_LOSSES[self.route]

    @property
    def resolved_learning_rate(self) -> float:
        """The Adam learning rate: the given one, else the default of the route."""
        return self.learning_rate if self.learning_rate is not None else DEFAULT_LEARNING_RATES[self.route]

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data['fractions'] = list(self.fractions)
        return data

    def updated(self, **changes: Any) -> TrainingSettings:
        return replace(self, **changes)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainingSettings:
        """Settings from a (JSON/AiiDA ``Dict``) mapping; unknown keys raise ``ValueError`` naming them."""
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f'unknown training setting(s) {unknown}; known: {sorted(known)}')
        data = dict(data)
        if 'fractions' in data:
            data['fractions'] = tuple(float(f) for f in data['fractions'])
        return cls(**data)


def training_labels(settings: TrainingSettings) -> tuple[str, ...]:
    """Labels every frame must carry for ``settings``."""
    return ('energy', 'forces', 'stress') if settings.uses_stress else ('energy', 'forces')


def _potential_frame(atoms: Atoms, labels: Sequence[str]) -> Atoms:
    """A copy of a normalized frame with only the structure and ``labels``."""
    out = Atoms(numbers=atoms.numbers, positions=atoms.positions, cell=atoms.cell[:], pbc=atoms.pbc)
    for key in labels:
        if key == 'forces':
            out.arrays['forces'] = np.asarray(atoms.arrays['forces'], dtype=float).copy()
        else:
            out.info[key] = atoms.info[key]
    return out


def check_training_frames(
    frames: Sequence[Atoms], settings: TrainingSettings, source: str = 'frames'
) -> None:
    """Raise :class:`FramesError` unless the frames can train a potential with ``settings`` (finite positions and
    labels: :func:`check_frames`)."""
    check_frames(frames, source=source)
    for i, atoms in enumerate(frames):
        for key in training_labels(settings):
            if not has_label(atoms, key):
                hint = ' or train without stress (stress weight 0)' if key == 'stress' else ''
                raise FramesError(f'{source}, frame {i}: missing label "{key}"; label the frame{hint}')
    if len(frames) < 3:
        raise FramesError(
            f'{source}: {len(frames)} frames; training needs at least 3 (train, validation, test)'
        )


def model_block(settings: TrainingSettings, type_names: Sequence[str]) -> dict[str, Any]:
    """The ``training_module.model`` block of an Allegro model (nequip-allegro 0.8 ``AllegroModel``)."""
    size = MODEL_SIZES[settings.model_size]
    width = size['mlp_width']
    return {
        '_target_': 'allegro.model.AllegroModel',
        'seed': settings.seed,
        'model_dtype': settings.model_dtype,
        'type_names': list(type_names),
        'r_max': float(settings.cutoff),
        'radial_chemical_embed': {
            '_target_': 'allegro.nn.TwoBodyBesselScalarEmbed',
            'num_bessels': size['num_bessels'],
            'bessel_trainable': False,
            'polynomial_cutoff_p': 6,
        },
        'radial_chemical_embed_dim': size['num_scalar_features'],
        'scalar_embed_mlp_hidden_layers_depth': 1,
        'scalar_embed_mlp_hidden_layers_width': width,
        'scalar_embed_mlp_nonlinearity': 'silu',
        'l_max': size['l_max'],
        'num_layers': size['num_layers'],
        'num_scalar_features': size['num_scalar_features'],
        'num_tensor_features': size['num_tensor_features'],
        'allegro_mlp_hidden_layers_depth': 1,
        'allegro_mlp_hidden_layers_width': width,
        'allegro_mlp_nonlinearity': 'silu',
        'parity': True,
        'tp_path_channel_coupling': True,
        'readout_mlp_hidden_layers_depth': 1,
        'readout_mlp_hidden_layers_width': width,
        'readout_mlp_nonlinearity': 'silu',
        # data statistics of the training frames, computed by nequip-train (CommonDataStatisticsManager):
        # mean neighbour count, mean per-atom energy (shift) and force RMS (scale)
        'avg_num_neighbors': '${training_data_stats:num_neighbors_mean}',
        'per_type_energy_shifts': '${training_data_stats:per_atom_energy_mean}',
        'per_type_energy_scales': '${training_data_stats:forces_rms}',
        'per_type_energy_scales_trainable': False,
        'per_type_energy_shifts_trainable': False,
    }


def _max_time(seconds: float) -> str:
    """Lightning's ``DD:HH:MM:SS`` (whole seconds, at least 1)."""
    total = max(1, int(math.ceil(seconds)))
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    return f'{days:02d}:{hours:02d}:{minutes:02d}:{secs:02d}'


def build_config(
    settings: TrainingSettings,
    type_names: Sequence[str],
    work_dir: str | Path,
    n_frames: tuple[int, int, int] | None = None,
    log_version: int = 0,
) -> dict[str, Any]:
    """The nequip-train config (a plain dict) for data files ``work_dir/{train,val,test}.xyz``.

    Args:
        settings: the training settings.
        type_names: chemical symbols the model knows (its atom types, in this order).
        work_dir: directory holding the data files; checkpoints and the CSV log go to ``work_dir/run``.
        n_frames: (train, val, test) frame counts, used to choose the validation batch size.
        log_version: version of the CSV log (``run/csv/version_<n>``); a resumed training logs to a new version.
    """
    work_dir = Path(work_dir).resolve()
    run_dir = work_dir / 'run'
    type_names = list(type_names)
    loss_coeffs = {'total_energy': settings.energy_weight, 'forces': settings.force_weight}
    metric_coeffs = {
        'per_atom_energy_mae': math.sqrt(settings.energy_weight),
        'forces_mae': math.sqrt(settings.force_weight),
    }
    if settings.uses_stress:
        loss_coeffs['stress'] = settings.stress_weight
        metric_coeffs['stress_mae'] = math.sqrt(settings.stress_weight)
        loss_target, metrics_target = (
            'nequip.train.EnergyForceStressLoss',
            'nequip.train.EnergyForceStressMetrics',
        )
    else:
        loss_target, metrics_target = 'nequip.train.EnergyForceLoss', 'nequip.train.EnergyForceMetrics'
    # nequip's metric managers reject coefficients of metrics they do not compute; None = computed, not weighted
    metric_coeffs = {k: (v if v > 0 else None) for k, v in metric_coeffs.items()}
    n_val = n_frames[1] if n_frames else 4
    loader = {'_target_': 'torch.utils.data.DataLoader', 'batch_size': settings.batch_size, 'shuffle': True}
    eval_loader = {'_target_': 'torch.utils.data.DataLoader', 'batch_size': max(1, min(4, n_val))}
    trainer: dict[str, Any] = {
        '_target_': 'lightning.Trainer',
        'accelerator': settings.accelerator,
        'max_epochs': settings.max_epochs,
        'check_val_every_n_epoch': 1,
        'log_every_n_steps': 1,
        'enable_progress_bar': False,
        'logger': {
            '_target_': 'lightning.pytorch.loggers.CSVLogger',
            'save_dir': str(run_dir),
            'name': 'csv',
            'version': log_version,
        },
        'callbacks': [
            {
                '_target_': 'lightning.pytorch.callbacks.ModelCheckpoint',
                'monitor': MONITOR,
                'dirpath': str(run_dir),
                'filename': 'best',
                'save_top_k': 1,
                'save_last': False,
                'enable_version_counter': False,
            },
            {
                '_target_': 'lightning.pytorch.callbacks.ModelCheckpoint',
                'dirpath': str(run_dir),
                'filename': 'latest',
                'save_top_k': 1,
                'save_last': True,
                'enable_version_counter': False,
            },
            {
                '_target_': 'lightning.pytorch.callbacks.EarlyStopping',
                'monitor': MONITOR,
                'patience': settings.patience,
                'mode': 'min',
                'check_finite': True,
            },
            {'_target_': 'lightning.pytorch.callbacks.LearningRateMonitor', 'logging_interval': 'epoch'},
        ],
    }
    if settings.max_time is not None:
        trainer['max_time'] = _max_time(settings.max_time)
    return {
        'run': ['train'],
        'seed': settings.seed,
        'cutoff_radius': float(settings.cutoff),
        'model_type_names': type_names,
        'data': {
            '_target_': 'nequip.data.datamodule.ASEDataModule',
            'seed': settings.seed,
            'train_file_path': str(work_dir / TRAIN_FILE),
            'val_file_path': str(work_dir / VAL_FILE),
            'ase_args': {'format': 'extxyz'},
            'transforms': [
                {
                    '_target_': 'nequip.data.transforms.ChemicalSpeciesToAtomTypeMapper',
                    'model_type_names': type_names,
                    'chemical_species_to_atom_type_map': {name: name for name in type_names},
                },
                {'_target_': 'nequip.data.transforms.NeighborListTransform', 'r_max': float(settings.cutoff)},
            ],
            'train_dataloader': loader,
            'val_dataloader': eval_loader,
            'stats_manager': {
                '_target_': 'nequip.data.CommonDataStatisticsManager',
                'type_names': type_names,
            },
        },
        'trainer': trainer,
        'training_module': {
            '_target_': 'nequip.train.EMALightningModule',
            'ema_decay': settings.ema_decay,
            'loss': {'_target_': loss_target, 'per_atom_energy': True, 'coeffs': loss_coeffs},
            'val_metrics': {'_target_': metrics_target, 'coeffs': metric_coeffs},
            'test_metrics': {'_target_': metrics_target, 'coeffs': metric_coeffs},
            'optimizer': {'_target_': 'torch.optim.Adam', 'lr': settings.resolved_learning_rate},
            'lr_scheduler': {
                'scheduler': {
                    '_target_': 'torch.optim.lr_scheduler.ReduceLROnPlateau',
                    'factor': 0.5,
                    'patience': settings.lr_patience,
                    'min_lr': settings.resolved_learning_rate * 1e-3,
                },
                'monitor': MONITOR,
                'interval': 'epoch',
                'frequency': 1,
            },
            'model': model_block(settings, type_names),
        },
        'global_options': {'allow_tf32': False},
    }


@dataclass(frozen=True)
class PreparedTraining:
    """A training work directory ready for ``nequip-train``."""

    work_dir: Path
    config_path: Path
    config: dict[str, Any]
    split: Any
    type_names: list[str]
    settings: TrainingSettings


def prepare_training(
    frames: Sequence[Atoms],
    work_dir: str | Path,
    settings: TrainingSettings | None = None,
    source: str = 'frames',
    log_version: int = 0,
    split: Split | None = None,
) -> PreparedTraining:
    """Split ``frames``, write the data files, ``split.json`` and ``config.yaml`` into ``work_dir``.

    Args:
        frames: normalized labelled frames (:func:`aiida_flexo.data.read_frames`).
        work_dir: created if missing.
        settings: training settings (defaults: :class:`TrainingSettings`).
        source: name of the frame set in error messages.
        log_version: version of the CSV log (see :func:`build_config`).
        split: a given split (committee members, :func:`aiida_flexo.data.committee_split`); default
            ``make_split(fractions, seed)``.
    """
    settings = settings or TrainingSettings()
    check_training_frames(frames, settings, source=source)
    work_dir = Path(work_dir).resolve()
    work_dir.mkdir(parents=True, exist_ok=True)
    split = split or make_split(len(frames), fractions=settings.fractions, seed=settings.seed)
    if not split.val:
        raise FramesError(f'{source}: the split {settings.fractions} leaves no validation frame')
    labels = training_labels(settings)
    for name, indices in (
        (TRAIN_FILE, split.train),
        (VAL_FILE, split.val),
        (TEST_FILE, split.test or split.val),
    ):
        write_frames(work_dir / name, [_potential_frame(frames[i], labels) for i in indices])
    split.to_json(work_dir / SPLIT_FILE)
    type_names = species_of(frames)
    counts = (len(split.train), len(split.val), len(split.test))
    config = build_config(settings, type_names, work_dir, counts, log_version=log_version)
    config_path = write_config(config, work_dir / f'{CONFIG_NAME}.yaml')
    return PreparedTraining(work_dir, config_path, config, split, type_names, settings)


def write_config(config: dict[str, Any], path: str | Path) -> Path:
    """Write a config dictionary as YAML (hydra reads it with ``-cp DIR -cn NAME``)."""
    import yaml

    class _NoAliases(yaml.SafeDumper):
        def ignore_aliases(self, data) -> bool:
            return True

    path = Path(path)
    path.write_text(yaml.dump(config, Dumper=_NoAliases, sort_keys=False))
    return path
