#!/usr/bin/env bash
# Build the documentation site offline: docs/ -> docs/_build/html/index.html, warnings as errors.
# Installs what it needs first (tools/install.sh; FLEXO_SKIP_INSTALL=1 skips it when the environment is ready).
# The process specifications, CLI reference, protocol table and exit-code table are generated from the code.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${FLEXO_SKIP_INSTALL:-0}" != "1" ]; then
    FLEXO_SKIP_GPAW=${FLEXO_SKIP_GPAW:-1} bash tools/install.sh
fi
# shellcheck disable=SC1091
source "${FLEXO_VENV:-.venv}/bin/activate"
# aiida-core's Sphinx extension loads a profile to read the process specifications: a throwaway configuration with an
# SQLite profile, so the build needs no service and never touches the user's profiles
docs_aiida=$(mktemp -d)
trap 'rm -rf "$docs_aiida"' EXIT
AIIDA_PATH="$docs_aiida" verdi presto --profile-name flexo-docs >/dev/null
AIIDA_PATH="$docs_aiida" python -m sphinx -E -W --keep-going -q -b html docs docs/_build/html
echo ">> documentation: docs/_build/html/index.html"
