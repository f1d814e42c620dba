"""Committees of potentials: the mean prediction and how much the members disagree.

K models trained on the same frames with different seeds and train/validation splits (``aiida-flexo mlip train
--committee K``) agree where the data pinned them down and scatter elsewhere; their spread is the uncertainty that
active learning selects frames with and that relaxations and MD record frame by frame.

Definitions (as in DP-GEN's model deviation): for atom i, with member forces F_ik and mean F̄_i,

    σ_F,i = sqrt( (1/K) Σ_k |F_ik − F̄_i|² )        (eV/Å; reported in meV/Å)

and per frame its maximum and mean over the atoms; the energy spread σ_E is the standard deviation of the member
energies divided by the number of atoms (eV/atom). A committee needs K ≥ 2.

File format ``*.committee.zip``: ``committee.json`` (``format``, ``members``: paths inside the archive, ``kind``,
``metrics``) and the member model files (any kind :func:`aiida_flexo.mlip.load_calculator` takes, a committee
excepted).
"""

from __future__ import annotations

import json
import shutil
import tempfile
import weakref
import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from ase.calculators.calculator import Calculator, all_changes

MANIFEST = 'committee.json'
FORMAT = 'aiida-flexo committee 1'
COMMITTEE_FILE = 'model.committee.zip'


class CommitteeError(ValueError):
    """A committee that cannot give an uncertainty (fewer than two members, mixed species, a bad archive)."""


def force_deviation(member_forces: np.ndarray) -> np.ndarray:
    """σ_F,i (eV/Å) from member forces of shape (K, n, 3)."""
    forces = np.asarray(member_forces, dtype=float)
    if forces.ndim != 3 or forces.shape[0] < 2:
        raise CommitteeError(f'force deviation needs (K >= 2, n, 3) member forces, got shape {forces.shape}')
    deviation = forces - forces.mean(axis=0)
    return np.sqrt((deviation**2).sum(axis=2).mean(axis=0))


class CommitteeCalculator(Calculator):
    """Mean energy, forces and stress of K member calculators, and their spread.

    Results besides the standard ones: ``force_std`` (n,) eV/Å per atom, ``energy_std`` eV/atom,
    ``member_energies`` (K,) eV.
    """

    implemented_properties = ('energy', 'free_energy', 'forces', 'stress')

    def __init__(self, members: Sequence[Calculator], **kwargs):
        super().__init__(**kwargs)
        if len(members) < 2:
            raise CommitteeError(
                f'a committee of {len(members)} model cannot estimate an uncertainty; train K >= 2 models '
                '(aiida-flexo mlip train --committee K)'
            )
        self.members = list(members)
        species = [set(getattr(m, 'type_names', ())) for m in self.members]
        self.type_names = sorted(set.intersection(*species)) if all(species) else []
        self.r_max = max(float(getattr(m, 'r_max', 0.0)) for m in self.members)

    def calculate(self, atoms=None, properties=('energy',), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        energies, forces, stresses = [], [], []
        periodic = all(self.atoms.pbc)
        for member in self.members:
            probe = self.atoms.copy()
            probe.calc = member
            energies.append(float(probe.get_potential_energy()))
            forces.append(np.array(probe.get_forces()))
            if periodic:
                stresses.append(np.array(probe.get_stress()))
        forces = np.array(forces)
        n = len(self.atoms)
        self.results = {
            'energy': float(np.mean(energies)),
            'free_energy': float(np.mean(energies)),
            'forces': forces.mean(axis=0),
            'force_std': force_deviation(forces),
            'energy_std': float(np.std(energies) / n),
            'member_energies': np.array(energies),
        }
        if periodic:
            self.results['stress'] = np.mean(stresses, axis=0)


def frame_uncertainty(calc) -> dict:
    """Per-frame uncertainty of the last calculation of ``calc`` (meV/Å, meV/atom); empty unless a committee.

    Keys: ``force_std_max_meV_A``, ``force_std_mean_meV_A``, ``force_std_argmax`` (atom index),
    ``energy_std_meV_atom``. Relaxation and MD frames carry them in ``atoms.info``.
    """
    results = getattr(calc, 'results', None) or {}
    if 'force_std' not in results:
        return {}
    std = np.asarray(results['force_std']) * 1e3
    return {
        'force_std_max_meV_A': float(std.max()),
        'force_std_mean_meV_A': float(std.mean()),
        'force_std_argmax': int(std.argmax()),
        'energy_std_meV_atom': float(results['energy_std'] * 1e3),
    }


def is_committee(calc) -> bool:
    return isinstance(calc, CommitteeCalculator)


def write_committee(
    member_files: Sequence[str | Path], path: str | Path, metrics: dict | None = None
) -> Path:
    """Pack member model files into a ``*.committee.zip`` (written through a temporary file)."""
    from aiida_flexo.mlip.calculator import model_kind

    path = Path(path)
    if not path.name.endswith('.committee.zip'):
        raise CommitteeError(f'{path}: a committee file must end in .committee.zip')
    if len(member_files) < 2:
        raise CommitteeError(f'a committee needs at least 2 members, got {len(member_files)}')
    names, kinds = [], set()
    for k, member in enumerate(member_files):
        member = Path(member)
        kinds.add(model_kind(member))
        names.append(f'member_{k}/{member.name}')
    if 'committee' in kinds:
        raise CommitteeError('a committee member cannot itself be a committee')
    manifest = {'format': FORMAT, 'members': names, 'kinds': sorted(kinds), 'metrics': metrics or {}}
    tmp = path.with_name(path.name + '.tmp')
    with zipfile.ZipFile(tmp, 'w', compression=zipfile.ZIP_STORED) as archive:
        archive.writestr(MANIFEST, json.dumps(manifest, indent=2))
        for name, member in zip(names, member_files):
            archive.write(member, name)
    tmp.replace(path)
    return path


def read_manifest(path: str | Path) -> dict:
    """The ``committee.json`` of a committee archive (checked)."""
    try:
        with zipfile.ZipFile(path) as archive:
            manifest = json.loads(archive.read(MANIFEST))
    except (zipfile.BadZipFile, KeyError, json.JSONDecodeError) as exc:
        raise CommitteeError(f'{path}: not a committee archive ({type(exc).__name__}: {exc})') from exc
    if manifest.get('format') != FORMAT or len(manifest.get('members', [])) < 2:
        raise CommitteeError(f'{path}: not a committee archive of format {FORMAT!r} with >= 2 members')
    return manifest


def load_committee(path: str | Path, device: str = 'cpu') -> CommitteeCalculator:
    """A :class:`CommitteeCalculator` of the members of a ``*.committee.zip`` (unpacked to a temporary folder
    that lives as long as the calculator)."""
    from aiida_flexo.mlip.calculator import load_calculator

    manifest = read_manifest(path)
    folder = Path(tempfile.mkdtemp(prefix='flexo-committee-'))
    with zipfile.ZipFile(path) as archive:
        archive.extractall(folder)
    members = [load_calculator(folder / name, device=device) for name in manifest['members']]
    calc = CommitteeCalculator(members)
    calc.manifest = manifest
    weakref.finalize(calc, shutil.rmtree, str(folder), True)
    return calc
