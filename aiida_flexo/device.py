"""The torch device of a command (``--device``), checked before any work with a one-line error and its fix.

Shared by the dipole GNN (``aiida-flexo gnn``) and the potentials (``aiida-flexo mlip``). torch is imported only
when a device is checked.
"""

from __future__ import annotations


class DeviceError(ValueError):
    """A ``--device`` this torch build or this machine cannot use (the message says which device to use)."""


def check_device(device: str) -> str:
    """Return ``device`` unchanged when torch can use it; raise :class:`DeviceError` naming the fix otherwise.

    Refused: a string torch does not parse, ``cuda`` on a CPU build of torch or on a machine with no visible GPU,
    ``cuda:N`` beyond the visible GPUs, and ``mps`` where Metal is not available.
    """
    import torch

    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise DeviceError(
            f"--device {device!r} is not a torch device; use 'cpu', 'cuda' or 'cuda:N'"
        ) from exc
    if parsed.type == 'cuda':
        _check_cuda(device, parsed.index)
    elif parsed.type == 'mps' and not torch.backends.mps.is_available():
        raise DeviceError(
            f'--device {device}: Metal (mps) is not available on this machine; use --device cpu'
        )
    return device


def _check_cuda(device: str, index: int | None) -> None:
    """Raise :class:`DeviceError` unless CUDA device ``index`` (``None``: the current one) is usable."""
    import torch

    if torch.version.cuda is None:
        raise DeviceError(
            f'--device {device}: CUDA is not available in this torch build (torch {torch.__version__} has no CUDA '
            'support); use --device cpu, or install a CUDA build of torch'
        )
    if not torch.cuda.is_available():
        raise DeviceError(
            f'--device {device}: no CUDA GPU is visible (check nvidia-smi and CUDA_VISIBLE_DEVICES); '
            'use --device cpu'
        )
    count = torch.cuda.device_count()
    if index is not None and index >= count:
        raise DeviceError(
            f'--device {device}: this machine has {count} visible CUDA GPU(s) (cuda:0 to cuda:{count - 1}); '
            'choose one of them or use --device cpu'
        )
