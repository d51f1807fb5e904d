#!/usr/bin/env bash
# The README's main command: set up the stack (idempotent), then run the demo.
#   bash tools/run_demo.sh [--work-dir DIR] ...   (arguments go to tools/demo.py)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/tools/setup_env.sh"
cd "$ROOT"
unset TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD
export MPLBACKEND=Agg PYTHONUNBUFFERED=1
exec "$ROOT/.venv/bin/python" tools/demo.py "$@"
