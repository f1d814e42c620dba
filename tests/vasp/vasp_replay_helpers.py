"""Helpers of the VASP replay tests (imported by the test modules)."""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).resolve().parent
REPLAY_ROOT = HERE.parent / 'fixtures' / 'vasp_replay'


def replay_options(*cases: str) -> dict:
    """metadata.options that make the replayer try ``cases`` in this order."""
    return {
        'resources': {'num_machines': 1, 'num_mpiprocs_per_machine': 1},
        'max_wallclock_seconds': 600,
        'withmpi': False,
        'prepend_text': f'export FLEXO_VASP_REPLAY_CASES={",".join(cases)}',
    }


def structure_from_file(path: Path | str, fmt: str = 'vasp'):
    """A StructureData from a structure file (POSCAR by default)."""
    import ase.io
    from aiida import orm

    return orm.StructureData(ase=ase.io.read(path, format=fmt))
