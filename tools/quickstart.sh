#!/usr/bin/env bash
# Set up aiida-flexo on a fresh machine and run the main job on the embedded profile (no services needed):
# install (tools/install.sh), `aiida-flexo setup`, `aiida-flexo quickstart` (report in ./flexo_report).
# Extra arguments go to `aiida-flexo quickstart`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install.sh
# shellcheck disable=SC1091
source "${FLEXO_VENV:-.venv}/bin/activate"
aiida-flexo setup
aiida-flexo quickstart "$@"
