"""Pretrained universal potentials whose weights ship inside a registry package, and one adapter per package.

Fine-tuning (:mod:`aiida_flexo.mlip.finetune`) starts from one of these; :func:`aiida_flexo.mlip.load_calculator`
runs them zero-shot (``aiida-flexo mlip eval sevennet-0 frames.xyz``) or as fine-tuned files. Nothing is downloaded
at run time: a name is available only when its weights are found inside the installed wheel
(:func:`available_potentials`).

==================  =========  =============================  ========  ===============================================
name                package    weights                        licence   zero-shot on the bundled BaTiO3 frames (QE PBE)
==================  =========  =============================  ========  ===============================================
``sevennet-0``      sevenn     SevenNet-0 (11 Jul 2024)       MIT       force MAE 75 meV/Å, 0.54 meV/atom, 0.54 GPa
``sevennet-l3i5``   sevenn     SevenNet-l3i5                  MIT       80 meV/Å, 0.75 meV/atom, 0.53 GPa (3.4× slower)
``sevennet-mf-0``   sevenn     SevenNet-MF-0, PBE fidelity    MIT       91 meV/Å, 0.72 meV/atom, 0.65 GPa
``chgnet-0.3.0``    chgnet     CHGNet 0.3.0                   BSD-3     109 meV/Å, 1.56 meV/atom, 0.48 GPa
==================  =========  =============================  ========  ===============================================

(energy MAE after removing the constant offset between the codes; 2 CPU threads; ``benchmarks/mlip_accuracy.py``.)

Each adapter (:class:`SevenNetAdapter`, :class:`CHGNetAdapter`) gives the fine-tuning loop the same few operations:
build the model, turn an ``ase.Atoms`` into the package's graph, a differentiable forward pass returning energy (eV),
forces (eV/Å) and stress (eV/Å³, ase sign), add per-element reference energies to the model's own atomic-energy
shift, save a file the package itself can load, and an ase calculator for a saved file.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms
from ase.data import chemical_symbols

#: key under which aiida-flexo stores its own metadata inside a saved fine-tuned model file
METADATA_KEY = 'aiida_flexo'


class UnknownPotentialError(ValueError):
    """A pretrained potential name that is unknown, or whose package or weights are not installed."""


@dataclass(frozen=True)
class UniversalPotential:
    """A pretrained universal potential shipped inside a registry package.

    Attributes:
        name: the name users give (``--from NAME``).
        package: the pip distribution that carries the weights.
        checkpoint: the package's own name of the weights.
        modal: fidelity (data set) of a multi-fidelity model, ``None`` otherwise.
        licence: licence of the weights.
        reference: what the weights were trained on.
        aliases: other accepted names.
    """

    name: str
    package: str
    checkpoint: str
    modal: str | None
    licence: str
    reference: str
    aliases: tuple[str, ...] = ()

    @property
    def adapter(self) -> UniversalAdapter:
        return ADAPTERS[self.package]


#: every known universal potential (available or not: see :func:`available_potentials`)
UNIVERSAL_POTENTIALS: dict[str, UniversalPotential] = {
    p.name: p
    for p in (
        UniversalPotential(
            'sevennet-0',
            'sevenn',
            '7net-0',
            None,
            'MIT',
            'SevenNet-0 (11Jul2024), MPtrj PBE(+U); Park et al., J. Chem. Theory Comput. 20, 4857 (2024)',
            ('7net-0', 'sevennet0'),
        ),
        UniversalPotential(
            'sevennet-l3i5',
            'sevenn',
            '7net-l3i5',
            None,
            'MIT',
            'SevenNet-l3i5 (l_max 3, 5 layers), MPtrj PBE(+U)',
            ('7net-l3i5',),
        ),
        UniversalPotential(
            'sevennet-mf-0',
            'sevenn',
            '7net-mf-0',
            'PBE',
            'MIT',
            'SevenNet-MF-0, multi-fidelity (PBE head used), MPtrj + r2SCAN',
            ('7net-mf-0',),
        ),
        UniversalPotential(
            'chgnet-0.3.0',
            'chgnet',
            '0.3.0',
            None,
            'BSD-3-Clause',
            'CHGNet 0.3.0, MPtrj PBE(+U); Deng et al., Nat. Mach. Intell. 5, 1031 (2023)',
            ('chgnet',),
        ),
    )
}


def _lookup(name: str) -> UniversalPotential | None:
    key = name.strip().lower()
    for potential in UNIVERSAL_POTENTIALS.values():
        if key == potential.name or key in potential.aliases:
            return potential
    return None


def is_universal_name(name: str) -> bool:
    """Whether ``name`` names a known universal potential (installed or not)."""
    return _lookup(str(name)) is not None


def available_potentials() -> list[str]:
    """Names of the universal potentials whose package and weights are installed here."""
    return [p.name for p in UNIVERSAL_POTENTIALS.values() if p.adapter.weights_path(p) is not None]


def resolve_potential(name: str) -> UniversalPotential:
    """The :class:`UniversalPotential` called ``name``; raises :class:`UnknownPotentialError` listing the others."""
    potential = _lookup(str(name))
    available = available_potentials()
    if potential is None:
        raise UnknownPotentialError(
            f'unknown pretrained potential {name!r}; available here: {", ".join(available) or "none"} '
            f'(all known: {", ".join(UNIVERSAL_POTENTIALS)}; install them with pip install "aiida-flexo[universal]")'
        )
    if potential.name not in available:
        raise UnknownPotentialError(
            f'pretrained potential {potential.name!r} needs the package {potential.package} with its weights, which '
            f'is not installed here; pip install "aiida-flexo[universal]" (available here: '
            f'{", ".join(available) or "none"})'
        )
    return potential


def check_universal_species(species: Sequence[str], known: Sequence[str], name: str) -> None:
    """Raise :class:`~aiida_flexo.mlip.calculator.MissingSpeciesError` naming the species ``name`` lacks."""
    from aiida_flexo.mlip.calculator import MissingSpeciesError

    missing = sorted(set(species) - set(known))
    if missing:
        raise MissingSpeciesError(
            f'{name} was not trained on the species {missing} of the training frames; fine-tune a potential that '
            f'knows them (see aiida-flexo mlip train --help for the list) or train Allegro from scratch'
        )


# --------------------------------------------------------------------------------------------- adapters


class UniversalAdapter:
    """What the fine-tuning loop needs from a universal-potential package (one subclass per package)."""

    #: pip distribution
    package: str = ''
    #: suffix of a saved fine-tuned model file
    suffix: str = ''

    def weights_path(self, potential: UniversalPotential) -> Path | None:
        """The weights file inside the installed package, ``None`` when absent (never downloads)."""
        raise NotImplementedError

    def load_pretrained(self, potential: UniversalPotential) -> Any:
        raise NotImplementedError

    def load_file(self, path: str | Path) -> tuple[Any, dict]:
        """(model, aiida-flexo metadata) of a saved fine-tuned file."""
        raise NotImplementedError

    def species(self, model) -> list[str]:
        raise NotImplementedError

    def cutoff(self, model) -> float:
        raise NotImplementedError

    def graph(self, model, atoms: Atoms, modal: str | None) -> Any:
        """The package's input graph of one structure (cached by the caller)."""
        raise NotImplementedError

    def forward(self, model, graphs: Sequence[Any], device: str = 'cpu') -> dict:
        """Differentiable predictions for a batch (moved to ``device``): ``energy`` (B,) eV, ``forces`` (ΣN, 3)
        eV/Å, ``stress`` (B, 3, 3) eV/Å³ with ase's sign (positive = tensile)."""
        raise NotImplementedError

    def add_reference_energies(self, model, deltas: dict[str, float], modal: str | None) -> None:
        """Add ``deltas`` (eV per atom of each element) to the model's per-element atomic energy."""
        raise NotImplementedError

    def save(self, model, path: str | Path, metadata: dict) -> Path:
        raise NotImplementedError

    def calculator(self, path: str | Path | None, potential: UniversalPotential | None, device: str):
        """An ase calculator of a saved file (``path``) or of the pretrained weights (``potential``)."""
        raise NotImplementedError

    def trainable_parameters(self, model) -> list:
        return [p for p in model.parameters() if p.requires_grad]


def _quiet():
    """Silence the packages' chatter (accelerator hints, deprecations) while they load."""
    context = warnings.catch_warnings()
    context.__enter__()
    warnings.simplefilter('ignore')
    return context


class SevenNetAdapter(UniversalAdapter):
    """SevenNet (``sevenn``): NequIP-style E(3)-equivariant message passing, 89 elements, cutoff 5 Å."""

    package = 'sevenn'
    suffix = '.sevenn.pth'

    def weights_path(self, potential):
        try:
            from sevenn import _const
        except ImportError:
            return None
        constant = {
            '7net-0': 'SEVENNET_0_11Jul2024',
            '7net-l3i5': 'SEVENNET_l3i5',
            '7net-mf-0': 'SEVENNET_MF_0',
        }[potential.checkpoint]
        path = Path(getattr(_const, constant, ''))
        return path if path.is_file() else None

    def _raw(self, path: Path) -> dict:
        import torch

        return torch.load(str(path), map_location='cpu', weights_only=False)

    def _build(self, path: Path):
        """The model of a sevenn checkpoint, and the config to save a fine-tuned copy with.

        The config is sevenn's processed one with the running version: an old checkpoint's version (SevenNet-0
        predates sevenn 0.11) would make sevenn re-sort the convolution weights of the saved copy a second time.
        """
        import sevenn
        from sevenn.checkpoint import SevenNetCheckpoint

        checkpoint = SevenNetCheckpoint(str(path))
        context = _quiet()
        try:
            model = checkpoint.build_model()
        finally:
            context.__exit__(None, None, None)
        model.set_is_batch_data(True)
        config = checkpoint.config
        config['version'] = sevenn.__version__
        model._flexo_config = config
        return model

    def load_pretrained(self, potential):
        return self._build(self.weights_path(potential))

    def load_file(self, path):
        path = Path(path)
        return self._build(path), dict(self._raw(path).get(METADATA_KEY, {}))

    def species(self, model):
        return [chemical_symbols[int(z)] for z in model.type_map]

    def cutoff(self, model):
        return float(model.cutoff)

    def graph(self, model, atoms, modal):
        from sevenn.atom_graph_data import AtomGraphData
        from sevenn.train.dataload import unlabeled_atoms_to_graph

        data = AtomGraphData.from_numpy_dict(unlabeled_atoms_to_graph(atoms, self.cutoff(model)))
        if modal is not None:
            data['data_modality'] = modal
        return data

    def forward(self, model, graphs, device='cpu'):
        import sevenn._keys as KEY
        import torch
        from torch_geometric.data import Batch

        batch = Batch.from_data_list(list(graphs)).to(device)
        output = model(batch)
        energy = output[KEY.PRED_TOTAL_ENERGY].reshape(-1)
        forces = output[KEY.PRED_FORCE]
        # sevenn's stress is -σ in Voigt order xx yy zz xy yz zx (see sevenn.calculator.output_to_results)
        voigt = -output[KEY.PRED_STRESS].reshape(-1, 6)
        xx, yy, zz, xy, yz, zx = voigt.unbind(-1)
        stress = torch.stack(
            [torch.stack([xx, xy, zx], -1), torch.stack([xy, yy, yz], -1), torch.stack([zx, yz, zz], -1)], -2
        )
        return {'energy': energy, 'forces': forces, 'stress': stress}

    def add_reference_energies(self, model, deltas, modal):
        import torch

        shift = model.rescale_atomic_energy.shift
        type_map = {chemical_symbols[int(z)]: int(i) for z, i in model.type_map.items()}
        with torch.no_grad():
            for element, delta in deltas.items():
                index = type_map[element]
                if shift.dim() == 2:  # multi-fidelity: one row per modality
                    row = model.modal_map[modal] if modal is not None else slice(None)
                    shift[row, index] += float(delta)
                else:
                    shift[index] += float(delta)

    def save(self, model, path, metadata):
        import torch

        path = Path(path)
        payload = {
            'config': model._flexo_config,
            'model_state_dict': model.state_dict(),
            'epoch': metadata.get('epochs'),
            'time': metadata.get('time', ''),
            'hash': metadata.get('frames_sha256', ''),
            METADATA_KEY: metadata,
        }
        torch.save(payload, str(path))
        return path

    def calculator(self, path, potential, device):
        from sevenn.calculator import SevenNetCalculator

        modal = potential.modal if potential is not None else None
        if path is None:
            source = str(self.weights_path(potential))
        else:
            source = str(path)
            modal = self._raw(Path(path)).get(METADATA_KEY, {}).get('modal', modal)
        context = _quiet()
        try:
            calc = SevenNetCalculator(source, device=device, modal=modal)
        finally:
            context.__exit__(None, None, None)
        return calc, self.species(calc.model), float(calc.cutoff)


class CHGNetAdapter(UniversalAdapter):
    """CHGNet (``chgnet``): crystal-graph network with bond and angle updates, 94 elements, cutoffs 5/3 Å."""

    package = 'chgnet'
    suffix = '.chgnet.pt'

    def weights_path(self, potential):
        try:
            import chgnet
        except ImportError:
            return None
        folder = Path(chgnet.__file__).parent / 'pretrained' / potential.checkpoint
        found = sorted(folder.glob('*.pth.tar')) if folder.is_dir() else []
        return found[0] if found else None

    def load_pretrained(self, potential):
        from chgnet.model import CHGNet

        context = _quiet()
        try:
            return CHGNet.from_file(str(self.weights_path(potential)))
        finally:
            context.__exit__(None, None, None)

    def load_file(self, path):
        import torch
        from chgnet.model import CHGNet

        raw = torch.load(str(path), map_location='cpu', weights_only=False)
        return CHGNet.from_dict(raw['model']), dict(raw.get(METADATA_KEY, {}))

    def species(self, model):
        return [chemical_symbols[z] for z in range(1, 95)]

    def cutoff(self, model):
        return float(model.graph_converter.atom_graph_cutoff)

    def graph(self, model, atoms, modal):
        from pymatgen.io.ase import AseAtomsAdaptor

        return model.graph_converter(AseAtomsAdaptor.get_structure(atoms))

    def forward(self, model, graphs, device='cpu'):
        import torch

        prediction = model([g.to(device) for g in graphs], task='efs')
        n_atoms = torch.tensor(
            [len(g.atomic_number) for g in graphs], dtype=prediction['e'].dtype, device=prediction['e'].device
        )
        energy = prediction['e'] * n_atoms if model.is_intensive else prediction['e']
        forces = torch.cat(list(prediction['f']), 0)
        # CHGNet's stress is in GPa with ase's sign (CHGNetCalculator multiplies by ase.units.GPa only)
        from ase.units import GPa

        stress = torch.stack(list(prediction['s'])).reshape(-1, 3, 3) * GPa
        return {'energy': energy, 'forces': forces, 'stress': stress}

    def add_reference_energies(self, model, deltas, modal):
        import torch
        from ase.data import atomic_numbers

        reference = model.composition_model
        if reference is None:
            raise ValueError('this CHGNet model has no composition model to hold reference energies')
        with torch.no_grad():
            for element, delta in deltas.items():
                # AtomRef is a linear map of the element fractions (intensive) or counts: both add delta per atom
                reference.fc.weight[0, atomic_numbers[element] - 1] += float(delta)

    def save(self, model, path, metadata):
        import torch

        path = Path(path)
        torch.save({'model': model.as_dict(), METADATA_KEY: metadata}, str(path))
        return path

    def calculator(self, path, potential, device):
        from chgnet.model import CHGNet, CHGNetCalculator

        context = _quiet()
        try:
            model = (
                CHGNet.from_file(str(self.weights_path(potential)))
                if path is None
                else self.load_file(path)[0]
            )
            calc = CHGNetCalculator(model, use_device=device)
        finally:
            context.__exit__(None, None, None)
        return calc, self.species(model), self.cutoff(model)


#: adapter per package
ADAPTERS: dict[str, UniversalAdapter] = {'sevenn': SevenNetAdapter(), 'chgnet': CHGNetAdapter()}


def adapter_for_file(path: str | Path) -> UniversalAdapter | None:
    """The adapter whose saved-file suffix ``path`` has, else ``None``."""
    name = Path(path).name
    for adapter in ADAPTERS.values():
        if name.endswith(adapter.suffix):
            return adapter
    return None


def base_potential_of(path: str | Path) -> str | None:
    """The pretrained name a saved fine-tuned file started from (its stored metadata), if recorded."""
    adapter = adapter_for_file(path)
    if adapter is None:
        return None
    return adapter.load_file(path)[1].get('from')


def counts_matrix(frames: Sequence[Atoms], species: Sequence[str]) -> np.ndarray:
    """(n_frames, n_species) number of atoms of each species in each frame."""
    index = {s: i for i, s in enumerate(species)}
    counts = np.zeros((len(frames), len(species)))
    for f, atoms in enumerate(frames):
        for symbol in atoms.get_chemical_symbols():
            counts[f, index[symbol]] += 1
    return counts
