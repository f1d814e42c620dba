"""An ase calculator for a trained nequip/Allegro model (energy in eV, forces in eV/Å, stress in eV/Å³, ase sign).

Model files accepted by :func:`load_calculator`:

* ``*.nequip.zip``: a ``nequip-package`` archive (portable; the default output of :func:`aiida_flexo.mlip.train`),
  run in eager mode;
* ``*.ckpt``: a training checkpoint, run in eager mode (needs the same nequip/allegro versions as training);
* ``*.nequip.pt2``: an AOTInductor model from ``nequip-compile --mode aotinductor --target ase`` (optional; slow to
  build and, on shared CPUs, slower than eager).
"""

from __future__ import annotations

import random
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator, all_changes

#: Suffixes of the model files :func:`load_calculator` knows.
MODEL_SUFFIXES = ('.nequip.zip', '.ckpt', '.nequip.pt2')


class ModelError(ValueError):
    """A model file is missing, of an unknown kind, or cannot describe a structure."""


class MissingSpeciesError(ModelError):
    """The structure contains chemical species the model was not trained on."""


def model_kind(path: str | Path) -> str:
    """``'package'``, ``'checkpoint'`` or ``'compiled'`` from a model file name."""
    name = Path(path).name
    if name.endswith('.nequip.zip'):
        return 'package'
    if name.endswith('.ckpt'):
        return 'checkpoint'
    if name.endswith('.nequip.pt2'):
        return 'compiled'
    raise ModelError(
        f'{path}: unknown model file kind; expected a name ending in {", ".join(MODEL_SUFFIXES)} '
        '(aiida-flexo mlip train writes model.nequip.zip)'
    )


@contextmanager
def float64_default() -> Iterator[None]:
    """Run with torch's default dtype float64 (nequip's data convention), restoring the caller's afterwards.

    nequip builds its input tensors (positions, cell) in the default dtype; float32 would round a 1e5 eV total
    energy to ~0.01 eV. The caller's default (e.g. float32 for the dipole GNN in the same process) is restored.
    """
    import torch

    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        yield
    finally:
        torch.set_default_dtype(previous)


@contextmanager
def _isolated_global_state() -> Iterator[None]:
    """Keep nequip's one-time global set-up (it seeds all RNGs and sets float64) from leaking to the caller."""
    import numpy
    import torch

    states = (random.getstate(), numpy.random.get_state(), torch.get_rng_state(), torch.get_default_dtype())
    try:
        yield
    finally:
        random.setstate(states[0])
        numpy.random.set_state(states[1])
        torch.set_rng_state(states[2])
        torch.set_default_dtype(states[3])


@lru_cache(maxsize=1)
def _nequip_calculator_class():
    from nequip.integrations.ase import NequIPCalculator

    class AllegroCalculator(NequIPCalculator):
        """``NequIPCalculator`` that names the species a model does not know instead of failing obscurely."""

        def calculate(self, atoms=None, properties=('energy',), system_changes=all_changes):
            if atoms is not None:
                check_species(atoms, self.type_names, self.model_path)
            with float64_default():
                super().calculate(atoms, list(properties), system_changes)

        def atoms_to_data(self, atoms):
            # only the structure goes in: nequip's from_ase would also pick up labels in atoms.info/arrays (e.g.
            # a cell dipole, which it takes for a per-atom field and rejects)
            bare = Atoms(numbers=atoms.numbers, positions=atoms.positions, cell=atoms.cell[:], pbc=atoms.pbc)
            return super().atoms_to_data(bare)

    return AllegroCalculator


def check_species(atoms: Atoms, type_names: list[str], model_path: str | Path = 'the model') -> None:
    """Raise :class:`MissingSpeciesError` naming the species of ``atoms`` that ``type_names`` lacks."""
    missing = sorted(set(atoms.get_chemical_symbols()) - set(type_names))
    if missing:
        raise MissingSpeciesError(
            f'{model_path}: the model knows the species {type_names} but the structure contains {missing}; '
            'train a model on frames that contain them'
        )


def load_calculator(model_path: str | Path, device: str = 'cpu') -> Calculator:
    """An ase calculator for a trained model file (see the module docstring for the kinds).

    Args:
        model_path: ``*.nequip.zip`` (package), ``*.ckpt`` (checkpoint) or ``*.nequip.pt2`` (AOTInductor).
        device: torch device, ``'cpu'`` or ``'cuda'``.

    Returns:
        A calculator with ``energy`` (eV), ``forces`` (eV/Å) and ``stress`` (eV/Å³, Voigt, ase sign) results;
        its ``type_names`` attribute lists the species the model knows, ``r_max`` its cutoff (Å).

    Raises:
        ModelError: missing or unknown file; the calculator raises :class:`MissingSpeciesError` for structures
            with species the model does not know.
    """
    path = Path(model_path)
    if not path.is_file():
        raise ModelError(f'{path}: no such model file')
    kind = model_kind(path)
    cls = _nequip_calculator_class()
    import torch
    from nequip.integrations.utils import basic_transforms
    from nequip.nn import graph_model

    if kind == 'compiled':
        from nequip.model.inference_models import load_compiled_model

        target = cls._get_aoti_compile_target()
        try:
            model, metadata = load_compiled_model(
                str(path), device, list(target['input']), list(target['output'])
            )
        except Exception as exc:  # noqa: BLE001 - AOTInductor raises many kinds
            raise ModelError(
                f'{path}: could not be loaded as a compiled model ({type(exc).__name__}: {exc})'
            ) from exc
    else:
        from nequip.model.saved_models.load_utils import load_saved_model
        from nequip.utils.global_state import set_global_state

        with _isolated_global_state(), warnings.catch_warnings():
            set_global_state(allow_tf32=False)
            warnings.simplefilter('ignore')
            try:
                model = load_saved_model(str(path), compile_mode='eager')
            except Exception as exc:  # noqa: BLE001 - torch.package / lightning raise many kinds
                raise ModelError(
                    f'{path}: could not be loaded as a nequip {kind} ({type(exc).__name__}: {exc})'
                ) from exc
        model.eval()
        metadata = model.metadata
    r_max = float(metadata[graph_model.R_MAX_KEY])
    type_names = metadata[graph_model.TYPE_NAMES_KEY]
    type_names = type_names.split(' ') if isinstance(type_names, str) else list(type_names)
    transforms = basic_transforms(metadata, r_max, type_names, {t: t for t in type_names})
    calc = cls(model=model, device=torch.device(device), transforms=transforms)
    calc.type_names = list(type_names)
    calc.r_max = float(r_max)
    calc.model_path = str(path)
    return calc


def predict(calculator: Calculator, atoms: Atoms) -> dict[str, np.ndarray | float]:
    """Energy (eV), forces (n, 3; eV/Å) and stress (3, 3; eV/Å³, ase sign) of ``atoms`` (not modified)."""
    from ase.stress import voigt_6_to_full_3x3_stress

    probe = atoms.copy()
    probe.calc = calculator
    energy = float(probe.get_potential_energy())
    forces = np.array(probe.get_forces())
    stress = voigt_6_to_full_3x3_stress(np.array(probe.get_stress())) if all(probe.pbc) else None
    return {'energy': energy, 'forces': forces, 'stress': stress}
