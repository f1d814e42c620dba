"""DFT engines for labelling frames: engine-neutral inputs, their native mappings, and the engine executables.

* :mod:`aiida_flexo.engines.inputs`: :class:`EngineInputs` (JSON), protocols, k-point meshes and the registry of
  native mappings (:func:`to_native`; ``gpaw`` here, ``vasp`` registered by the VASP layer).
* :mod:`aiida_flexo.engines.gpaw_inputs`: the GPAW mapping (plane-wave mode).
* :mod:`aiida_flexo.engines.gpaw_driver`: the GPAW executable (``aiida-flexo engine gpaw input.json``).
* :mod:`aiida_flexo.engines.exit_codes`: exit statuses shared by the executables and the CalcJob parsers.

Nothing here imports AiiDA; GPAW is imported only when a calculation runs.
"""

from aiida_flexo.engines.exit_codes import EngineError, ExitCode
from aiida_flexo.engines.inputs import (
    NATIVE_MAPPINGS,
    PROTOCOLS,
    BornChargesSpec,
    EngineInputs,
    InputsError,
    MDSpec,
    kpoint_mesh,
    register_engine,
    to_native,
)

__all__ = [
    'NATIVE_MAPPINGS',
    'PROTOCOLS',
    'BornChargesSpec',
    'EngineError',
    'EngineInputs',
    'ExitCode',
    'InputsError',
    'MDSpec',
    'kpoint_mesh',
    'register_engine',
    'to_native',
]
