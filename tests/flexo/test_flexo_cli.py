"""CLI smoke tests with synthetic models (no model files needed)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from aiida_flexo.cli.flexo import flexo
from aiida_flexo.flexo.convention import mu_to_nc_per_m
from aiida_flexo.flexo.structures import cubic_perovskite
from aiida_flexo.flexo.supercell import build_supercell
from aiida_flexo.flexo.synthetic import analytic_mu, perovskite_born_charges


def _invoke(*args):
    return CliRunner().invoke(flexo, [str(a) for a in args], catch_exceptions=False)


def test_coefficient_writes_result_and_profile(tmp_path):
    out = tmp_path / 'run'
    result = _invoke(
        'coefficient', '--bulk', 'builtin:BaTiO3', '--component', '3333', '--repeat', '14', '--max-strain', '0.005',
        '--fix', 'Ba', '--dipole', 'synthetic:perovskite', '--mlip', 'synthetic:relax:Ti=0.5,O=-0.2',
        '--bec-from-model', '--out', out, '--json',
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    brief = json.loads(result.output)
    data = json.loads((out / 'result.json').read_text())
    assert (out / 'profile.png').stat().st_size > 10_000
    assert (out / 'supercell.json').exists() and (out / 'relaxed.extxyz').exists()
    bulk = cubic_perovskite()
    z = perovskite_born_charges(bulk)
    z -= z.sum(axis=0) / 5
    sc = build_supercell(bulk, '3333', 14, 0.005, fix='Ba')
    expected = mu_to_nc_per_m(analytic_mu(sc, z, {'Ti': 0.5, 'O': -0.2}))
    for key in ('two_point', 'fit'):
        assert data['mu_nC_per_m'][key] == pytest.approx(expected, rel=1e-6)
        assert data['bec']['mu_nC_per_m'][key] == pytest.approx(expected, rel=1e-6)
    assert brief['mu_nC_per_m']['fit'] == pytest.approx(expected, rel=1e-6)
    assert data['component'] == '3333' and data['convention'].startswith('type-II')
    profile = data['profile']
    assert {'z_A', 'strain', 'strain_gradient_per_m', 'P_C_m2'} <= set(profile)
    assert len(profile['P_C_m2']) == 14
    assert data['supercell']['fixed_species'] == ['Ba']


def test_coefficient_without_mlip_says_unrelaxed(tmp_path):
    result = _invoke(
        'coefficient', '--bulk', 'builtin:BaTiO3', '--repeat', '8', '--fix', 'Ba',
        '--dipole', 'synthetic:charges:Ba=2,Ti=4,O=-2', '--out', tmp_path,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert 'unrelaxed' in result.output
    assert json.loads((tmp_path / 'result.json').read_text())['relaxation']['relaxed'] is False


def test_coefficient_with_bec_file_and_poscar(tmp_path):
    bulk = cubic_perovskite()
    bulk.write(tmp_path / 'POSCAR', format='vasp')
    z = perovskite_born_charges(bulk)
    z -= z.sum(axis=0) / 5  # exact ASR, else the BEC route (which enforces it) differs from the raw model
    (tmp_path / 'bec.json').write_text(
        json.dumps({'symbols': bulk.get_chemical_symbols(), 'born_charges': z.tolist()})
    )
    result = _invoke(
        'coefficient', '--bulk', tmp_path / 'POSCAR', '--component', '1133', '--repeat', '8', '--fix', 'Ba',
        '--dipole', 'synthetic:linear-bec', '--bec', tmp_path / 'bec.json', '--out', tmp_path / 'out', '--json',
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    data = json.loads((tmp_path / 'out' / 'result.json').read_text())
    assert data['geometry'] == 'shear'
    assert data['bec']['mu_nC_per_m']['fit'] == pytest.approx(data['mu_nC_per_m']['fit'], rel=1e-9)


@pytest.mark.parametrize(
    ('args', 'message'),
    [
        (['--component', '1233'], 'longitudinal LLLL'),
        (['--bulk', 'missing.cif'], 'does not exist'),
        (['--dipole', 'nofile.pt'], 'no such model file'),
        (['--dipole', 'synthetic:linear-bec'], '--bec'),
        (['--fix', 'Sr'], 'species present'),
        (['--repeat', '7x1'], '--repeat'),
        (['--mlip', 'missing.nequip.zip'], 'no such model file'),
        (['--mlip', 'mace-mp-0'], 'sevennet-0'),
    ],
)
def test_coefficient_errors_are_clear(tmp_path, args, message):
    base = {
        '--bulk': 'builtin:BaTiO3',
        '--dipole': 'synthetic:perovskite',
        '--repeat': '8',
        '--out': str(tmp_path),
    }
    extra = dict(zip(args[::2], args[1::2]))
    base.update(extra)
    argv = ['coefficient'] + [x for kv in base.items() for x in kv]
    result = CliRunner().invoke(flexo, argv)
    assert result.exit_code != 0
    assert message in result.output


def test_sensitivity_command(tmp_path):
    result = _invoke(
        'sensitivity', '--dipole', 'synthetic:perovskite', '--repeat', '2x2x2', '--steps', '0.01,0.02',
        '--out', tmp_path, '--json',
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / 'sensitivity.json').read_text())
    for row in report['species']:
        np.testing.assert_allclose(row['effective_born_column_e'], row['born_column_e'], atol=1e-12)


def test_convergence_command(tmp_path):
    result = _invoke(
        'convergence', '--bulk', 'builtin:BaTiO3', '--fix', 'Ba', '--dipole', 'synthetic:perovskite',
        '--mlip', 'synthetic:relax:Ti=0.5', '--repeats', '6,8,10', '--strains', '0.002,0.004', '--repeat', '8',
        '--out', tmp_path,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    data = json.loads((tmp_path / 'convergence.json').read_text())
    assert data['mu_vs_repeat']['values'] == [6, 8, 10]
    # linear model: μ does not depend on the amplitude
    fits = data['mu_vs_strain']['mu_nC_per_m']['fit']
    assert fits[0] == pytest.approx(fits[1], rel=1e-9)
    assert data['converged_in_strain_2pct'] is True
    assert (tmp_path / 'convergence.png').exists()
    limit = data[
        'limit'
    ]  # μ∞ of the three lengths, in one of the two forms, an error bar that has every part
    assert limit['repeats'] == [6, 8, 10]
    assert limit['form'] in ('mu(N) = mu_inf + a/N^2', 'mu(N) = mu_inf + a/N')
    assert limit['error_nC_per_m'] >= limit['error_parts_nC_per_m']['fit_stderr'] > 0
    assert 'μ∞ =' in result.output


def test_bec_options_are_exclusive(tmp_path):
    result = CliRunner().invoke(
        flexo,
        ['coefficient', '--bulk', 'builtin:BaTiO3', '--dipole', 'synthetic:perovskite', '--bec', 'x.json',
         '--bec-from-model', '--out', str(tmp_path)],
    )  # fmt: skip
    assert result.exit_code != 0 and 'not both' in result.output


def test_coefficient_keeps_an_earlier_result_without_overwrite(tmp_path):
    args = ['coefficient', '--bulk', 'builtin:BaTiO3', '--repeat', '8', '--dipole', 'synthetic:perovskite']
    first = CliRunner().invoke(flexo, [*args, '--out', str(tmp_path / 'run')])
    assert first.exit_code == 0, first.output
    before = (tmp_path / 'run' / 'result.json').read_text()
    again = CliRunner().invoke(flexo, [*args, '--max-strain', '0.002', '--out', str(tmp_path / 'run')])
    assert again.exit_code == 1 and '--overwrite' in again.output
    assert (tmp_path / 'run' / 'result.json').read_text() == before
    replaced = CliRunner().invoke(
        flexo, [*args, '--max-strain', '0.002', '--out', str(tmp_path / 'run'), '--overwrite']
    )
    assert replaced.exit_code == 0 and (tmp_path / 'run' / 'result.json').read_text() != before
    (tmp_path / 'afile').write_text('x')
    on_file = CliRunner().invoke(flexo, [*args, '--out', str(tmp_path / 'afile')])
    assert on_file.exit_code == 1 and 'is a file' in on_file.output


def test_convergence_with_a_committee_adds_its_spread(tmp_path):
    """Two dipole models on the same relaxed supercells: μ(N) is their mean and the spread of their μ∞ (here the
    difference of two linear charge models, known exactly) enters the error bar."""
    result = _invoke(
        'convergence', '--bulk', 'builtin:BaTiO3', '--fix', 'Ba', '--dipole', 'synthetic:charges:Ba=2,Ti=4,O=-2',
        '--committee-dipole', 'synthetic:charges:Ba=2.2,Ti=4.4,O=-2.2', '--mlip', 'synthetic:relax:Ti=0.5,O=-0.2',
        '--repeats', '6,8,10', '--strains', '0.002', '--repeat', '6', '--out', tmp_path,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    data = json.loads((tmp_path / 'convergence.json').read_text())
    first, second = data['committee']['mu_fit_nC_per_m']
    assert abs(first[0]) > 1e-3
    np.testing.assert_allclose(second, 1.1 * np.asarray(first), rtol=1e-9)  # charges × 1.1 → μ × 1.1
    limits = data['committee']['mu_inf_nC_per_m']
    assert limits[1] == pytest.approx(1.1 * limits[0], rel=1e-6)
    limit = data['limit']
    assert limit['mu_nC_per_m'] == pytest.approx(list(1.05 * np.asarray(first)))
    assert limit['error_parts_nC_per_m']['spread'] == pytest.approx(np.std(limits, ddof=1), rel=1e-9)
