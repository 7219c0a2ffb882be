# The commands the README names. Each installs what it needs first.
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: setup demo test bench clean

setup:
	bash scripts/setup.sh

demo: setup
	$(VENV)/bin/catalog run tests/fixtures --out catalog-demo
	@echo "Open catalog-demo/index.html"

test: setup
	$(PY) -m pytest

bench: setup
	$(PY) bench/pipeline_bench.py

clean:
	rm -rf catalog-demo .pytest_cache
