"""Readers for VASP polarization output: Berry phase (LCALCPOL) and DFPT (LEPSILON) runs.

Sign convention (the VASP sign trap): VASP before 6.3 prints dipoles in "electrons Angst", i.e. in units of the
electron charge −e, so the physical dipole is minus the printed number. VASP 6.3 and later print "|e| Angst" with
the physical sign. Every reader here returns dipoles in e·Å with the physics sign (from − to + charge), whatever
the version, which it reads from the first line of the OUTCAR.

Born effective charges follow ``Z*_i,αβ = ∂d_α/∂r_iβ`` (row α: polarization/field direction, column β:
displacement), which is the order VASP prints them in (rows are the field direction).
"""

from __future__ import annotations

import gzip
import re
import warnings
import xml.etree.ElementTree as ET
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from ase import Atoms

from aiida_flexo.polarization.quanta import SAFE_CHARGE_QUANTUM

#: First VASP version that prints dipoles in |e|Å with the physical sign.
SIGN_CHANGE_VERSION = (6, 3)

_FLOAT = r'([-+]?\d*\.?\d+(?:[eE][-+]?\d+)?)'
_VEC = rf'\(\s*{_FLOAT}\s+{_FLOAT}\s+{_FLOAT}\s*\)\s*(electrons|\|e\|)'
_RE_ELEC = re.compile(rf'Total electronic dipole moment:\s*p\[elc\]=\s*{_VEC}')
_RE_ION = re.compile(rf'Ionic dipole moment:\s*p\[ion\]=\s*{_VEC}')
_RE_SP1 = re.compile(rf'p\[sp1\]=\s*{_VEC}')
_RE_SP2 = re.compile(rf'p\[sp2\]=\s*{_VEC}')
_RE_VERSION = re.compile(r'vasp\.(\d+)\.(\d+)\.(\d+)')
_FOOTER = 'General timing and accounting'


class VaspOutputError(ValueError):
    """A VASP output file lacks what was asked of it (the message names the file and the missing piece)."""


def _read_text(path: Path) -> str:
    """The text of an OUTCAR, gunzipped when its name ends in ``.gz``; a corrupt or unreadable file is a clear error."""
    if not path.is_file():
        raise VaspOutputError(f'{path}: no such file; give the path of an OUTCAR (or a folder holding one)')
    if path.suffix != '.gz':
        try:
            return path.read_text(errors='replace')
        except OSError as exc:
            raise VaspOutputError(
                f'{path}: cannot be read ({exc.strerror or exc}); check its permissions'
            ) from exc
    try:
        with gzip.open(path, 'rt', errors='replace') as handle:
            return handle.read()
    except (OSError, EOFError, zlib.error) as exc:
        raise VaspOutputError(
            f'{path} is not a valid gzip file ({exc or type(exc).__name__}): the copy is corrupt or cut short; '
            f'check it with `gzip -t {path}`, then copy it again or give the uncompressed OUTCAR'
        ) from exc


def resolve_outcar(path: str | Path) -> Path:
    """Accept an OUTCAR file or a run folder holding ``OUTCAR`` or ``OUTCAR.gz``."""
    path = Path(path)
    if path.is_dir():
        for name in ('OUTCAR', 'OUTCAR.gz'):
            if (path / name).is_file():
                return path / name
        raise VaspOutputError(f'{path}: folder has no OUTCAR or OUTCAR.gz')
    return path


def read_vasp_version(text: str) -> tuple[int, int, int] | None:
    """VASP version ``(major, minor, patch)`` from the head of an OUTCAR, or None when absent."""
    match = _RE_VERSION.search(text[:2000])
    return tuple(int(g) for g in match.groups()) if match else None  # type: ignore[return-value]


def sign_of_printed_dipoles(version: tuple[int, int, int] | None, unit_label: str, source: Path) -> float:
    """Factor that turns VASP's printed dipoles into physical ones (+1 or −1).

    The version decides; the unit label printed next to the numbers ("electrons" before 6.3, "|e|" after) is
    checked against it. Without a readable version the label decides.
    """
    label_sign = 1.0 if unit_label == '|e|' else -1.0
    if version is None:
        return label_sign
    version_sign = 1.0 if version[:2] >= SIGN_CHANGE_VERSION else -1.0
    if version_sign != label_sign:
        warnings.warn(
            f'{source}: VASP {".".join(map(str, version))} but dipoles printed in "{unit_label}" units; trusting the '
            'unit label for the sign',
            stacklevel=2,
        )
        return label_sign
    return version_sign


def _last_vector(regex: re.Pattern, text: str) -> tuple[np.ndarray, str] | None:
    matches = regex.findall(text)
    if not matches:
        return None
    *numbers, unit = matches[-1]
    return np.array([float(x) for x in numbers]), unit


@dataclass
class BerryPhaseResult:
    """A Berry-phase (LCALCPOL) run. Dipoles in e·Å with the physics sign; lengths in Å."""

    source: str
    atoms: Atoms
    electronic_dipole: np.ndarray
    ionic_dipole: np.ndarray
    vasp_version: tuple[int, int, int] | None
    spin_dipoles: np.ndarray | None = None  #: (2, 3) per spin channel when ISPIN = 2
    zval: dict[str, float] = field(default_factory=dict)
    charge_quantum: float = SAFE_CHARGE_QUANTUM

    @property
    def dipole(self) -> np.ndarray:
        """Total cell dipole (electronic + ionic), e·Å, each as VASP folded it."""
        return self.electronic_dipole + self.ionic_dipole

    @property
    def cell(self) -> np.ndarray:
        return np.asarray(self.atoms.cell[:], dtype=float)

    @property
    def volume(self) -> float:
        return float(abs(np.linalg.det(self.cell)))


def _read_zval(text: str) -> dict[str, float]:
    """ZVAL per POTCAR in order of appearance, keyed by element (from the ``ZVAL =`` summary line)."""
    titles = re.findall(r'POTCAR:\s+\S+\s+(\S+)', text)
    # each POTCAR title appears twice in the header; keep first occurrences in order
    elements: list[str] = []
    for title in titles:
        element = title.split('_')[0]
        if element not in elements:
            elements.append(element)
    match = re.search(r'^\s*ZVAL\s*=\s*([-\d.\s]+)$', text, flags=re.MULTILINE)
    if not match:
        return {}
    values = [float(v) for v in match.group(1).split()]
    return dict(zip(elements, values))


def _read_structure(path: Path) -> Atoms:
    """The structure of a run: POSCAR/CONTCAR beside the OUTCAR when present, else the OUTCAR itself."""
    from ase.io import read

    for name in ('CONTCAR', 'POSCAR'):
        candidate = path.parent / name
        if candidate.is_file() and candidate.stat().st_size > 0:
            try:
                return read(candidate, format='vasp')
            except Exception:  # noqa: BLE001 - fall back to the OUTCAR
                pass
    try:
        return read(path, format='vasp-out', index=-1)
    except Exception as exc:  # noqa: BLE001
        raise VaspOutputError(
            f'{path}: could not read the structure from the OUTCAR ({exc}); put the POSCAR next to it'
        ) from exc


def read_berry_phase(path: str | Path) -> BerryPhaseResult:
    """Read the electronic and ionic dipoles of a VASP LCALCPOL run (OUTCAR, optionally gzipped).

    Raises:
        VaspOutputError: the file is missing, truncated (no timing footer) or has no LCALCPOL output.
    """
    path = resolve_outcar(path)
    text = _read_text(path)
    version = read_vasp_version(text)
    if version is None and 'POTCAR:' not in text[:20000]:
        raise VaspOutputError(f'{path}: does not look like a VASP OUTCAR (no version line, no POTCAR header)')
    elec = _last_vector(_RE_ELEC, text)
    ion = _last_vector(_RE_ION, text)
    if elec is None or ion is None:
        if _FOOTER not in text:
            raise VaspOutputError(
                f'{path}: truncated OUTCAR without Berry-phase output (no "{_FOOTER}" footer): the run did not '
                'finish; rerun it or point to the OUTCAR of a finished run'
            )
        missing = 'Total electronic dipole moment' if elec is None else 'Ionic dipole moment'
        raise VaspOutputError(
            f'{path}: no "{missing}" line: this run has no LCALCPOL output. Run VASP with LCALCPOL = .TRUE. '
            '(and ISYM = 0 or a symmetry that keeps the polar axis) to get the Berry-phase polarization'
        )
    if _FOOTER not in text:
        raise VaspOutputError(
            f'{path}: truncated OUTCAR (no "{_FOOTER}" footer): the run did not finish, so its dipoles cannot '
            'be trusted; rerun it'
        )
    sign = sign_of_printed_dipoles(version, elec[1], path)
    spin = None
    sp1, sp2 = _last_vector(_RE_SP1, text), _last_vector(_RE_SP2, text)
    if sp1 is not None and sp2 is not None:
        spin = sign * np.stack([sp1[0], sp2[0]])
    return BerryPhaseResult(
        source=str(path),
        atoms=_read_structure(path),
        electronic_dipole=sign * elec[0],
        ionic_dipole=sign * ion[0],
        vasp_version=version,
        spin_dipoles=spin,
        zval=_read_zval(text),
    )


# ----------------------------------------------------------------------------------------------- DFPT (LEPSILON)

_RE_BORN_HEADER = re.compile(
    r'BORN EFFECTIVE CHARGES \((?:including local field effects|in e, cummulative output)'
)
_RE_EPS_HEADER = 'MACROSCOPIC STATIC DIELECTRIC TENSOR (including local field effects in DFT)'


@dataclass
class BornChargesResult:
    """Born effective charges ``Z*_i,αβ = ∂d_α/∂r_iβ`` (e) and the electronic dielectric tensor ε∞."""

    source: str
    symbols: list[str]
    born_charges: np.ndarray  #: (n_atoms, 3, 3), e
    epsilon_inf: np.ndarray  #: (3, 3), dimensionless

    @property
    def asr_residual(self) -> np.ndarray:
        """Acoustic sum rule residual Σ_i Z*_i (3×3, e); zero for an exact calculation."""
        return self.born_charges.sum(axis=0)

    def with_asr_enforced(self) -> BornChargesResult:
        """A copy where the residual is spread evenly over the atoms, so that Σ_i Z*_i = 0 exactly."""
        corrected = self.born_charges - self.asr_residual / len(self.born_charges)
        return BornChargesResult(self.source, list(self.symbols), corrected, self.epsilon_inf.copy())


#: the end of every error about an OUTCAR cut short
_INCOMPLETE = 'the OUTCAR is incomplete (job killed?): rerun it or point to the OUTCAR of a finished run'


def _parse_born_ion(lines: list[str], i: int, path: Path) -> list[list[float]]:
    """The three rows (field directions) of the ion whose ``ion N`` line is ``lines[i]``."""
    ion = ' '.join(lines[i].split()[1:2]) or '?'
    rows = []
    for line_no in range(i + 1, i + 4):
        parts = lines[line_no].split() if line_no < len(lines) else []
        try:
            if len(parts) != 4:
                raise ValueError(line_no)
            rows.append([float(x) for x in parts[1:4]])
        except ValueError:
            if line_no >= len(lines) - 1:
                raise VaspOutputError(
                    f'{path}: the file ends inside the Born-charge rows of ion {ion} (line {line_no + 1}): '
                    f'{_INCOMPLETE}'
                ) from None
            raise VaspOutputError(
                f'{path}: line {line_no + 1}: malformed Born-charge row of ion {ion} (expected "row Z_x Z_y Z_z"): '
                'the OUTCAR is corrupt; rerun or copy it again'
            ) from None
    return rows


def _parse_born_block(lines: list[str], start: int, path: Path) -> np.ndarray:
    """The (n_ions, 3, 3) Born charges of the block whose header is ``lines[start]``."""
    charges = []
    i = start + 2  # header, dashes
    while i < len(lines) and lines[i].split()[:1] == ['ion']:
        charges.append(_parse_born_ion(lines, i, path))
        i += 4
    if not charges:
        raise VaspOutputError(f'{path}: empty Born-charge block at line {start + 1}; {_INCOMPLETE}')
    return np.array(charges)


def _ion_count(path: Path, text: str) -> tuple[int, str] | None:
    """Number of ions of the run and where it was read: NIONS, "ions per type", else the structure; None if unknown."""
    nions = re.search(r'NIONS\s*=\s*(\d+)', text)
    if nions:
        return int(nions.group(1)), 'NIONS'
    per_type = re.search(r'ions per type\s*=([ \t\d]+)', text)
    if per_type:
        return sum(int(x) for x in per_type.group(1).split()), '"ions per type"'
    try:
        return len(_read_structure(path)), 'the structure'
    except VaspOutputError:
        return None


def _check_born_count(path: Path, text: str, born: np.ndarray, block_end: int, n_lines: int) -> None:
    """One Born-charge tensor per ion, and the block not at the very end of the file, or a clear error.

    A run killed while printing leaves the first ions only, or a last row cut inside a number.
    """
    counted = _ion_count(path, text)
    if counted is not None and counted[0] != len(born):
        n_ions, source = counted
        end = _INCOMPLETE if len(born) < n_ions else 'the OUTCAR is corrupt; rerun or copy it again'
        raise VaspOutputError(
            f'{path}: Born charges for {len(born)} ions but the run has {n_ions} ions ({source}): {end}'
        )
    if block_end >= n_lines:
        raise VaspOutputError(
            f'{path}: the file ends right after the Born charges of ion {len(born)}: {_INCOMPLETE}'
        )


def _parse_matrix_after(lines: list[str], start: int, path: Path) -> np.ndarray:
    rows = []
    for line in lines[start + 2 : start + 5]:
        parts = line.split()
        if len(parts) != 3:
            raise VaspOutputError(f'{path}: malformed dielectric tensor near line {start + 1}')
        rows.append([float(x) for x in parts])
    return np.array(rows)


def _symbols_from_outcar(path: Path, text: str, n_atoms: int) -> list[str]:
    try:
        return _read_structure(path).get_chemical_symbols()
    except VaspOutputError:
        counts = re.search(r'ions per type\s*=\s*([\d\s]+)', text)
        names = re.findall(r'VRHFIN\s*=\s*([A-Za-z]+)', text)
        if counts and names:
            numbers = [int(x) for x in counts.group(1).split()]
            return [name for name, count in zip(names, numbers) for _ in range(count)]
        return ['X'] * n_atoms


def read_born_charges_outcar(path: str | Path) -> BornChargesResult:
    """Born charges and ε∞ from the OUTCAR of a VASP LEPSILON (DFPT) or LCALCPOL+IBRION=6/7/8 run."""
    path = resolve_outcar(path)
    text = _read_text(path)
    lines = text.splitlines()
    born_starts = [i for i, line in enumerate(lines) if _RE_BORN_HEADER.search(line)]
    eps_starts = [i for i, line in enumerate(lines) if _RE_EPS_HEADER in line]
    if not born_starts:
        hint = ' (the file looks truncated)' if _FOOTER not in text else ''
        raise VaspOutputError(
            f'{path}: no "BORN EFFECTIVE CHARGES" block{hint}: run VASP with LEPSILON = .TRUE. (IBRION = 7 or 8) '
            'or LCALCEPS = .TRUE. to get Born charges'
        )
    born = _parse_born_block(lines, born_starts[-1], path)
    _check_born_count(path, text, born, born_starts[-1] + 2 + 4 * len(born), len(lines))
    if not eps_starts:
        raise VaspOutputError(f'{path}: Born charges found but no "{_RE_EPS_HEADER}" block')
    epsilon = _parse_matrix_after(lines, eps_starts[-1], path)
    return BornChargesResult(str(path), _symbols_from_outcar(path, text, len(born)), born, epsilon)


def read_born_charges_vasprun(path: str | Path) -> BornChargesResult:
    """Born charges and ε∞ from a ``vasprun.xml`` of a LEPSILON run."""
    path = Path(path)
    opener = gzip.open if path.suffix == '.gz' else open
    try:
        with opener(path, 'rb') as handle:
            root = ET.parse(handle).getroot()
    except FileNotFoundError as exc:
        raise VaspOutputError(f'{path}: no such file') from exc
    except ET.ParseError as exc:
        raise VaspOutputError(f'{path}: not valid XML ({exc}); the run may be truncated') from exc
    born_node = root.find(".//array[@name='born_charges']")
    if born_node is None:
        raise VaspOutputError(f'{path}: no born_charges array: run VASP with LEPSILON = .TRUE. or LCALCEPS')
    born = np.array(
        [[[float(x) for x in v.text.split()] for v in s.findall('v')] for s in born_node.findall('set')]
    )
    eps_nodes = root.findall(".//varray[@name='epsilon']")
    if not eps_nodes:
        raise VaspOutputError(f'{path}: Born charges found but no epsilon varray')
    epsilon = np.array([[float(x) for x in v.text.split()] for v in eps_nodes[-1].findall('v')])
    symbols = [rc.findall('c')[0].text.strip() for rc in root.findall(".//array[@name='atoms']/set/rc")]
    if symbols and len(symbols) != len(born):
        raise VaspOutputError(
            f'{path}: Born charges for {len(born)} ions but the run has {len(symbols)} ions: the file is '
            'incomplete (job killed?); rerun it or point to the vasprun.xml of a finished run'
        )
    return BornChargesResult(str(path), symbols, born, epsilon)


def read_born_charges(path: str | Path) -> BornChargesResult:
    """Born charges from an OUTCAR or a vasprun.xml (decided by the file name)."""
    path = Path(path)
    if '.xml' in path.name:
        return read_born_charges_vasprun(path)
    return read_born_charges_outcar(path)
