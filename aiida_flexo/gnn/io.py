"""One-file storage of a trained dipole GNN (``model.pt``).

The file is a ``torch.save`` dictionary of plain types and tensors (loadable with ``weights_only=True``):

=====================  ==================================================================================
key                    content
=====================  ==================================================================================
``format``             ``'aiida-flexo-gnn'`` (identifies the file)
``format_version``     integer, bumped on incompatible changes
``aiida_flexo``        version of aiida-flexo that wrote it
``config``             :class:`GNNConfig` as a dict (species, cutoffs, widths, dtype, ...)
``state_dict``         weights
``species``            chemical symbols in embedding order
``cutoff``             edge cutoff, Å
``units``              units of inputs and outputs
``training_data_hash`` :func:`aiida_flexo.data.frames_hash` of the training frames
``split``              train/val/test frame indices and seed
``metrics``            summary metrics of the training run (numbers and strings)
=====================  ==================================================================================
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import torch

from aiida_flexo.atomic import torch_save
from aiida_flexo.data import Split
from aiida_flexo.gnn.config import GNNConfig
from aiida_flexo.gnn.model import DipoleGNN

if TYPE_CHECKING:
    from aiida_flexo.gnn.predict import DipolePredictor

FORMAT = 'aiida-flexo-gnn'
FORMAT_VERSION = 1
UNITS = {'length': 'Å', 'dipole': 'e·Å', 'born_charges': 'e', 'polarization': 'C/m²'}


class ModelFileError(ValueError):
    """A file is not a (compatible) aiida-flexo GNN model."""


def _version() -> str:
    try:
        from importlib.metadata import version

        return version('aiida-flexo')
    except Exception:  # noqa: BLE001
        return 'unknown'


def save_model(
    path: str | Path,
    model: DipoleGNN,
    training_data_hash: str = '',
    split: Split | dict | None = None,
    metrics: dict | None = None,
) -> Path:
    """Write ``model`` with its hyperparameters and provenance to one file; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(split, Split):
        split = split.as_dict()
    model.config.dipole_offset = [float(x) for x in model.dipole_offset.detach().cpu()]
    payload = {
        'format': FORMAT,
        'format_version': FORMAT_VERSION,
        'aiida_flexo': _version(),
        'config': model.config.as_dict(),
        'state_dict': {k: v.detach().cpu() for k, v in model.state_dict().items()},
        'species': list(model.config.species),
        'cutoff': float(model.config.cutoff),
        'units': dict(UNITS),
        'training_data_hash': str(training_data_hash),
        'split': split or {},
        'metrics': {k: v for k, v in (metrics or {}).items() if isinstance(v, (int, float, str, bool))},
    }
    torch_save(payload, path)  # atomic: a killed run leaves the old file or the new one, never half of one
    return path


def _check_finite_weights(path: Path, state_dict: dict) -> None:
    """Raise :class:`ModelFileError` when a weight of a model file is NaN or infinite (a diverged training)."""
    bad = [k for k, v in state_dict.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]
    if bad:
        raise ModelFileError(
            f'{path} has NaN or infinite weights ({", ".join(bad[:3])}): its training diverged; train it again '
            '(lower --lr, check the labels)'
        )


def read_model_file(path: str | Path, device: str | torch.device = 'cpu') -> tuple[DipoleGNN, dict]:
    """The model (eval mode, on ``device``) and the file's metadata (everything but the weights).

    Raises:
        FileNotFoundError: no such file.
        ModelFileError: the file is not an aiida-flexo GNN model (or from a newer format version).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f'{path}: no such model file (train one with `aiida-flexo gnn train`)')
    try:
        payload = torch.load(path, map_location='cpu', weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises many types for foreign files
        raise ModelFileError(
            f'{path} is not an aiida-flexo GNN model file ({type(exc).__name__}: {str(exc)[:200]}); '
            'give the model.pt written by `aiida-flexo gnn train`'
        ) from exc
    if not isinstance(payload, dict) or payload.get('format') != FORMAT:
        raise ModelFileError(
            f'{path} is not an aiida-flexo GNN model file (no "format: {FORMAT}" entry); give the model.pt '
            'written by `aiida-flexo gnn train` (Allegro/nequip models belong to `aiida-flexo mlip`)'
        )
    if int(payload.get('format_version', 0)) > FORMAT_VERSION:
        raise ModelFileError(
            f'{path} has format version {payload["format_version"]}, newer than this aiida-flexo understands '
            f'({FORMAT_VERSION}); upgrade aiida-flexo'
        )
    _check_finite_weights(path, payload['state_dict'])
    config = GNNConfig.from_dict(payload['config'])
    model = DipoleGNN(config)
    model.load_state_dict(payload['state_dict'])
    model.eval()
    model.to(device)
    meta = {k: v for k, v in payload.items() if k != 'state_dict'}
    return model, meta


def load_model(path: str | Path, device: str = 'cpu', chunk_size: int | None = None) -> DipolePredictor:
    """A :class:`~aiida_flexo.gnn.predict.DipolePredictor` for the model stored at ``path``.

    Needs no training state: only the file written by :func:`save_model` (``DIR/model.pt`` of a training run).
    """
    from aiida_flexo.gnn.predict import DipolePredictor

    model, meta = read_model_file(path, device)
    kwargs = {} if chunk_size is None else {'chunk_size': chunk_size}
    return DipolePredictor(model, device=device, metadata=meta, **kwargs)
