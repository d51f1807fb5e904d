#!/usr/bin/env bash
# The README's test command: set up the stack (idempotent), then run the whole test suite.
#   bash tools/run_tests.sh [pytest args...]
# Two pytest-xdist workers, a test file each at a time (a file's fixtures are built once), one
# compute thread each (two 2-thread processes on 2 cores would oversubscribe them): most tests
# start subprocesses whose imports and file writes overlap the other worker's compute.
# FCN_TEST_WORKERS=0 runs in one process (with torch's default threads).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/tools/setup_env.sh"
cd "$ROOT"
# Never switch off torch's weights_only protection for the tests: they prove it is not needed.
unset TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD
export MPLBACKEND=Agg PYTHONUNBUFFERED=1
# the torch-free host environment setup_env.sh made (tests run the deploy runtime there)
export FCN_HOST_PYTHON="${FCN_HOST_PYTHON:-${FCN_HOST_VENV:-$ROOT/.venv-host}/bin/python}"
WORKERS="${FCN_TEST_WORKERS:-2}"
XDIST=()
if [ "$WORKERS" != 0 ]; then
  XDIST=(-n "$WORKERS" --dist loadfile)
  export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}" MKL_NUM_THREADS="${MKL_NUM_THREADS:-1}"
fi
exec "$ROOT/.venv/bin/python" -m pytest tests -p no:cacheprovider --durations=15 "${XDIST[@]}" "$@"
