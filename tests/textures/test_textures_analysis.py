"""analyse_texture on analytic textures: skyrmion numbers, domains, walls, JSON."""

import json

import numpy as np
import pytest

from aiida_flexo.textures.analysis import analyse_texture, select_layers
from aiida_flexo.textures.synthetic import skyrmion_field, stripe_walls_field


def test_polar_bubble_stack(tmp_path):
    P = np.zeros((24, 24, 6, 3))
    P[:, :, :4] = 0.6 * skyrmion_field((24, 24, 4), radius=6.0, width=1.2)  # four polar layers
    P[:, :, 4:, 2] = 0.02  # weakly polar spacer layers
    heights = [4.15] * 4 + [3.905] * 2
    result = analyse_texture(
        P, [3.905, 3.905, 4.07], layer_heights_A=heights, layers='0-3', out_json=tmp_path / 'a.json'
    )
    assert result['layers'] == [0, 1, 2, 3]
    assert result['skyrmion_number_rounded'] == [-1, -1, -1, -1]
    assert all(abs(q + 1) < 1e-6 for q in result['skyrmion_number_per_layer'])
    assert all(result['skyrmion_number_is_integer'])
    assert result['domain_count'] == 2 and result['domain_count_per_layer'] == [2, 2, 2, 2]
    assert result['wall_types'] == {'Néel': 1}
    wall = result['walls'][0]
    assert wall['position_cells'][:2] == pytest.approx([12.0, 12.0], abs=0.1)
    assert wall['position_A'][2] == pytest.approx(2 * 4.15, abs=1e-6)  # middle of the four layers
    assert wall['radius_cells'] == pytest.approx(6.0, abs=0.15)
    assert wall['width_cells'] == pytest.approx(1.2, rel=0.1)
    assert result['mean_abs_P_C_per_m2'] == pytest.approx(0.6)
    assert json.loads((tmp_path / 'a.json').read_text()) == result


def test_all_layers_and_stripes():
    P = stripe_walls_field((40, 4, 3), (10.2, 30.2), 1.7, kind='Bloch', P0=0.4, rotation=0.3)
    result = analyse_texture(P, 4.0)
    assert result['skyrmion_number_rounded'] == [0, 0, 0]
    assert result['domain_count'] == 2
    assert [w['type'] for w in result['walls']] == ['Bloch', 'Bloch']
    assert sorted(w['position_A'][0] for w in result['walls']) == pytest.approx([40.8, 120.8], abs=0.2)
    assert all(w['width_A'] == pytest.approx(1.7 * 4.0, rel=0.05) for w in result['walls'])
    assert result['mean_P_C_per_m2'][2] == pytest.approx(0.0, abs=0.01)


def test_layer_selection_and_bad_input():
    assert select_layers(12, '0-3,8') == [0, 1, 2, 3, 8]
    assert select_layers(4, None) == [0, 1, 2, 3]
    with pytest.raises(ValueError, match='outside'):
        select_layers(4, '2-5')
    with pytest.raises(ValueError, match='layer spec'):
        select_layers(4, 'top')
    with pytest.raises(ValueError, match='NaN'):
        analyse_texture(np.full((2, 2, 2, 3), np.nan), 4.0)
    with pytest.raises(ValueError, match='cell_size_A'):
        analyse_texture(np.zeros((2, 2, 2, 3)), [4.0, 4.0])


def test_domain_threshold_leaves_weak_noisy_cells_out():
    rng = np.random.default_rng(6)
    P = np.zeros((16, 16, 6, 3))
    P[:, :, :4] = 0.6 * skyrmion_field((16, 16, 4), radius=4.0, width=1.0)
    P[:, :, 4:, 2] = 0.02
    P += 0.01 * rng.normal(size=P.shape)
    noisy = analyse_texture(P, 3.9)
    assert noisy['domain_count'] > 2  # sign flips of the noise in the spacer make spurious domains
    clean = analyse_texture(P, 3.9, domain_threshold=0.2)
    assert clean['domain_count'] == 2
    assert clean['wall_types'] == {'Néel': 1}
    assert clean['skyrmion_number_rounded'][:4] == [-1, -1, -1, -1]
    assert clean['walls'][0]['radius_cells'] == pytest.approx(4.0, abs=0.2)
