"""Pictures and 3D exports: the legacy VTK file parses back, PNGs and the HTML page are written."""

import numpy as np
import pytest

from aiida_flexo.textures.plots import plot_cross_section, plot_layers, write_html
from aiida_flexo.textures.synthetic import skyrmion_field
from aiida_flexo.textures.vtk import read_vtk, write_vtk

PNG_MAGIC = b'\x89PNG\r\n\x1a\n'


@pytest.fixture
def field():
    rng = np.random.default_rng(5)
    return 0.5 * skyrmion_field((6, 5, 4), radius=1.5, width=0.8) + 0.01 * rng.normal(size=(6, 5, 4, 3))


def test_vtk_structured_points_round_trip(tmp_path, field):
    path = write_vtk(tmp_path / 'f.vtk', field, (3.9, 3.8, 4.0))
    lines = path.read_text().splitlines()
    assert lines[0] == '# vtk DataFile Version 3.0' and lines[2] == 'ASCII'
    assert 'DATASET STRUCTURED_POINTS' in lines and 'DIMENSIONS 6 5 4' in lines
    # x varies fastest: the first two vectors are P[0, 0, 0] and P[1, 0, 0]
    first = lines.index('VECTORS P double') + 1
    assert np.allclose([float(v) for v in lines[first].split()], field[0, 0, 0])
    assert np.allclose([float(v) for v in lines[first + 1].split()], field[1, 0, 0])
    data = read_vtk(path)
    assert data['dataset'] == 'STRUCTURED_POINTS'
    assert data['dimensions'] == (6, 5, 4)
    assert np.allclose(data['vectors']['P'], field, rtol=1e-9, atol=1e-12)
    assert np.allclose(data['scalars']['Pz'], field[..., 2], rtol=1e-9, atol=1e-12)
    assert np.allclose(data['scalars']['absP'], np.linalg.norm(field, axis=-1), rtol=1e-9)
    assert data['x'] == pytest.approx(1.95 + 3.9 * np.arange(6))
    assert data['z'] == pytest.approx(2.0 + 4.0 * np.arange(4))


def test_vtk_rectilinear_grid_for_unequal_layers(tmp_path, field):
    heights = [4.15, 4.15, 3.9, 3.9]
    data = read_vtk(write_vtk(tmp_path / 'f.vtk', field, 3.9, layer_heights_A=heights))
    assert data['dataset'] == 'RECTILINEAR_GRID'
    assert data['z'] == pytest.approx(np.cumsum(heights) - np.array(heights) / 2)
    assert np.allclose(data['vectors']['P'], field, rtol=1e-9, atol=1e-12)


def test_read_vtk_rejects_other_files(tmp_path):
    (tmp_path / 'x.vtk').write_text('hello\n')
    with pytest.raises(ValueError, match='not a legacy VTK'):
        read_vtk(tmp_path / 'x.vtk')


def test_pngs_are_written(tmp_path, field):
    layers = plot_layers(field, tmp_path / 'layers.png', 3.9, skyrmion_numbers=[-1.0] * 4)
    section = plot_cross_section(field, tmp_path / 'xz.png', 3.9, layer_heights_A=[4.1, 4.1, 3.9, 3.9])
    yz = plot_cross_section(field, tmp_path / 'yz.png', 3.9, plane='yz', index=0)
    for path in (layers, section, yz):
        assert path.read_bytes()[:8] == PNG_MAGIC and path.stat().st_size > 5000
    with pytest.raises(ValueError, match='plane'):
        plot_cross_section(field, tmp_path / 'no.png', 3.9, plane='xy')


def test_html_view(tmp_path, field):
    pytest.importorskip('plotly')
    path = write_html(tmp_path / 'f.html', field, 3.9, include_plotlyjs='cdn')
    text = path.read_text()
    assert '<html>' in text and '"type":"cone"' in text.replace(' ', '')
