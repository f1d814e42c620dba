"""``aiida-flexo textures build | field | analyse`` through click's CliRunner, with a synthetic dipole model."""

import json
import sys
import types

import ase.io
import numpy as np
import pytest
from click.testing import CliRunner

from aiida_flexo.cli.textures import textures
from aiida_flexo.units import E_PER_A2_TO_C_PER_M2

NOMINAL = {'Pb': 2.0, 'Sr': 2.0, 'Ti': 4.0, 'O': -2.0}


class PointChargeModel:
    def __init__(self, reference):
        self.reference = reference.get_positions()

    def per_atom_dipoles(self, atoms):
        q = np.array([NOMINAL[s] for s in atoms.get_chemical_symbols()])
        return q[:, None] * (atoms.get_positions() - self.reference)


@pytest.fixture
def fake_gnn(monkeypatch):
    """aiida_flexo.gnn with load_model(path, device) -> a point-charge model around the structure in ``path``."""
    module = types.ModuleType('aiida_flexo.gnn')
    calls = []

    def load_model(path, device='cpu'):
        calls.append((str(path), device))
        return PointChargeModel(ase.io.read(path))

    module.load_model = load_model
    monkeypatch.setitem(sys.modules, 'aiida_flexo.gnn', module)
    return calls


def run(args):
    result = CliRunner().invoke(textures, [str(a) for a in args], catch_exceptions=False)
    return result


def test_build_field_analyse(tmp_path, fake_gnn):
    ref, seeded = tmp_path / 'ref.extxyz', tmp_path / 'sl.extxyz'
    result = run(['build', '-m', 4, '-n', 2, '-N', 8, '-o', ref, '--json'])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary['n_atoms'] == 5 * 8 * 8 * 6 and summary['grid_shape'] == [8, 8, 6]
    result = run(
        ['build', '-m', 4, '-n', 2, '-N', 8, '--seed', 'bubble', '--bubble-radius', 2.2, '-o', seeded]
    )
    assert result.exit_code == 0, result.output
    atoms = ase.io.read(seeded)
    assert atoms.arrays['cell_index'].shape == (len(atoms), 3)

    out = tmp_path / 'F.npy'
    result = run(['field', seeded, '--dipole', ref, '-o', out, '--json'])
    assert result.exit_code == 0, result.output
    assert fake_gnn == [(str(ref), 'cpu')]
    P = np.load(out)
    expected = 1.2 / (3.905**2 * 4.152) * E_PER_A2_TO_C_PER_M2
    assert P.shape == (8, 8, 6, 3)
    assert P[0, 0, 0, 2] == pytest.approx(expected) and P[4, 4, 0, 2] == pytest.approx(-expected)
    assert (tmp_path / 'F.meta.json').exists()

    result = run(['analyse', out, '--layers', '0-3', '--no-html', '--json'])
    assert result.exit_code == 0, result.output
    analysis = json.loads(result.output)
    assert analysis['domain_count'] == 2
    assert analysis['wall_types'] == {'Ising': 1}  # the seed only displaces along z
    assert analysis['skyrmion_number_rounded'] == [0, 0, 0, 0]
    folder = tmp_path / 'F_texture'
    for name in ('analysis.json', 'layers.png', 'section_xz.png', 'section_yz.png', 'field.vtk'):
        assert (folder / name).stat().st_size > 0
    assert not (folder / 'field.html').exists()


def test_errors_are_clear(tmp_path, fake_gnn):
    result = CliRunner().invoke(
        textures, ['build', '--materials', 'PbTiO3,CaTiO3', '-o', str(tmp_path / 'x.extxyz')]
    )
    assert result.exit_code != 0 and "unknown perovskite 'CaTiO3'" in result.output
    bare = tmp_path / 'bare.npy'
    np.save(bare, np.zeros((2, 2, 2, 3)))
    result = CliRunner().invoke(textures, ['analyse', str(bare), '--no-pictures', '--no-html'])
    assert result.exit_code != 0 and '--cell-size' in result.output
    result = CliRunner().invoke(
        textures, ['analyse', str(bare), '--cell-size', '4', '--no-pictures', '--no-html']
    )
    assert result.exit_code == 0, result.output
    # a structure without assignment or grid
    plain = tmp_path / 'plain.extxyz'
    ase.io.write(plain, ase.Atoms('H', cell=[3, 3, 3], pbc=True))
    result = CliRunner().invoke(
        textures, ['field', str(plain), '--dipole', str(plain), '-o', str(tmp_path / 'F.npy')]
    )
    assert result.exit_code != 0 and 'no cell assignment' in result.output
