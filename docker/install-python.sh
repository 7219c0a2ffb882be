#!/bin/sh
# Makes python3.11 (with venv) available in the image's base.
# - python:3.11-slim already has it (/usr/local/bin/python3.11): nothing to do.
# - nvidia/cuda:*-ubuntu22.04 has no Python: Ubuntu 22.04 ships python3.11 in "universe".
# Build and runtime stages both run this on the same base, so python3.11 sits at the same
# path in both and the virtual environment built in one runs in the other.
set -eu
if command -v python3.11 >/dev/null 2>&1; then
  exit 0
fi
apt-get update
apt-get install -y --no-install-recommends python3.11 python3.11-venv ca-certificates
rm -rf /var/lib/apt/lists/*
