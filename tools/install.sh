#!/usr/bin/env bash
# Set up aiida-flexo on a fresh machine: a virtual environment in .venv with the package (editable), its
# dependencies (torch pinned to the CPU build 2.13.0 through constraints.txt), the pretrained universal potentials
# (extra "universal": sevenn and chgnet, weights inside their wheels), the documentation tools (extra "docs") and the
# open DFT engine (GPAW).
# Idempotent: a second run only checks. Environment: PYTHON (default python3), FLEXO_VENV (default .venv),
# FLEXO_SKIP_GPAW=1 to skip the DFT engine.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
VENV=${FLEXO_VENV:-.venv}
start=$(date +%s)
if [ ! -x "$VENV/bin/python" ]; then
    echo ">> creating virtual environment $VENV"
    "$PYTHON" -m venv "$VENV"
fi
# shellcheck disable=SC1091
source "$VENV/bin/activate"
if ! python -c 'import aiida_flexo, torch, nequip, allegro, vesin, pytest, sevenn, chgnet, sphinx, myst_parser, sphinx_click, furo' 2>/dev/null \
        || [ pyproject.toml -nt "$VENV/.flexo-installed" ]; then
    echo ">> installing aiida-flexo and its dependencies (torch==2.13.0, CPU)"
    python -m pip install --quiet --upgrade pip
    # byte-compiled at install (pip's default, ~1 min of the install): with PYTHONDONTWRITEBYTECODE set, as on some
    # machines, Python never writes .pyc files itself, and every process would compile torch and nequip from source
    # (measured: the test suite ran 1.4x slower with --no-compile)
    python -m pip install --quiet -c constraints.txt -e '.[dev,universal,docs]'
    touch "$VENV/.flexo-installed"
fi
if [ "${FLEXO_SKIP_GPAW:-0}" != "1" ] && [ -f scripts/install_gpaw.sh ]; then
    PYTHON="$VENV/bin/python" bash scripts/install_gpaw.sh
fi
echo ">> environment ready in $VENV ($(( $(date +%s) - start )) s)"
