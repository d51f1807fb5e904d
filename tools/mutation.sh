#!/usr/bin/env bash
# Mutation testing of the torch-free half (fcn_voc_core/, fcn_voc_runtime/) against the quick tests
# that cover each mutated function: mutmut 3 ([tool.mutmut] in pyproject.toml). Not part of CI
# (hours on 2 cores). Results: the summary printed at the end, `mutmut results` for the survivors,
# `mutmut show NAME` for one mutant; tests/MUTANTS.md keeps the score and the equivalent ones.
#   bash tools/mutation.sh [mutmut run arguments, e.g. a mutant name pattern]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/tools/setup_env.sh"
cd "$ROOT"
MUTMUT=3.8.1
for py in .venv/bin/python .venv-host/bin/python; do  # the mutated code imports mutmut, in the
  if ! "$py" -c "import mutmut" 2>/dev/null; then     # host environment's tests too
    "$py" -m pip install --disable-pip-version-check -q "mutmut==$MUTMUT"
  fi
done
export FCN_HOST_PYTHON="$ROOT/.venv-host/bin/python" MPLBACKEND=Agg
unset TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD
.venv/bin/mutmut run --max-children "${FCN_MUTATION_WORKERS:-2}" "$@"
.venv/bin/mutmut export-cicd-stats
cat mutants/mutmut-cicd-stats.json; echo
