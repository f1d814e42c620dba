"""What the bulk's symmetry says about a μ component and about the Born-charge route (pymatgen/spglib groups)."""

from __future__ import annotations

import pytest
from ase.build import bulk as ase_bulk
from click.testing import CliRunner

from aiida_flexo.cli.flexo import flexo
from aiida_flexo.flexo.crystal_symmetry import (
    ZERO_BORN_CHARGES_NOTE,
    born_charges_vanish,
    component_symmetry,
    point_group_rotations,
)
from aiida_flexo.flexo.run import check_born_route, compute_coefficient
from aiida_flexo.flexo.structures import builtin, cubic_perovskite, diamond
from aiida_flexo.flexo.synthetic import FixedChargeModel


@pytest.mark.parametrize('name', ['Si', 'Si-conventional', 'BaTiO3'])
def test_cubic_crystals_have_three_independent_components(name):
    """m-3m: μ1111, μ1122 (= μ1212, shear) and μ1221 (transverse), as in Hong & Vanderbilt's μ11, μ44, μ12."""
    bulk = builtin(name)
    group, rotations = point_group_rotations(bulk)
    assert group == 'm-3m' and len(rotations) == 48
    longitudinal = component_symmetry(bulk, '3333')
    assert set(longitudinal.independent) == {'1111', '1122', '1221'}
    assert (longitudinal.status, longitudinal.relative_to) == ('equal', '1111')
    assert (component_symmetry(bulk, '3113').status, component_symmetry(bulk, '3113').relative_to) == (
        'equal',
        '1221',
    )
    assert component_symmetry(bulk, '1313').relative_to == '1122'  # shear: μ_TLTL = μ_TTLL
    zero = component_symmetry(bulk, '3331')
    assert zero.status == 'zero' and 'zero by the symmetry' in zero.note


def test_tetragonal_batio3_splits_the_cubic_components():
    """P4mm (polar along z): μ3333 and μ1111 become independent; μ3223 = μ3113 by the fourfold axis."""
    tetragonal = cubic_perovskite(('Ba', 'Ti'), 4.0)
    tetragonal.set_cell([4.0, 4.0, 4.2], scale_atoms=True)
    tetragonal.positions[1, 2] += 0.1  # Ti off-centre
    assert point_group_rotations(tetragonal)[0] == '4mm'
    assert component_symmetry(tetragonal, '3333').status == 'independent'
    assert component_symmetry(tetragonal, '1111').status == 'independent'
    relation = component_symmetry(tetragonal, '3223')
    assert (relation.status, relation.relative_to) == ('equal', '3113')


@pytest.mark.parametrize(
    ('atoms', 'vanish'),
    [
        (diamond('Si', 5.431, conventional=False), True),
        (diamond('Si', 5.431, conventional=True), True),
        (ase_bulk('C', 'diamond', a=3.567), True),
        (ase_bulk('SiC', 'zincblende', a=4.36), False),  # Z*(Si) ≈ 2.7 e
        (ase_bulk('GaAs', 'zincblende', a=5.65), False),
        (cubic_perovskite(('Ba', 'Ti'), 4.0), False),
    ],
)
def test_born_charges_vanish_only_where_symmetry_forces_it(atoms, vanish):
    assert born_charges_vanish(atoms) is vanish


def test_born_route_refused_for_silicon_and_noted_without_it():
    si = diamond('Si', 5.431, conventional=False)
    with pytest.raises(ValueError, match='vanish by symmetry.*gives μ = 0 identically'):
        check_born_route(si)
    model = FixedChargeModel({'Si': 0.0})
    with pytest.raises(ValueError, match='Born-charge route'):
        compute_coefficient(
            si, '3113', 6, 0.0005, 'sublattice:0', model, bec='model', shape='cosine', plot=False
        )
    result = compute_coefficient(si, '3113', 6, 0.0005, 'sublattice:0', model, shape='cosine', plot=False)
    data = result.to_dict()
    assert ZERO_BORN_CHARGES_NOTE in data['notes']
    assert data['symmetry']['status'] == 'equal' and data['symmetry']['relative_to'] == '1221'
    assert 'bec' not in data


def test_cli_refuses_the_born_route_for_silicon_before_any_work(tmp_path):
    result = CliRunner().invoke(
        flexo,
        ['coefficient', '--bulk', 'builtin:Si', '--component', '3113', '--fix', 'sublattice:0', '--dipole',
         'synthetic:charges:Si=0', '--bec-from-model', '--out', str(tmp_path / 'run')],
    )  # fmt: skip
    assert result.exit_code == 1
    assert 'vanish by symmetry' in result.output and 'drop --bec/--bec-from-model' in result.output
    assert not (tmp_path / 'run').exists()
