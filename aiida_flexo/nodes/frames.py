"""``flexo.frames``: an AiiDA node holding a set of labelled frames with their units.

Structures and labels are stored as numpy arrays in the node's repository (concatenated over frames for per-atom
quantities), so a set of thousands of frames is one node. Attributes make it queryable without loading arrays:
``n_frames``, ``n_atoms_total``, ``species``, ``labels`` (those present in every frame), ``partial_labels``
(present in some), ``units``, ``frames_hash`` (the same hash that trained models record), ``source``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from aiida.orm import ArrayData
from ase import Atoms

from aiida_flexo.data import frames as fr


class FramesData(ArrayData):
    """A set of labelled frames (see :mod:`aiida_flexo.data.frames` for the labels and their units)."""

    @classmethod
    def from_frames(cls, frames: Sequence[Atoms], source: str = '') -> FramesData:
        """A new (unstored) node holding ``frames`` (normalized ase ``Atoms``)."""
        frames = [fr.normalize_frame(atoms, where=f'frame {i}') for i, atoms in enumerate(frames)]
        fr.check_frames(frames, source=source or 'frames')
        node = cls()
        n_atoms = np.array([len(a) for a in frames], dtype=np.int64)
        node.set_array('n_atoms', n_atoms)
        node.set_array('numbers', np.concatenate([a.numbers for a in frames]).astype(np.int64))
        node.set_array('positions', np.concatenate([a.positions for a in frames]).astype(float))
        node.set_array('cells', np.stack([np.asarray(a.cell[:], dtype=float) for a in frames]))
        node.set_array('pbc', np.stack([a.pbc for a in frames]).astype(bool))
        complete, partial = [], []
        for key, (kind, shape, _) in fr.LABELS.items():
            mask = np.array([fr.has_label(a, key) for a in frames])
            if not mask.any():
                continue
            if kind == 'frame':
                values = np.full((len(frames), *shape), np.nan)
                for i, atoms in enumerate(frames):
                    if mask[i]:
                        values[i] = fr.get_label(atoms, key)
            else:
                values = np.full((int(n_atoms.sum()), *shape), np.nan)
                offsets = np.concatenate([[0], np.cumsum(n_atoms)])
                for i, atoms in enumerate(frames):
                    if mask[i]:
                        values[offsets[i] : offsets[i + 1]] = fr.get_label(atoms, key)
            node.set_array(key, values)
            if mask.all():
                complete.append(key)
            else:
                node.set_array(f'has_{key}', mask)
                partial.append(key)
        metadata = [_jsonable_info(a.info) for a in frames]
        node.base.attributes.set('frame_info', metadata)
        node.base.attributes.set('n_frames', len(frames))
        node.base.attributes.set('n_atoms_total', int(n_atoms.sum()))
        node.base.attributes.set('species', fr.species_of(frames))
        node.base.attributes.set('labels', complete)
        node.base.attributes.set('partial_labels', partial)
        node.base.attributes.set('units', {k: fr.UNITS[k] for k in complete + partial} | {'positions': 'Å'})
        node.base.attributes.set('frames_hash', fr.frames_hash(frames))
        node.base.attributes.set('source', str(source))
        return node

    @classmethod
    def from_file(cls, path: str | Path, require: Sequence[str] = ()) -> FramesData:
        """A new (unstored) node from an extxyz file (validated like :func:`aiida_flexo.data.read_frames`)."""
        return cls.from_frames(fr.read_frames(path, require=require), source=str(Path(path).name))

    @property
    def n_frames(self) -> int:
        return int(self.base.attributes.get('n_frames'))

    @property
    def labels(self) -> list[str]:
        """Labels present in every frame."""
        return list(self.base.attributes.get('labels'))

    @property
    def frames_hash(self) -> str:
        return str(self.base.attributes.get('frames_hash'))

    def get_frames(self) -> list[Atoms]:
        """The frames as normalized ase ``Atoms`` (bit-identical to those stored)."""
        n_atoms = self.get_array('n_atoms')
        offsets = np.concatenate([[0], np.cumsum(n_atoms)])
        numbers = self.get_array('numbers')
        positions = self.get_array('positions')
        cells = self.get_array('cells')
        pbc = self.get_array('pbc')
        info = self.base.attributes.get('frame_info')
        stored = set(self.get_arraynames())
        frames = []
        for i in range(len(n_atoms)):
            lo, hi = offsets[i], offsets[i + 1]
            atoms = Atoms(numbers=numbers[lo:hi], positions=positions[lo:hi], cell=cells[i], pbc=pbc[i])
            for key, (kind, _, _) in fr.LABELS.items():
                if key not in stored:
                    continue
                if f'has_{key}' in stored and not self.get_array(f'has_{key}')[i]:
                    continue
                values = self.get_array(key)
                if kind == 'atom':
                    atoms.arrays[key] = values[lo:hi].copy()
                elif key in ('energy', 'charge_quantum'):
                    atoms.info[key] = float(values[i])
                else:
                    atoms.info[key] = values[i].copy()
            atoms.info.update(info[i])
            frames.append(atoms)
        return frames

    def write_extxyz(self, path: str | Path) -> Path:
        """Write the frames to an extxyz file (what the GNN and MLIP CLIs read)."""
        return fr.write_frames(path, self.get_frames())


def _jsonable_info(info: dict) -> dict:
    """Frame metadata (non-label info entries) that survives a JSON round trip."""
    out = {}
    for key, value in info.items():
        if key in fr.LABELS:
            continue
        if isinstance(value, np.generic):
            value = value.item()
        elif isinstance(value, np.ndarray):
            value = value.tolist()
        try:
            json.dumps(value)
        except TypeError:
            value = str(value)
        out[key] = value
    return out
