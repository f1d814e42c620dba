#!/usr/bin/env python3
"""A stand-in for the ``vasp`` executable that replays recorded VASP outputs (tests only; standard library only).

Run in a VASP work directory (INCAR, POSCAR, KPOINTS, POTCAR written by aiida-vasp). It picks the recorded case
whose conditions the inputs meet and copies that case's output files into the directory, as VASP would have
written them. Cases are folders holding a ``case.json``::

    {
      "description": "...",
      "match": {
        "incar": {"LCALCPOL": true, "IBRION": 0},    # tags that must be present with these values
        "incar_absent": ["AMIX"],                    # tags that must be absent
        "structure": "POSCAR",                       # reference structure (POSCAR format, relative to the case)
        "potcar_titles": ["PAW_PBE Ba_sv 06Sep2000"],# TITEL lines the POTCAR must hold, in order
        "files_present": ["WAVECAR"]                 # files that must be in the directory (a restart)
      },
      "outputs": {                                   # file written -> recorded source
        "OUTCAR": "../../vasp/dfpt_lepsilon/SiC_lepsilon/OUTCAR.gz",   # relative to the case; .gz is unpacked
        "CONTCAR": "@POSCAR",                        # '@NAME': a copy of the input file NAME
        "vasprun.xml": "resource:vasp/...",          # 'resource:': relative to aiida_flexo/resources
        "WAVECAR": "=fake wave functions"            # '=TEXT': literal content
      },
      "edits": {"OUTCAR": [["old", "new"]]},         # literal replacements (each must occur) = a modified output
      "truncate": {"OUTCAR": "marker"},              # keep the lines before the first line holding marker
      "cut": {"OUTCAR": [["from", "to"]]},           # drop the lines from the line holding 'from' to the one holding 'to'
      "stdout": "text printed on stdout (VASP's stdout goes to vasp_output)",
      "exit_status": 0
    }

Environment: ``FLEXO_VASP_REPLAY_ROOT`` (folder of case folders, default: ``tests/fixtures/vasp_replay`` next to this
file) and ``FLEXO_VASP_REPLAY_CASES`` (comma-separated case names tried in this order; the first whose conditions
hold is replayed; default: all cases, and then exactly one must match). ``FLEXO_RESOURCES`` overrides the
resources folder. Exit status 1 with the reasons on stdout when no case matches, like a VASP that did not run.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_ROOT = HERE.parent / 'fixtures' / 'vasp_replay'
DEFAULT_RESOURCES = HERE.parent.parent / 'aiida_flexo' / 'resources'
POSITION_TOLERANCE = 1e-4  # Å
CELL_TOLERANCE = 1e-4  # Å


class NoMatch(Exception):
    """The inputs do not meet a case's conditions (the message says which)."""


# ------------------------------------------------------------------------------------------------- input readers
def read_incar(path: Path) -> dict[str, str]:
    """INCAR tags (upper case) → raw value strings (comments after # or ! removed, ';' splits statements)."""
    tags: dict[str, str] = {}
    for raw in path.read_text().splitlines():
        line = re.split(r'[#!]', raw, maxsplit=1)[0]
        for statement in line.split(';'):
            if '=' in statement:
                key, value = statement.split('=', 1)
                tags[key.strip().upper()] = value.strip()
    return tags


def normalise(value):
    """A comparable form of an INCAR value: bool, float, list of those, or upper-case string."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, list):
        return [normalise(v) for v in value]
    text = str(value).strip()
    upper = text.upper()
    if upper in ('.TRUE.', 'T', 'TRUE', '.T.'):
        return True
    if upper in ('.FALSE.', 'F', 'FALSE', '.F.'):
        return False
    tokens = text.split()
    if len(tokens) > 1:
        return [normalise(t) for t in tokens]
    try:
        return float(text)
    except ValueError:
        return upper


def same(a, b) -> bool:
    a, b = normalise(a), normalise(b)
    if isinstance(a, float) and isinstance(b, float):
        return abs(a - b) <= 1e-8 * max(1.0, abs(a), abs(b))
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a == b


def read_poscar(path: Path) -> tuple[list[list[float]], list[str], list[list[float]]]:
    """(cell rows in Å, symbols per atom, fractional positions) of a VASP 5 POSCAR/CONTCAR."""
    lines = path.read_text().splitlines()
    scale = float(lines[1].split()[0])
    cell = [[scale * float(x) for x in lines[i].split()[:3]] for i in (2, 3, 4)]
    species = lines[5].split()
    counts = [int(x) for x in lines[6].split()]
    symbols = [s for s, n in zip(species, counts) for _ in range(n)]
    i = 7
    if lines[i].strip()[:1].upper() == 'S':  # selective dynamics
        i += 1
    direct = lines[i].strip()[:1].upper() == 'D'
    rows = [[float(x) for x in lines[i + 1 + k].split()[:3]] for k in range(len(symbols))]
    if not direct:
        inverse = _inverse(cell)
        rows = [[sum(r[m] * inverse[m][n] for m in range(3)) for n in range(3)] for r in rows]
    return cell, symbols, rows


def _inverse(m: list[list[float]]) -> list[list[float]]:
    a, b, c = m
    det = (
        a[0] * (b[1] * c[2] - b[2] * c[1])
        - a[1] * (b[0] * c[2] - b[2] * c[0])
        + a[2] * (b[0] * c[1] - b[1] * c[0])
    )
    cof = [
        [b[1] * c[2] - b[2] * c[1], a[2] * c[1] - a[1] * c[2], a[1] * b[2] - a[2] * b[1]],
        [b[2] * c[0] - b[0] * c[2], a[0] * c[2] - a[2] * c[0], a[2] * b[0] - a[0] * b[2]],
        [b[0] * c[1] - b[1] * c[0], a[1] * c[0] - a[0] * c[1], a[0] * b[1] - a[1] * b[0]],
    ]
    return [[cof[i][j] / det for j in range(3)] for i in range(3)]


def potcar_titles(path: Path) -> list[str]:
    return [' '.join(m.split()) for m in re.findall(r'TITEL\s*=\s*(.+)', path.read_text())]


# ---------------------------------------------------------------------------------------------------- matching
def check_structure(reference: Path, given: Path) -> None:
    ref_cell, ref_symbols, ref_frac = read_poscar(reference)
    cell, symbols, frac = read_poscar(given)
    if symbols != ref_symbols:
        raise NoMatch(f'species {symbols} differ from the recorded {ref_symbols}')
    for row, ref_row in zip(cell, ref_cell):
        if max(abs(x - y) for x, y in zip(row, ref_row)) > CELL_TOLERANCE:
            raise NoMatch(f'cell {cell} differs from the recorded {ref_cell}')
    for k, (f, g) in enumerate(zip(frac, ref_frac)):
        delta = [(x - y) - round(x - y) for x, y in zip(f, g)]
        cart = [sum(delta[m] * cell[m][n] for m in range(3)) for n in range(3)]
        if max(abs(x) for x in cart) > POSITION_TOLERANCE:
            raise NoMatch(f'atom {k} ({symbols[k]}) at {f} differs from the recorded {g}')


def check_case(case_dir: Path, spec: dict, workdir: Path) -> None:
    match = spec.get('match', {})
    incar = read_incar(workdir / 'INCAR')
    for key, value in match.get('incar', {}).items():
        if key.upper() not in incar:
            raise NoMatch(f'INCAR has no {key.upper()} (the case needs {key.upper()} = {value})')
        if not same(incar[key.upper()], value):
            raise NoMatch(f'INCAR {key.upper()} = {incar[key.upper()]}, the case needs {value}')
    for key in match.get('incar_absent', []):
        if key.upper() in incar:
            raise NoMatch(f'INCAR sets {key.upper()} = {incar[key.upper()]}, the case needs it absent')
    for name in match.get('files_present', []):
        path = workdir / name
        if not path.is_file() or path.stat().st_size == 0:
            raise NoMatch(f'no {name} in the work directory (the case is a restart that reads it)')
    if 'structure' in match:
        check_structure(resolve_source(case_dir, match['structure']), workdir / 'POSCAR')
    if 'potcar_titles' in match:
        titles = potcar_titles(workdir / 'POTCAR')
        if titles != match['potcar_titles']:
            raise NoMatch(f'POTCAR titles {titles} differ from the recorded {match["potcar_titles"]}')


# ------------------------------------------------------------------------------------------------------ output
def resolve_source(case_dir: Path, source: str) -> Path:
    if source.startswith('resource:'):
        return Path(os.environ.get('FLEXO_RESOURCES', DEFAULT_RESOURCES)) / source[len('resource:') :]
    return (case_dir / source).resolve()


def read_source(case_dir: Path, source: str, workdir: Path) -> bytes:
    if source.startswith('='):
        return source[1:].encode()
    path = workdir / source[1:] if source.startswith('@') else resolve_source(case_dir, source)
    data = path.read_bytes()
    return gzip.decompress(data) if path.suffix == '.gz' else data


def line_start(text: str, marker: str, case_dir: Path, name: str) -> int:
    """Index of the start of the line holding the first occurrence of ``marker``."""
    if marker not in text:
        raise SystemExit(f'replay case {case_dir.name}: marker {marker!r} not found in {name}')
    return text.rfind('\n', 0, text.index(marker)) + 1


def replay(case_dir: Path, spec: dict, workdir: Path) -> None:
    for name, source in spec.get('outputs', {}).items():
        data = read_source(case_dir, source, workdir)
        if any(name in spec.get(key, {}) for key in ('edits', 'truncate', 'cut')):
            text = data.decode()
            for old, new in spec.get('edits', {}).get(name, []):
                if old not in text:
                    raise SystemExit(f'replay case {case_dir.name}: edit target {old!r} not found in {name}')
                text = text.replace(old, new)
            for start, end in spec.get('cut', {}).get(name, []):
                text = (
                    text[: line_start(text, start, case_dir, name)]
                    + text[line_start(text, end, case_dir, name) :]
                )
            marker = spec.get('truncate', {}).get(name)
            if marker is not None:
                text = text[: line_start(text, marker, case_dir, name)]
            data = text.encode()
        (workdir / name).write_bytes(data)


def main() -> int:
    workdir = Path.cwd()
    root = Path(os.environ.get('FLEXO_VASP_REPLAY_ROOT', DEFAULT_ROOT))
    names = [n.strip() for n in os.environ.get('FLEXO_VASP_REPLAY_CASES', '').split(',') if n.strip()]
    ordered = bool(names)
    if not names:
        names = sorted(p.parent.name for p in root.glob('*/case.json'))
    for required in ('INCAR', 'POSCAR', 'KPOINTS', 'POTCAR'):
        if not (workdir / required).is_file():
            print(f'replay-vasp: no {required} in {workdir}')
            return 1
    reasons, matches = [], []
    for name in names:
        case_dir = root / name
        try:
            spec = json.loads((case_dir / 'case.json').read_text())
        except FileNotFoundError:
            print(f'replay-vasp: no case {name!r} under {root}')
            return 1
        try:
            check_case(case_dir, spec, workdir)
        except NoMatch as exc:
            reasons.append(f'  {name}: {exc}')
            continue
        matches.append((name, case_dir, spec))
        if ordered:
            break
    if not matches or (not ordered and len(matches) > 1):
        problem = (
            'no recorded case matches' if not matches else f'several cases match: {[m[0] for m in matches]}'
        )
        print(f'replay-vasp: {problem} the inputs in {workdir}')
        print('\n'.join(reasons))
        return 1
    name, case_dir, spec = matches[0]
    replay(case_dir, spec, workdir)
    (workdir / 'REPLAYED_CASE').write_text(name + '\n')
    print(f' replay-vasp: replayed the recorded case {name}')
    if spec.get('stdout'):
        print(spec['stdout'])
    return int(spec.get('exit_status', 0))


if __name__ == '__main__':
    sys.exit(main())
