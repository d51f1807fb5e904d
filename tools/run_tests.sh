#!/usr/bin/env bash
# The README's test command: set up the stack (idempotent), then run the whole test suite.
#   bash tools/run_tests.sh [pytest args...]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/tools/setup_env.sh"
cd "$ROOT"
# Never switch off torch's weights_only protection for the tests: they prove it is not needed.
unset TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD
export MPLBACKEND=Agg PYTHONUNBUFFERED=1
# the torch-free host environment setup_env.sh made (tests run the deploy runtime there)
export FCN_HOST_PYTHON="${FCN_HOST_PYTHON:-${FCN_HOST_VENV:-$ROOT/.venv-host}/bin/python}"
exec "$ROOT/.venv/bin/python" -m pytest tests -p no:cacheprovider --durations=15 "$@"
