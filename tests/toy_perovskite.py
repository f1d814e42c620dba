"""An analytic 5-atom perovskite potential whose bulk-validation numbers are known in closed form.

Per cell: E = K·[(a − a₀)² + (b − a₀)² + (c − c₀)²] (a₀, c₀ per A-site species) + Ti: k/2·(dx² + dy²) − α·dz² + β·dz⁴
+ each O: k/2·|d|², with d the displacement (Å) from the ideal site relative to the A atom. So the Ti off-centring
along z is ±√(α/2β) for α > 0 (no well for α ≤ 0), the double well is α²/4β deep, the minimum of E(c) at relaxed
positions lies at c₀, and cubic PbTiO3 at a = c lies K·[(a − c₀)² − (4.152 − c₀)²] + α²/4β above the relaxed polar
cell at c = 4.152 Å. Energies eV, lengths Å.
"""

from __future__ import annotations

import numpy as np
from ase.calculators.calculator import Calculator, all_changes

from aiida_flexo.units import dipole_to_polarization

#: per A-site species: a₀, c₀ (Å), α (eV/Å²), β (eV/Å⁴)
TOY = {'Pb': (3.90, 4.30, 1.8, 10.0), 'Sr': (3.93, 3.93, -1.0, 10.0)}
K_CELL = 2.0  # eV/Å²
K_SITE = 5.0  # eV/Å²
IDEAL = np.array([(0.5, 0.5, 0.5), (0.5, 0.5, 0.0), (0.5, 0.0, 0.5), (0.0, 0.5, 0.5)])
Z_TI = 7.0  # e: the toy's dipole is Z·dz of Ti


class ToyPerovskite(Calculator):
    implemented_properties = ('energy', 'forces', 'stress')

    def __init__(self, species=('O', 'Pb', 'Sr', 'Ti'), **kwargs):
        super().__init__(**kwargs)
        self.type_names = list(species)
        self.model_path = 'toy'
        self.model_kind = 'toy'

    def calculate(self, atoms=None, properties=('energy',), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        if len(self.atoms) != 5:
            self._einstein()
            return
        a0, c0, alpha, beta = TOY[self.atoms.get_chemical_symbols()[0]]
        lengths = self.atoms.cell.lengths()
        cell = np.diag(self.atoms.cell[:])
        energy = K_CELL * ((lengths[0] - a0) ** 2 + (lengths[1] - a0) ** 2 + (lengths[2] - c0) ** 2)
        positions = self.atoms.positions
        forces = np.zeros_like(positions)
        for index, fractional in enumerate(IDEAL, start=1):
            d = positions[index] - positions[0] - fractional * cell
            d -= np.round(d / cell) * cell
            if index == 1:
                energy += 0.5 * K_SITE * (d[0] ** 2 + d[1] ** 2) - alpha * d[2] ** 2 + beta * d[2] ** 4
                gradient = np.array([K_SITE * d[0], K_SITE * d[1], -2 * alpha * d[2] + 4 * beta * d[2] ** 3])
            else:
                energy += 0.5 * K_SITE * d @ d
                gradient = K_SITE * d
            forces[index] -= gradient
            forces[0] += gradient
        # the cell term's stress (eV/Å³, Voigt; the site terms' part left out: only reported by a fixed-cell relax)
        targets = np.array([a0, a0, c0])
        stress = np.zeros(6)
        stress[:3] = 2 * K_CELL * (lengths - targets) * lengths / self.atoms.get_volume()
        self.results = {'energy': float(energy), 'forces': forces, 'stress': stress}

    def _einstein(self) -> None:
        """A supercell (a heating run): every atom on a spring to its ideal site, i.e. its fractional position rounded
        to the perovskite grid of half cells (no transition, zero stress)."""
        scaled = self.atoms.get_scaled_positions(wrap=False)
        grid = np.array([2 * n for n in np.round(self.atoms.cell.lengths() / 3.9)])
        ideal = np.round(scaled * grid) / grid
        d = (scaled - ideal) @ self.atoms.cell[:]
        self.results = {
            'energy': 0.5 * K_SITE * float((d * d).sum()),
            'forces': -K_SITE * d,
            'stress': np.zeros(6),
        }


def toy_dipole_of(atoms, centro) -> float:
    """P_z (C/m²) of the toy: Z_Ti × the Ti off-centring difference, per cell volume."""
    from aiida_flexo.textures.bulk import off_centring

    dipole = np.array([0.0, 0.0, Z_TI * (off_centring(atoms) - off_centring(centro))])
    return float(dipole_to_polarization(dipole, atoms.get_volume())[2])


class ToyDipoleModel:
    """A dipole model (``dipole``, ``per_atom_dipoles``) with the toy's Z_Ti on the Ti off-centring."""

    def per_atom_dipoles(self, atoms):
        from aiida_flexo.textures.bulk import off_centring

        out = np.zeros((len(atoms), 3))
        if len(atoms) == 5:  # (zero for supercells)
            out[1, 2] = Z_TI * off_centring(atoms)
        return out

    def dipole(self, atoms):
        return self.per_atom_dipoles(atoms).sum(axis=0)


def use_toy_models(monkeypatch, folder, mlip_name: str = 'model.nequip.zip', dipole_name: str = 'model.pt'):
    """`aiida-flexo textures validate` loading :class:`ToyPerovskite` and :class:`ToyDipoleModel` whatever the files
    (written into ``folder``, contents unused); the two paths."""
    import aiida_flexo.mlip as mlip

    monkeypatch.setattr(mlip, 'load_calculator', lambda model, device='cpu': ToyPerovskite())
    monkeypatch.setattr('aiida_flexo.cli.textures._load_dipole_model', lambda path, device: ToyDipoleModel())
    paths = folder / mlip_name, folder / dipole_name
    for path in paths:
        path.write_text('toy')
    return paths
