#!/usr/bin/env bash
# Set up and run the whole test suite (what CI runs through .ci/run):
#   1. install (tools/install.sh),
#   2. lint and format check (ruff),
#   3. every test on the embedded profile (SQLite + ZeroMQ broker, real daemon),
#   4. the AiiDA tests again on the production profile (PostgreSQL + RabbitMQ, real daemon) when those services
#      answer on 127.0.0.1:5432 and :5672. FLEXO_REQUIRE_PRODUCTION=1 makes their absence an error (CI sets it).
# Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install.sh
# shellcheck disable=SC1091
source "${FLEXO_VENV:-.venv}/bin/activate"
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2} OPENBLAS_NUM_THREADS=1 MPLBACKEND=Agg
start=$(date +%s)

echo ">> ruff"
ruff check .
ruff format --check .

echo ">> tests on the embedded profile (SQLite + ZeroMQ)"
python -m pytest --profile-kind embedded "$@"

if python - <<'PY'
import sys
from aiida_flexo.profiles import service_answers
sys.exit(0 if service_answers('127.0.0.1', 5432) and service_answers('127.0.0.1', 5672) else 1)
PY
then
    echo ">> AiiDA tests on the production profile (PostgreSQL + RabbitMQ)"
    python -m pytest --profile-kind production -m aiida "$@"
elif [ "${FLEXO_REQUIRE_PRODUCTION:-0}" = "1" ]; then
    echo "!! PostgreSQL (127.0.0.1:5432) or RabbitMQ (127.0.0.1:5672) does not answer, and FLEXO_REQUIRE_PRODUCTION=1" >&2
    exit 1
else
    echo ">> PostgreSQL or RabbitMQ does not answer: production-profile tests skipped"
fi
echo ">> all tests passed ($(( $(date +%s) - start )) s)"
