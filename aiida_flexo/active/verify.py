"""The verdict of a DFT check: the models' errors on the structures a result came from, next to their held-out errors.

A model is trusted on the structures a μ or a texture was computed on when its errors there (DFT-labelled
cut-outs, :mod:`aiida_flexo.active.cutouts`) are below the absolute limits the user sets and not more than
``max_ratio`` times its errors on its own held-out frames: a ratio well above one means the final structures lie
outside what the model was trained on, whatever the absolute figure.
"""

from __future__ import annotations

import math

#: (model, metric key, name, unit) compared by the verification; keys as in mlip eval / gnn eval metrics
VERIFY_METRICS = (
    ('mlip', 'force_mae_meV_A', 'force MAE', 'meV/Å'),
    ('mlip', 'energy_mae_meV_atom', 'energy MAE', 'meV/atom'),
    ('dipole', 'dipole_mae_eA', 'dipole MAE', 'e·Å'),
)
#: threshold keys: an absolute limit per metric (``max_<metric>``) and the ratio to the held-out error
VERIFY_THRESHOLDS = (*(f'max_{key}' for _, key, _, _ in VERIFY_METRICS), 'max_ratio')


def check_thresholds(thresholds: dict) -> str | None:
    """An error message for unknown keys or limits that are not positive finite numbers, else None."""
    unknown = sorted(set(thresholds) - set(VERIFY_THRESHOLDS))
    if unknown:
        return f'unknown verification thresholds {unknown}; allowed: {list(VERIFY_THRESHOLDS)}'
    for key, value in thresholds.items():
        if value is None:
            continue
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not math.isfinite(value)
            or value <= 0
        ):
            return f'verification threshold {key} = {value!r}: must be a positive number'
    return None


def verification_summary(
    verified: dict[str, dict],
    held_out: dict[str, dict],
    thresholds: dict | None = None,
    n_frames: int | None = None,
) -> dict:
    """Errors on the verification frames next to the held-out errors, the ratios, and what misses a threshold.

    Args:
        verified: ``{'mlip': {...}, 'dipole': {...}}`` metrics of ``mlip eval`` / ``gnn eval`` on the DFT-labelled
            verification frames (either may be missing).
        held_out: the same keys from the models' training (test split, else validation).
        thresholds: ``max_<metric>`` absolute limits and ``max_ratio`` (see :data:`VERIFY_THRESHOLDS`).

    Returns:
        ``{'metrics': {key: {'model', 'name', 'unit', 'verified', 'held_out', 'ratio'}}, 'failures': [...],
        'trusted': bool, 'thresholds': {...}, 'n_frames': int}``. A NaN error is a failure, never a pass.
    """
    thresholds = {k: v for k, v in (thresholds or {}).items() if v is not None}
    message = check_thresholds(thresholds)
    if message:
        raise ValueError(message)
    metrics, failures = {}, []
    for model, key, name, unit in VERIFY_METRICS:
        value = (verified.get(model) or {}).get(key)
        if value is None:
            continue
        reference = (held_out.get(model) or {}).get(key)
        ratio = value / reference if reference not in (None, 0) else None
        metrics[key] = {
            'model': model,
            'name': name,
            'unit': unit,
            'verified': float(value),
            'held_out': None if reference is None else float(reference),
            'ratio': None if ratio is None else float(ratio),
        }
        if not math.isfinite(value):
            failures.append(f'{name} on the verification frames is {value}: the model output is not finite')
            continue
        limit = thresholds.get(f'max_{key}')
        if limit is not None and value > limit:
            failures.append(f'{name} {value:.4g} {unit} > max_{key} = {limit:.4g} {unit}')
        limit = thresholds.get('max_ratio')
        if limit is not None and ratio is not None and ratio > limit:
            failures.append(
                f'{name} {value:.4g} {unit} is {ratio:.2f}× the held-out {reference:.4g} {unit} '
                f'(max_ratio {limit:.4g}): the structures lie outside the training data'
            )
    return {
        'metrics': metrics,
        'failures': failures,
        'trusted': not failures,
        'thresholds': thresholds,
        'n_frames': n_frames,
    }


def summary_lines(summary: dict) -> list[str]:
    """One line per metric (``force MAE 41.2 meV/Å on 2 DFT frames (held-out 32.5, ×1.27)``) and the verdict."""
    n = summary.get('n_frames')
    where = f' on {n} DFT frame{"s" if n != 1 else ""}' if n is not None else ''
    lines = []
    for record in summary['metrics'].values():
        held = record['held_out']
        tail = (
            f' (held-out {held:.4g}, ×{record["ratio"]:.2f})'
            if held is not None and record['ratio'] is not None
            else ''
        )
        lines.append(f'{record["name"]} {record["verified"]:.4g} {record["unit"]}{where}{tail}')
    lines.append(
        'verified: trusted' if summary['trusted'] else 'NOT TRUSTED: ' + '; '.join(summary['failures'])
    )
    return lines
