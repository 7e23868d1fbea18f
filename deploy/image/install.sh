#!/usr/bin/env bash
# The image's install step: a fresh virtualenv holding ai-trader and the extras the image runs
# with (azure: Event Hubs, Blob, management SDKs; alpaca: the broker). The Dockerfile runs this,
# and so does tests/integration/deploy/test_image.py, so what the test checks is what the image holds.
#   usage: deploy/image/install.sh VENV_DIR [SOURCE_DIR]
# PYTHON picks the interpreter (default python3). pip options come from the environment: the
# Dockerfile sets PIP_NO_CACHE_DIR=1, the test reuses the machine's pip cache.
set -euo pipefail
venv=${1:?usage: install.sh VENV_DIR [SOURCE_DIR]}
src=${2:-.}
extras=azure,alpaca
[ -f "$src/pyproject.toml" ] || { echo "install.sh: no pyproject.toml in $src" >&2; exit 2; }
"${PYTHON:-python3}" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --upgrade pip
# non-editable: the package is copied into site-packages, where the Numba cache points at it
"$venv/bin/python" -m pip install --quiet "$src[$extras]"
"$venv/bin/python" -m pip check
