#!/usr/bin/env bash
# Idempotent set-up: creates .venv and installs the stack measured to work together here
# (torch 2.13 CPU, mmcv 2.1.0 with compiled ops, mmengine 0.10.7, mmsegmentation 1.2.2, openmim
# 0.3.9, mindspore 2.10, onnx, onnxruntime) plus this package in editable mode. A second run on
# the same machine only checks and takes seconds.
#
# It also creates a second, torch-free environment like a deployment host's, with the one command
# the docs give a host: pip install ./runtime[onnxruntime,mindspore] (at ./.venv-host, or
# $FCN_HOST_VENV): the tests run the deploy runtime there.
#
# Usage: bash tools/setup_env.sh            (venv at ./.venv, or $FCN_VENV)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${FCN_VENV:-$ROOT/.venv}"
PY="${PYTHON:-python3}"
STAMP="$VENV/.fcn-stack-v1"
# one OpenCV for both environments: the host decodes and resizes images as mmcv does in training
OPENCV=4.11.0.86

log() { printf '[setup] %s\n' "$*" >&2; }

if [ ! -x "$VENV/bin/python" ]; then
  log "creating virtualenv $VENV"
  "$PY" -m venv "$VENV"
fi
VPY="$VENV/bin/python"
pipi() { "$VPY" -m pip install --disable-pip-version-check -q "$@"; }

if [ -f "$STAMP" ] && "$VPY" - <<'PYCHK' 2>/dev/null
import importlib.metadata as md
want = {'torch': '2.13.0', 'mmcv': '2.1.0', 'mmengine': '0.10.7', 'mmsegmentation': '1.2.2',
        'openmim': '0.3.9', 'mindspore': '2.10.0'}
for k, v in want.items():
    assert md.version(k).startswith(v), k
import mmcv.ops  # compiled ops present
import numpy
assert numpy.__version__.startswith('1.')
PYCHK
then
  log "stack already installed in $VENV"
else
  # Order matters: setuptools < 81 (mmcv's setup.py and mim import pkg_resources), torch before
  # the mmcv source build, numpy < 2 for mindspore.
  log "installing build tools and torch 2.13.0 (CPU)"
  pipi "setuptools>=77,<81" wheel ninja
  pipi "torch==2.13.0" "numpy>=1.24,<2"
  if ! "$VPY" -c "import mmcv.ops" 2>/dev/null; then
    log "building mmcv 2.1.0 with ops (13-18 min on 2 cores the first time; pip caches the wheel)"
    MMCV_WITH_OPS=1 MAX_JOBS="${MAX_JOBS:-2}" "$VPY" -m pip install --disable-pip-version-check \
      --no-build-isolation -q "mmcv==2.1.0"
  fi
  log "installing mmengine, mmsegmentation, mindspore, onnx, onnxruntime"
  pipi "mmengine==0.10.7" "mmsegmentation==1.2.2" ftfy regex "numpy>=1.24,<2" "setuptools>=77,<81" \
    "opencv-python==$OPENCV"
  # openmim's own dependency chain pins setuptools 60 and breaks mmcv: install it without deps.
  pipi --no-deps "openmim==0.3.9"
  pipi click colorama model-index "pandas>=2,<3" requests rich tabulate
  pipi "mindspore==2.10.0" "onnx>=1.16,<1.24" "onnxruntime>=1.18" "numpy>=1.24,<2"
  pipi scipy pytest pytest-timeout "pytest-xdist>=3.5,<4"
  touch "$STAMP"
fi
# added after the stack's first release: the test runner's workers (tools/run_tests.sh), the
# docs site (mkdocs, checked by the tests), the distribution's build and check, and mutmut
# (tools/mutation.sh; the tests check its configuration)
if ! "$VPY" -c "import xdist, mkdocs, material, build, twine, mutmut" 2>/dev/null; then
  log "installing pytest-xdist, mkdocs (material), build, twine, mutmut"
  pipi "pytest-xdist>=3.5,<4" "mkdocs>=1.6,<2" "mkdocs-material>=9.5,<10" "build>=1" "twine>=5" \
    "mutmut==3.8.1"
fi

# The repository's two distributions, editable: the torch-free runtime (runtime/, fcn-voc-runtime)
# and the plugin that depends on it; their dependencies are already satisfied above (no resolver
# surprises). Checked from / so that the current directory cannot make the import succeed.
if ! (cd / && "$VPY" -c "import importlib.metadata as m; m.distribution('fcn-voc-runtime'); \
m.distribution('mmseg-fcn-voc'); import mmseg_fcn_voc.commands, fcn_voc_runtime.__main__" \
    2>/dev/null) || [ ! -x "$VENV/bin/fcn-to-mindspore" ] || [ ! -x "$VENV/bin/fcn-infer-deployed" ]; then
  log "installing fcn-voc-runtime and mmseg-fcn-voc (editable)"
  pipi --no-deps --no-build-isolation -e "$ROOT/runtime"
  pipi --no-deps --no-build-isolation -e "$ROOT"
fi

HOST_VENV="${FCN_HOST_VENV:-$ROOT/.venv-host}"
HOST_STAMP="$HOST_VENV/.fcn-host-v3"
# A deployment host as the docs set one up: one pip command, the runtime's own distribution with
# its backends (MindSpore 2.7.2: its oneDNN runs convolutions at AVX-512 where 2.9/2.10's fall
# back to a reference kernel; it loads 2.10's MINDIR files).
if [ ! -f "$HOST_STAMP" ] || ! (cd / && "$HOST_VENV/bin/python" -c \
    "import mindspore, onnxruntime, PIL, cv2, fcn_voc_runtime.__main__, fcn_voc_core" 2>/dev/null); then
  log "setting up the torch-free host environment $HOST_VENV: pip install ./runtime[onnxruntime,mindspore]"
  [ -x "$HOST_VENV/bin/python" ] || "$PY" -m venv "$HOST_VENV"
  "$HOST_VENV/bin/python" -m pip install --disable-pip-version-check -q \
    -e "$ROOT/runtime[onnxruntime,mindspore]" "mindspore==2.7.2"
  touch "$HOST_STAMP"
fi
# onnxruntime-cann (PyPI; imports on x86 under numpy < 2, lists CANN's provider without CANN and
# falls back to the CPU): the test that the runtime refuses that fallback runs the host
# environment with this folder in front of its packages. Installed here, once, never inside a
# test; FCN_NO_CANN=1 opts out (that test is then skipped, saying so).
CANN_SITE="${FCN_CANN_SITE:-$ROOT/.cann-site}"
CANN_STAMP="$CANN_SITE/.fcn-cann-v1"
if [ "${FCN_NO_CANN:-0}" != 1 ] && [ ! -f "$CANN_STAMP" ]; then
  log "installing onnxruntime-cann 1.24.4 into $CANN_SITE (pip --target, no dependencies)"
  "$HOST_VENV/bin/python" -m pip install --disable-pip-version-check -q --no-deps \
    --target "$CANN_SITE" "onnxruntime-cann==1.24.4"
  touch "$CANN_STAMP"
fi
# msit's surgeon (Ascend's ONNX graph optimizer; the one msit component that runs without CANN),
# in an environment of its own (it needs numpy < 2, onnx 1.16 and ml_dtypes < 0.5): the tests check
# that the static ONNX exports leave it nothing to do. FCN_NO_MSIT=1 opts out (that test is then
# skipped, saying so).
MSIT_VENV="${FCN_MSIT_VENV:-$ROOT/.venv-msit}"
MSIT_STAMP="$MSIT_VENV/.fcn-msit-v1"
if [ "${FCN_NO_MSIT:-0}" != 1 ] && [ ! -f "$MSIT_STAMP" ]; then
  log "creating $MSIT_VENV: msit 8.2.0 with its surgeon component"
  [ -x "$MSIT_VENV/bin/python" ] || "$PY" -m venv "$MSIT_VENV"
  "$MSIT_VENV/bin/python" -m pip install --disable-pip-version-check -q "msit==8.2.0" "numpy<2"
  "$MSIT_VENV/bin/msit" install surgeon >/dev/null 2>&1 || true  # it reinstalls numpy 2: fixed below
  "$MSIT_VENV/bin/python" -m pip install --disable-pip-version-check -q "numpy<2" "onnx==1.16.2" \
    "ml_dtypes<0.5" pandas
  "$MSIT_VENV/bin/msit" debug surgeon list >/dev/null 2>&1
  touch "$MSIT_STAMP"
fi
log "ready: $VENV (host environment: $HOST_VENV)"
