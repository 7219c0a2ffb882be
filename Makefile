# The commands the README names. Each installs what it needs first.
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: setup run demo lint test bench compose-test clean

setup:
	bash scripts/setup.sh

# The whole cluster on this machine, no Docker: redis-server, the gateway on
# http://127.0.0.1:$${CATALOG_PORT:-8000} and one worker per queue (catalog/local_cluster.py).
# Ctrl-C or SIGTERM (make passes it on) stops them all.
run: setup
	$(PY) -m catalog.local_cluster

# The sample photos through that cluster, with the command-line client.
demo: setup
	$(PY) -m catalog.local_cluster -- $(VENV)/bin/catalog submit tests/fixtures --wait --out catalog-demo
	@echo "Open catalog-demo/index.html"

# Lint, format and type checks of the whole repository (tests, bench and scripts included;
# ruff skips the vendored schemas, mypy checks the files pyproject.toml lists); the tests
# run only when they pass.
lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

test: lint
	$(PY) -m pytest

# The matte backends side by side (fp32, int8, rembg on the same file), then the whole
# pipeline with the fp32 matte and with the default (int8 on a CPU).
bench: setup
	$(VENV)/bin/pip install -q -e '.[bench]'
	$(PY) bench/segment_vs_rembg.py
	CATALOG_MATTE_BACKEND=fp32 $(PY) bench/pipeline_bench.py --out bench/results/pipeline-fp32.json
	$(PY) bench/pipeline_bench.py

# The cluster in Docker, for real (scripts/compose_test.py): builds the image, starts every
# service with Docker Compose, sends tests/fixtures through it, kills a worker mid-photo, and
# takes it down. Base images come from Docker Hub, or are made from Debian packages where it
# cannot be reached. Not part of `make test` (minutes, and a Docker engine); needs no venv.
compose-test:
	python3 scripts/compose_test.py

clean:
	rm -rf catalog-demo .pytest_cache
