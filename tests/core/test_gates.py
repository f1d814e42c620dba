"""Accuracy gates on held-out errors (aiida_flexo.gates): which model missed, by how much; NaN never passes."""

from __future__ import annotations

import math

import pytest

from aiida_flexo.gates import PHYSICAL_GATES, gate_failures, gate_verdict


def test_the_issue_case_is_refused_with_the_model_and_the_factor():
    """The shipped fast example once trained a potential at 547 meV/Å and a GNN at 0.11 e·Å: the potential fails."""
    metrics = {'mlip': {'force_mae_meV_A': 547.0}, 'dipole': {'dipole_mae_eA': 0.11}}
    failures = gate_failures(metrics, PHYSICAL_GATES)
    assert failures == ['potential force_mae_meV_A = 547 meV/Å > 150 meV/Å (3.6×)']
    assert gate_verdict(metrics) == {'passed': False, 'failures': failures}


@pytest.mark.parametrize(
    ('metrics', 'passed'),
    [
        ({'mlip': {'force_mae_meV_A': 32.5}, 'dipole': {'dipole_mae_eA': 0.06}}, True),
        ({'mlip': {'force_mae_meV_A': 32.5}, 'dipole': {'dipole_mae_eA': 0.2}}, False),
        ({'mlip': {'force_mae_meV_A': math.nan}, 'dipole': {'dipole_mae_eA': 0.06}}, False),
        ({'mlip': {}, 'dipole': {}}, None),
    ],
    ids=['both-pass', 'gnn-fails', 'nan-fails', 'unknown'],
)
def test_verdicts(metrics, passed):
    assert gate_verdict(metrics)['passed'] is passed


def test_no_limit_is_not_judged():
    metrics = {'mlip': {'force_mae_meV_A': 900.0}}
    assert gate_failures(metrics, {'max_force_mae_meV_A': None}) == []
