"""Readers behind the VASP calcfunctions, on real VASP outputs: energies (the MD ``e_0_energy`` trap), forces, MD."""

from __future__ import annotations

import gzip
import re
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from vasp_replay_helpers import REPLAY_ROOT

from aiida_flexo.calcjobs.functions.vasp_outputs import read_md_frames, read_scf_labels
from aiida_flexo.polarization import VaspOutputError
from aiida_flexo.resources import bundled_path

PT111 = REPLAY_ROOT / 'recorded' / 'aimd' / 'Pt111_24H2O_SimSoliqTools'
SI64 = REPLAY_ROOT / 'recorded' / 'aimd' / 'Si64_vasp6.3.2'
#: From the Pt111 OUTCAR: "energy(sigma->0)" and "free energy TOTEN" after each MD step, and "(temperature ... K)".
PT111_SIGMA0 = [-558.56152941, -558.5733752, -558.5407407]
PT111_FREE = [-558.76023193, -558.77211641, -558.73961886]
PT111_TEMPERATURE = [312.58, 318.08, 318.18]


def _copy(folder: Path, *sources: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for source in sources:
        target = folder / source.name.removesuffix('.gz')
        if source.suffix == '.gz':
            target.write_bytes(gzip.decompress(source.read_bytes()))
        else:
            shutil.copy(source, target)
    return folder


def test_single_point_labels_from_the_outcar(tmp_path):
    folder = _copy(tmp_path, bundled_path('vasp/BTO_221_99_polarization/polar_polarization/OUTCAR'))
    labels = read_scf_labels(folder)
    assert labels['source'] == 'OUTCAR'
    assert labels['energy'] == pytest.approx(-39.94310588)
    assert labels['symbols'] == ['Ba', 'Ti', 'O', 'O', 'O']
    assert labels['forces'][1, 2] == pytest.approx(0.021834)  # Ti, along the polar axis
    assert np.allclose(labels['forces'].sum(axis=0), 0.0, atol=1e-3)  # Newton's third law (drift)
    assert labels['stress'].shape == (3, 3) and np.allclose(labels['stress'], labels['stress'].T)
    with pytest.raises(VaspOutputError, match='neither'):
        read_scf_labels(tmp_path / 'empty')


def test_md_energies_avoid_the_e0_energy_trap(tmp_path):
    """Pt(111)/water, VASP 5.4.4 with IVDW = 11: the ionic <energy> block's e_0_energy is −TS, not the energy."""
    root = ET.fromstring(gzip.decompress((PT111 / 'vasprun.xml.gz').read_bytes()))
    naive = [float(c.find("energy/i[@name='e_0_energy']").text) for c in root.findall('calculation')]
    scstep = [
        float(c.findall('scstep')[-1].find("energy/i[@name='e_0_energy']").text)
        for c in root.findall('calculation')
    ]
    assert np.allclose(naive, [-0.39740503, -0.39748241, -0.39775631])  # the trap: the entropy term
    assert np.all(np.array(scstep) > -529)  # the electronic steps miss the −30.6 eV vdW (D3) correction

    for name, files in (
        ('xml', ('vasprun.xml.gz',)),
        ('outcar', ('OUTCAR.gz',)),
        ('both', ('vasprun.xml.gz', 'OUTCAR.gz')),
    ):
        frames, temperatures, source = read_md_frames(_copy(tmp_path / name, *(PT111 / f for f in files)))
        assert len(frames) == 3 and len(frames[0]) == 108
        assert np.allclose([f.get_potential_energy() for f in frames], PT111_SIGMA0, atol=1e-6), name
        assert np.allclose([f.calc.results['free_energy'] for f in frames], PT111_FREE, atol=1e-6), name
        if 'OUTCAR.gz' in files:
            assert np.allclose(temperatures, PT111_TEMPERATURE)  # VASP's own (24 Pt atoms are fixed)
        assert source == ('OUTCAR' if name == 'outcar' else 'vasprun.xml')


def test_md_frames_of_a_vasp6_run_without_outcar(tmp_path):
    frames, temperatures, source = read_md_frames(_copy(tmp_path, SI64 / 'vasprun.xml.gz'))
    assert source == 'vasprun.xml' and len(frames) == 10 and len(frames[0]) == 64
    assert [round(f.get_potential_energy(), 5) for f in frames[:3]] == [-338.31623, -337.60381, -335.62031]
    assert temperatures[0] == pytest.approx(2000.0, abs=1.0)  # TEBEG, from the kinetic energy with 3N − 3
    assert np.all(np.isfinite([f.get_stress() for f in frames]))


def test_truncated_md_keeps_finished_steps(tmp_path):
    """A run killed during step 3: the OUTCAR still gives the two finished steps."""
    text = gzip.decompress((PT111 / 'OUTCAR.gz').read_bytes()).decode()
    third = [m.start() for m in re.finditer('FREE ENERGIE OF THE ION-ELECTRON SYSTEM', text)][2]
    (tmp_path / 'OUTCAR').write_text(text[:third])
    (tmp_path / 'vasprun.xml').write_text(
        gzip.decompress((PT111 / 'vasprun.xml.gz').read_bytes()).decode()[:200000]
    )
    frames, _, source = read_md_frames(tmp_path)
    assert source in ('OUTCAR', 'vasprun.xml')
    assert len(frames) == 2
    assert np.allclose([f.get_potential_energy() for f in frames], PT111_SIGMA0[:2], atol=1e-6)
