"""Run the how-to guides of the documentation as written, and report each one's exit status and wall time.

Usage (from the repository root, with the environment of ``tools/install.sh`` active)::

    python tools/run_howtos.py                       # every guide of docs/howto/index.md, in its order
    python tools/run_howtos.py label_gpaw finetune   # some of them
    python tools/run_howtos.py --workdir /tmp/howtos --keep

Each guide's ```` ```bash ```` blocks are joined, in order, into one ``bash -euo pipefail`` script that runs in its
own empty folder under the work directory. All guides share one fresh AiiDA configuration (``AIIDA_PATH`` in the
work directory) whose default profile is the embedded one that ``aiida-flexo setup`` makes, with its daemon running,
as a user's would be after the quickstart. ```` ```console ```` blocks are not run (they need VASP, a cluster, or
show output). Logs: ``WORKDIR/<guide>/howto.log``. Exit status 1 when any guide failed.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HOWTO = ROOT / 'docs' / 'howto'
BASH_BLOCK = re.compile(r'^```bash\n(.*?)^```', re.S | re.M)


def guides() -> list[str]:
    """The guides in the order of the toctree of docs/howto/index.md."""
    index = (HOWTO / 'index.md').read_text()
    toctree = index.split('```{toctree}')[1].split('```')[0]
    return [
        line.strip() for line in toctree.splitlines() if line.strip() and not line.strip().startswith(':')
    ]


def script_of(guide: str) -> str:
    """The guide's bash blocks as one script that stops at the first failing command."""
    blocks = BASH_BLOCK.findall((HOWTO / f'{guide}.md').read_text())
    if not blocks:
        raise SystemExit(f'docs/howto/{guide}.md has no bash block to run')
    return 'set -euo pipefail\n' + '\n'.join(blocks)


def run_guide(guide: str, workdir: Path, env: dict[str, str], timeout: float) -> tuple[int, float]:
    folder = workdir / guide
    folder.mkdir(parents=True, exist_ok=False)
    (folder / 'howto.sh').write_text(script_of(guide))
    start = time.monotonic()
    with open(folder / 'howto.log', 'w') as log:
        try:
            status = subprocess.run(
                ['bash', 'howto.sh'],
                cwd=folder,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=timeout,
            ).returncode
        except subprocess.TimeoutExpired:
            status = 124
    return status, time.monotonic() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('guides', nargs='*', help='Guides to run (default: all, in the order of the index).')
    parser.add_argument(
        '--workdir', type=Path, default=None, help='Work directory (default: a new temporary one).'
    )
    parser.add_argument(
        '--keep', action='store_true', help='Keep the work directory (always kept on failure).'
    )
    parser.add_argument('--timeout', type=float, default=3600.0, help='Seconds per guide (default 3600).')
    args = parser.parse_args()
    names = args.guides or guides()
    unknown = [name for name in names if not (HOWTO / f'{name}.md').is_file()]
    if unknown:
        parser.error(f'no guide {unknown} in docs/howto (there are: {", ".join(guides())})')
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix='flexo-howtos-'))
    workdir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, 'AIIDA_PATH': str(workdir / 'aiida'), 'MPLBACKEND': 'Agg'}
    (workdir / 'aiida').mkdir(exist_ok=True)
    print(f'work directory: {workdir}', flush=True)
    subprocess.run(['aiida-flexo', 'setup'], env=env, check=True, stdout=subprocess.DEVNULL)
    subprocess.run(['verdi', 'daemon', 'start', '2'], env=env, check=True, stdout=subprocess.DEVNULL)
    results = []
    try:
        for name in names:
            status, seconds = run_guide(name, workdir, env, args.timeout)
            results.append((name, status, seconds))
            print(
                f'{name:18s} exit {status:3d}  {seconds:7.0f} s  ({workdir / name / "howto.log"})', flush=True
            )
    finally:
        subprocess.run(['verdi', 'daemon', 'stop'], env=env, stdout=subprocess.DEVNULL)
    failed = [name for name, status, _ in results if status != 0]
    if not failed and not args.keep and args.workdir is None:
        shutil.rmtree(workdir, ignore_errors=True)
    print(
        f'{len(results) - len(failed)} of {len(results)} guides ran as written'
        + (f'; failed: {failed}' if failed else '')
    )
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
