#!/usr/bin/env bash
# Install FaceX (core + every plugin under plugins/, editable) into .venv. Idempotent: a re-run
# reuses the environment and reinstalls only when a pyproject.toml or this script changed.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.facex-install-stamp
want=$(cat scripts/install.sh pyproject.toml facex_core/version.py plugins/*/*/pyproject.toml | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null || true)" = "$want" ]; then
  echo "FaceX environment is up to date (.venv)"
  exit 0
fi
pip() { .venv/bin/python -m pip --disable-pip-version-check "$@"; }
# torch is pinned here only (plugins declare ranges); these builds come from the local wheel cache.
pip install -q torch==2.14.1
# the pyproject.toml files use PEP 639 license fields (setuptools>=77); --no-build-isolation below builds with this one
pip install -q "setuptools>=77" wheel
editable=(-e ".[test]")
for dir in plugins/*/*/; do
  editable+=(-e "${dir%/}")
done
pip install -q --no-build-isolation "${editable[@]}"
# optional extras (cheap wheels only): facex-sdk's FAISS gallery indexes (faiss-cpu, ~18 MB). A second
# step because pip 23's resolver cannot match "-e DIR[extra]" to another plugin's plain requirement on it.
pip install -q --no-build-isolation -e "plugins/apps/sdk[faiss]"
# mediapipe 0.10.21 is the last release whose wheel ships the face detection and face mesh models. Its
# metadata pins numpy<2 (and pulls jax, matplotlib, opencv-contrib), yet the parts FaceX uses run with
# numpy 2: install it without dependencies; plugins/sdk/mediapipe declares what it really needs
# (protobuf<5, absl-py, flatbuffers, attrs). See plugins/sdk/mediapipe/README.md.
if ! pip install -q --no-deps mediapipe==0.10.21; then
  # e.g. a Python without a mediapipe 0.10.21 wheel: everything else works; the MediaPipe plugin is
  # listed as broken with this recipe, and its tests and the default SDK pipeline's are skipped
  echo "warning: mediapipe 0.10.21 could not be installed; the MediaPipe SDK plugin will be unavailable" >&2
fi
echo "$want" > "$stamp"
echo "FaceX installed: $(.venv/bin/facex-core list | tail -n 1)"
