"""Labelled frames (ase ``Atoms`` with named labels), extxyz exchange and reproducible splits."""

from aiida_flexo.data.frames import (
    ATOM_LABELS,
    FRAME_LABELS,
    LABELS,
    UNITS,
    FramesError,
    check_frames,
    check_periodic,
    frames_hash,
    get_label,
    has_label,
    normalize_frame,
    read_frames,
    species_of,
    without_labels,
    write_frames,
)
from aiida_flexo.data.splits import DEFAULT_FRACTIONS, Split, committee_split, make_split

__all__ = [
    'ATOM_LABELS',
    'DEFAULT_FRACTIONS',
    'FRAME_LABELS',
    'LABELS',
    'UNITS',
    'FramesError',
    'Split',
    'check_frames',
    'check_periodic',
    'committee_split',
    'frames_hash',
    'get_label',
    'has_label',
    'make_split',
    'normalize_frame',
    'read_frames',
    'species_of',
    'without_labels',
    'write_frames',
]
