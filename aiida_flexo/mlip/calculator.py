"""The one calculator factory: an ase calculator for any potential aiida-flexo trains or ships.

:func:`load_calculator` takes a model file or a pretrained name and returns an ase calculator (energy eV, forces
eV/Å, stress eV/Å³ with ase's sign) with three attributes every caller may use: ``type_names`` (species the model
knows), ``r_max`` (cutoff, Å) and ``model_path``. Every step that runs a potential (``mlip eval/relax/md``, the
flexo supercells, the textures, distillation, active learning) goes through it; the kinds:

=========================  ===========================================================================================
model                      what
=========================  ===========================================================================================
``*.nequip.zip``           Allegro packaged by ``nequip-package`` (the output of ``aiida-flexo mlip train``), eager
``*.ckpt``                 an Allegro/nequip training checkpoint, eager (same nequip/allegro versions as training)
``*.nequip.pt2``           Allegro compiled by ``nequip-compile --mode aotinductor`` (slow to build; not faster here)
``*.sevenn.pth``           a fine-tuned SevenNet (``mlip train --from sevennet-0``); sevenn loads it as well
``*.chgnet.pt``            a fine-tuned CHGNet (``mlip train --from chgnet-0.3.0``)
``*.committee.zip``        K models of any kind above: mean prediction and the spread across members
                           (:mod:`aiida_flexo.mlip.committee`)
``sevennet-0``, ...        a pretrained universal potential, zero-shot (:mod:`aiida_flexo.mlip.universal`)
=========================  ===========================================================================================
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

#: model-file suffix -> kind (see the module docstring)
MODEL_KINDS = {
    '.nequip.zip': 'package',
    '.ckpt': 'checkpoint',
    '.nequip.pt2': 'compiled',
    '.sevenn.pth': 'sevenn',
    '.chgnet.pt': 'chgnet',
    '.committee.zip': 'committee',
}
#: Suffixes of the model files :func:`load_calculator` knows.
MODEL_SUFFIXES = tuple(MODEL_KINDS)


class ModelError(ValueError):
    """A model file is missing, of an unknown kind, or cannot describe a structure."""


class MissingSpeciesError(ModelError):
    """The structure contains chemical species the model was not trained on."""


def model_kind(path: str | Path) -> str:
    """The kind of a model file from its name (:data:`MODEL_KINDS`), or ``'pretrained'`` for a pretrained name."""
    name = Path(path).name
    for suffix, kind in MODEL_KINDS.items():
        if name.endswith(suffix):
            return kind
    from aiida_flexo.mlip.universal import available_potentials, is_universal_name

    if is_universal_name(str(path)) and not Path(path).exists():
        return 'pretrained'
    raise ModelError(
        f'{path}: unknown model file kind; expected a name ending in {", ".join(MODEL_SUFFIXES)} (aiida-flexo mlip '
        f'train writes model.nequip.zip, model.sevenn.pth, model.chgnet.pt or model.committee.zip) or a pretrained '
        f'potential ({", ".join(available_potentials()) or "none installed"})'
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
    """An ase calculator for a model file or a pretrained name (see the module docstring for the kinds).

    Args:
        model_path: a model file, or the name of a pretrained universal potential (``sevennet-0``).
        device: torch device, ``'cpu'`` or ``'cuda'``.

    Returns:
        A calculator with ``energy`` (eV), ``forces`` (eV/Å) and ``stress`` (eV/Å³, Voigt, ase sign) results;
        its ``type_names`` attribute lists the species the model knows, ``r_max`` its cutoff (Å), ``model_path``
        the file or name, ``model_kind`` the kind. A committee also gives ``force_std`` (n, eV/Å) per atom.

    Raises:
        ModelError: missing or unknown file, an unknown or uninstalled pretrained name; the nequip calculator
            raises :class:`MissingSpeciesError` for structures with species the model does not know.
    """
    kind = model_kind(model_path)
    path = Path(model_path)
    if kind != 'pretrained' and not path.is_file():
        raise ModelError(f'{path}: no such model file')
    from aiida_flexo.device import DeviceError, check_device

    try:
        check_device(device)
    except DeviceError as exc:
        raise ModelError(str(exc)) from exc
    loader = {
        'pretrained': _load_universal,
        'sevenn': _load_universal,
        'chgnet': _load_universal,
        'committee': _load_committee,
    }.get(kind, _load_nequip)
    calc = loader(path if kind != 'pretrained' else str(model_path), kind, device)
    calc.model_path = str(model_path)
    calc.model_kind = kind
    return calc


def _load_universal(path, kind: str, device: str) -> Calculator:
    """A pretrained universal potential (zero-shot) or a fine-tuned file of one."""
    from aiida_flexo.mlip.universal import UnknownPotentialError, adapter_for_file, resolve_potential

    try:
        if kind == 'pretrained':
            potential = resolve_potential(str(path))
            calc, species, cutoff = potential.adapter.calculator(None, potential, device)
        else:
            calc, species, cutoff = adapter_for_file(path).calculator(path, None, device)
    except UnknownPotentialError as exc:
        raise ModelError(str(exc)) from exc
    except ImportError as exc:
        raise ModelError(
            f'{path}: needs a package that is not installed ({exc}); pip install "aiida-flexo[universal]"'
        ) from exc
    except Exception as exc:  # noqa: BLE001 - torch.load and the packages raise many kinds
        raise ModelError(
            f'{path}: could not be loaded as a {kind} model ({type(exc).__name__}: {exc})'
        ) from exc
    calc.type_names = list(species)
    calc.r_max = float(cutoff)
    return calc


def _load_committee(path: Path, kind: str, device: str) -> Calculator:
    from aiida_flexo.mlip.committee import load_committee

    return load_committee(path, device=device)


def _load_nequip(path: Path, kind: str, device: str) -> Calculator:
    """An Allegro/nequip model: package, checkpoint or AOTInductor file."""
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
    return calc


def predict(calculator: Calculator, atoms: Atoms) -> dict[str, np.ndarray | float]:
    """Energy (eV), forces (n, 3; eV/Å) and stress (3, 3; eV/Å³, ase sign) of ``atoms`` (not modified).

    The forces are the potential's, without the constraints ``atoms`` may carry (a frame of an MD trajectory with
    ``FixCom``, a relaxed structure with ``FixAtoms``): these are labels, not an optimizer's search direction.
    """
    from ase.stress import voigt_6_to_full_3x3_stress

    probe = atoms.copy()
    probe.set_constraint()
    probe.calc = calculator
    energy = float(probe.get_potential_energy())
    forces = np.array(probe.get_forces())
    stress = voigt_6_to_full_3x3_stress(np.array(probe.get_stress())) if all(probe.pbc) else None
    return {'energy': energy, 'forces': forces, 'stress': stress}
