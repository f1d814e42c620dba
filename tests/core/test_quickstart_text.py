"""The quickstart's closing words: it leaves the profile's daemon running and says how to stop it."""

from __future__ import annotations

from aiida_flexo.cli.quickstart import daemon_note


def test_quickstart_says_the_daemon_runs_and_how_to_stop_it():
    note = daemon_note('flexo-demo')
    assert 'still running' in note and '`verdi -p flexo-demo daemon stop`' in note


class _Dict(dict):
    def get_dict(self):
        return dict(self)


class _Outputs(dict):
    """Outputs of a finished pipeline as AiiDA exposes them: by key and by attribute."""

    __getattr__ = dict.__getitem__


class _Pipeline:
    def __init__(self, convergence):
        self.outputs = _Outputs({'convergence': convergence} if convergence is not None else {})


def test_quickstart_report_shows_mu_infinity_and_how_far_n14_is():
    from aiida_flexo.cli.quickstart import convergence_lines
    from aiida_flexo.flexo.convergence import extrapolate

    limit = extrapolate([6, 10, 14], [-0.51, -0.85, -1.0], [0.01, 0.01, 0.01]).to_dict()
    lines = convergence_lines(_Pipeline({'mu3333': _Dict(limit)}), 'mu3333')
    text = '\n'.join(lines)
    assert 'N = 6: -0.5100' in text and 'N = 14: -1.0000' in text
    assert f'μ∞ = {limit["mu_inf_nC_per_m"]:.4f} ± {limit["error_nC_per_m"]:.4f} nC/m' in text
    assert f'{100 * limit["distance_from_limit"]:.0f} % from it' in text
    assert 'far from converged' in text  # N = 14 is more than 10 % from μ∞ here
    missing = convergence_lines(_Pipeline(None), 'mu3333')
    assert missing and 'not computed' in missing[0]
