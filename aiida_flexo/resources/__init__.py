"""Data shipped with aiida-flexo (see SOURCES.md in this folder for provenance and licenses)."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

#: Steps of the bundled VASP Berry-phase path of BaTiO3, centrosymmetric → polar, in path order.
BTO_PATH_STEPS = (
    'nonpolar_polarization',
    *(f'interpolation_{i}_polarization' for i in range(8, 0, -1)),
    'polar_polarization',
)


def bundled_path(name: str) -> Path:
    """Absolute path of a file or folder shipped in ``aiida_flexo/resources``."""
    path = Path(str(files('aiida_flexo.resources').joinpath(name)))
    if not path.exists():
        raise FileNotFoundError(f'{name} is not among the bundled resources of aiida-flexo ({path})')
    return path


def bto_path_outcars() -> list[Path]:
    """OUTCARs of the bundled BaTiO3 Berry-phase path (pymatgen test data), in path order."""
    root = bundled_path('vasp/BTO_221_99_polarization')
    return [root / step / 'OUTCAR' for step in BTO_PATH_STEPS]


#: The bundled PbTiO3/SrTiO3 frame sets (GPAW fast protocol, see SOURCES.md): first and wide-displacement set.
PTO_STO_FRAME_FILES = ('PbTiO3_SrTiO3_gpaw_fast.xyz', 'PbTiO3_SrTiO3_gpaw_fast_wide.xyz')


def pto_sto_frame_paths() -> list[Path]:
    """Paths of both bundled PbTiO3/SrTiO3 frame sets (67 labelled frames together)."""
    return [bundled_path(name) for name in PTO_STO_FRAME_FILES]


#: The 8 PbTiO3/SrTiO3 frames flexo.active labelled (GPAW fast, the bundled sets' settings; see SOURCES.md): the
#: interface cells its committees disagreed on most, with the generation and the deviations that chose them.
PTO_STO_ACTIVE_FILE = 'PbTiO3_SrTiO3_gpaw_active.xyz'

#: GPAW-labelled BaTiO3 frames along the paths cubic → tetragonal (polar along z and x), 5- and 40-atom cells.
BTO_GPAW_PATH_FILE = 'BaTiO3_gpaw_paths.xyz'
