"""Accuracy gates: the held-out errors a model must reach before its μ or map is computed or trusted.

One place for the metric names and units of the gates: the pipeline's ``thresholds`` (a protocol's values, exit
404/405 when missed, before any μ), and the verdict ``aiida-flexo query list`` prints for every μ in a profile
(against :data:`PHYSICAL_GATES`, the loosest limits at which the numbers still mean something physically).
"""

from __future__ import annotations

#: held-out metrics (model, metric key, name, unit): the pipeline's report (those a run has) and its thresholds
HELD_OUT_METRICS = (
    ('dipole', 'dipole_mae_eA', 'dipole MAE', 'e·Å'),
    ('dipole', 'bec_mae_e', 'Z* MAE', 'e'),
    ('mlip', 'force_mae_meV_A', 'force MAE', 'meV/Å'),
    ('mlip', 'energy_mae_meV_atom', 'energy MAE', 'meV/atom'),
)
#: threshold key (``max_`` + metric key) -> (model, metric key in the held-out metrics, unit)
THRESHOLDS = {f'max_{key}': (model, key, unit) for model, key, _, unit in HELD_OUT_METRICS}

#: the loosest physical limits (the fast protocol's thresholds): a potential off by more than 150 meV/Å per force
#: component relaxes a supercell to the wrong strain profile (BaTiO3 Ti off-centring forces are ~1 eV/Å per 0.1 Å);
#: a GNN off by more than 0.15 e·Å per 5-atom cell misses ~15 % of BaTiO3's spontaneous dipole (~1.0 e·Å per cell)
PHYSICAL_GATES = {'max_force_mae_meV_A': 150.0, 'max_dipole_mae_eA': 0.15}


def gate_failures(metrics: dict[str, dict], thresholds: dict[str, float | None]) -> list[str]:
    """Which held-out errors exceed their threshold, and by how much.

    ``metrics``: {'dipole': {...}, 'mlip': {...}} held-out metrics (units in the keys); ``thresholds``: threshold
    key -> limit (None: no limit). A metric a run does not have is not judged.
    """
    failures = []
    for key, limit in thresholds.items():
        if limit is None:
            continue
        model, metric, unit = THRESHOLDS[key]
        value = (metrics.get(model) or {}).get(metric)
        if value is not None and not value <= limit:  # NaN fails too
            name = 'dipole GNN' if model == 'dipole' else 'potential'
            failures.append(
                f'{name} {metric} = {value:.4g} {unit} > {limit:.4g} {unit} ({value / limit:.1f}×)'
            )
    return failures


def gate_verdict(metrics: dict[str, dict], thresholds: dict[str, float | None] | None = None) -> dict:
    """{'passed': True/False/None, 'failures': [...]}: None when neither model's held-out errors are known."""
    thresholds = PHYSICAL_GATES if thresholds is None else thresholds
    known = any(
        (metrics.get(THRESHOLDS[key][0]) or {}).get(THRESHOLDS[key][1]) is not None for key in thresholds
    )
    failures = gate_failures(metrics, thresholds)
    return {'passed': (not failures) if known else None, 'failures': failures}
