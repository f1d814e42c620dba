#!/usr/bin/env bash
# Set up and run the whole test suite (what CI runs through .ci/run):
#   1. install (tools/install.sh),
#   2. lint and format check (ruff), and the documentation build (tools/docs.sh, warnings as errors),
#   3. every test on the embedded profile (SQLite + ZeroMQ broker, real daemon),
#   4. the backend-dependent AiiDA tests (marker `backend`) again on the production profile (PostgreSQL + RabbitMQ,
#      real daemon) when those services answer on 127.0.0.1:5432 and :5672, side by side with 3
#      (FLEXO_TEST_SERIAL=1: after it); the long daemon tests marked `heavy` then run there instead of in 3
#      (--heavy-in-production), so that both sessions take about as long.
#      FLEXO_REQUIRE_PRODUCTION=1 makes the services' absence an error (CI sets it).
# Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install.sh
# shellcheck disable=SC1091
source "${FLEXO_VENV:-.venv}/bin/activate"
# One OpenMP thread per process, waiting passively: side by side, the two sessions and their daemons run several
# torch/GPAW jobs at once on the machine's cores, and OpenMP threads that spin at barriers take the cores from each
# other (the jobs' scripts keep this value: `export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}`).
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE} OPENBLAS_NUM_THREADS=1 MPLBACKEND=Agg
start=$(date +%s)

echo ">> ruff"
ruff check .
ruff format --check .

echo ">> documentation (Sphinx, offline, warnings as errors)"
FLEXO_SKIP_INSTALL=1 bash tools/docs.sh

production=0
if python - <<'PY'
import sys
from aiida_flexo.profiles import service_answers
sys.exit(0 if service_answers('127.0.0.1', 5432) and service_answers('127.0.0.1', 5672) else 1)
PY
then
    production=1
elif [ "${FLEXO_REQUIRE_PRODUCTION:-0}" = "1" ]; then
    echo "!! PostgreSQL (127.0.0.1:5432) or RabbitMQ (127.0.0.1:5672) does not answer, and FLEXO_REQUIRE_PRODUCTION=1" >&2
    exit 1
fi

# The two sessions are independent (each its own temporary AiiDA config, profile, daemon and broker) and spend much
# of their time waiting on daemon processes, so by default they run side by side (FLEXO_TEST_SERIAL=1: one after
# the other); the production session's output is printed when it ends.
prod_log=$(mktemp)
prod_pid=
if [ "$production" = "1" ] && [ "${FLEXO_TEST_SERIAL:-0}" != "1" ]; then
    echo ">> AiiDA tests on the production profile (PostgreSQL + RabbitMQ), beside the embedded run: log in $prod_log"
    python -m pytest --durations=25 --profile-kind production --heavy-in-production "$@" >"$prod_log" 2>&1 &
    prod_pid=$!
fi

echo ">> tests on the embedded profile (SQLite + ZeroMQ)"
embedded_status=0
split=()
[ "$production" = "1" ] && split=(--heavy-in-production)
python -m pytest --durations=25 --profile-kind embedded ${split[@]+"${split[@]}"} "$@" || embedded_status=$?

production_status=0
if [ -n "$prod_pid" ]; then
    wait "$prod_pid" || production_status=$?
    echo ">> AiiDA tests on the production profile (PostgreSQL + RabbitMQ): exit status $production_status"
    cat "$prod_log"
elif [ "$production" = "1" ]; then
    echo ">> AiiDA tests on the production profile (PostgreSQL + RabbitMQ)"
    python -m pytest --durations=25 --profile-kind production --heavy-in-production "$@" || production_status=$?
else
    echo ">> PostgreSQL or RabbitMQ does not answer: production-profile tests skipped"
fi
rm -f "$prod_log"
if [ "$embedded_status" != "0" ] || [ "$production_status" != "0" ]; then
    echo "!! tests failed: embedded exit status $embedded_status, production exit status $production_status" >&2
    exit 1
fi
echo ">> all tests passed ($(( $(date +%s) - start )) s)"
