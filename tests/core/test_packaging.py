"""calcjobs/ and workflows/ install as aiida_flexo.calcjobs / aiida_flexo.workflows, editable and as a wheel."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from importlib.metadata import entry_points
from pathlib import Path

ROOT = Path(__file__).parents[2]


def test_editable_install_maps_the_top_level_folders():
    import aiida_flexo.calcjobs
    import aiida_flexo.workflows

    assert Path(aiida_flexo.calcjobs.__file__).resolve() == (ROOT / 'calcjobs' / '__init__.py').resolve()
    assert Path(aiida_flexo.workflows.__file__).resolve() == (ROOT / 'workflows' / '__init__.py').resolve()


def test_entry_points_are_prefixed_and_load():
    names = []
    for group in ('aiida.data', 'aiida.calculations', 'aiida.parsers', 'aiida.workflows'):
        for ep in entry_points(group=group):
            if ep.value.startswith('aiida_flexo'):
                assert ep.name.startswith('flexo.'), ep
                ep.load()
                names.append(ep.name)
    assert 'flexo.frames' in names and 'flexo.polarization' in names


def test_wheel_contains_the_mapped_packages(tmp_path):
    build = subprocess.run(
        [
            sys.executable,
            '-m',
            'pip',
            'wheel',
            '--no-deps',
            '--no-build-isolation',
            '-v',
            str(ROOT),
            '-w',
            str(tmp_path),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    # data folders are package data, not undeclared packages (setuptools warned once per folder)
    assert 'is absent from the `packages` configuration' not in build.stdout + build.stderr
    (wheel,) = tmp_path.glob('aiida_flexo-*.whl')
    names = zipfile.ZipFile(wheel).namelist()
    assert 'aiida_flexo/calcjobs/polarization.py' in names
    assert 'aiida_flexo/workflows/__init__.py' in names
    assert 'aiida_flexo/resources/BaTiO3_qe_berry_bec.xyz' in names
    assert 'aiida_flexo/resources/vasp/BTO_221_99_polarization/polar_polarization/OUTCAR' in names
    assert 'aiida_flexo/workflows/protocols/pipeline.yaml' in names
    assert 'aiida_flexo/engines/protocols/engine.yaml' in names
    assert not [n for n in names if n.startswith(('calcjobs/', 'workflows/', 'tests/'))]
    # the modules import from the wheel itself
    code = 'import aiida_flexo.calcjobs.polarization as m; print(m.__file__)'
    out = subprocess.run(
        [sys.executable, '-c', code],
        env={'PYTHONPATH': str(wheel)},
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    assert str(wheel) in out.stdout
