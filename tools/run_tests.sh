#!/usr/bin/env bash
# The README's test command: set up the stack (idempotent), then run the whole test suite.
#   bash tools/run_tests.sh [pytest args...]
# Two pytest-xdist workers, a test file each at a time (a file's fixtures are built once): most
# tests start subprocesses whose imports and file writes overlap the other worker's compute.
# torch keeps its default threads (on 2 cores, two 2-thread convolution loops took ~12% longer than
# two 1-thread ones, but a 1-thread worker left alone at the end runs at half speed).
# FCN_TEST_WORKERS=0 runs in one process.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/tools/setup_env.sh"
cd "$ROOT"
# Never switch off torch's weights_only protection for the tests: they prove it is not needed.
unset TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD
export MPLBACKEND=Agg PYTHONUNBUFFERED=1
# the torch-free host environment setup_env.sh made (tests run the deploy runtime there)
export FCN_HOST_PYTHON="${FCN_HOST_PYTHON:-${FCN_HOST_VENV:-$ROOT/.venv-host}/bin/python}"
# onnxruntime-cann, installed by setup_env.sh beside the host environment
export FCN_CANN_SITE="${FCN_CANN_SITE:-$ROOT/.cann-site}"
# msit's surgeon, installed by setup_env.sh in an environment of its own
export FCN_MSIT_VENV="${FCN_MSIT_VENV:-$ROOT/.venv-msit}"
WORKERS="${FCN_TEST_WORKERS:-2}"
XDIST=()
if [ "$WORKERS" != 0 ]; then
  XDIST=(-n "$WORKERS" --dist loadfile)
fi
exec "$ROOT/.venv/bin/python" -m pytest tests -p no:cacheprovider --durations=15 "${XDIST[@]}" "$@"
