# fused-rs: `make run` builds, installs and runs the quickstart; `make test` runs every test.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# One target dir for cargo test, maturin and clippy, so nothing is compiled twice.
export CARGO_TARGET_DIR ?= $(CURDIR)/target
export VIRTUAL_ENV := $(CURDIR)/$(VENV)

.PHONY: run test build lint fmt bench clean

$(VENV)/.deps: requirements-dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --disable-pip-version-check -r requirements-dev.txt
	touch $@

# Builds the Rust extension (release) and installs the package with runtime + test deps.
build: $(VENV)/.deps
	$(VENV)/bin/maturin develop --release --extras test

# The quickstart (every example UDF, File and Tile mode, in process), then `fused serve`
# on its defaults with the examples saved and shared; serves until interrupted.
run: build
	$(PY) examples/quickstart.py
	$(PY) examples/serve_quickstart.py

test: build
	[ -x tests/js/node_modules/.bin/gl-style-validate ] || npm ci --prefix tests/js --no-audit --no-fund
	cargo test --release -p fused-core -p fused-server
	# after the release test build: same profile and target dir, so build scripts and
	# proc macros are reused and only the check metadata is new
	cargo clippy --release --workspace --all-targets -- -D warnings
	$(PY) -m pytest
	$(VENV)/bin/ruff check python tests bench examples/quickstart.py
	$(VENV)/bin/ruff format --check python tests bench
	cargo fmt --all -- --check

lint: build
	cargo clippy --release --workspace --all-targets -- -D warnings
	$(VENV)/bin/ruff check python tests bench examples/quickstart.py
	$(VENV)/bin/ruff format --check python tests bench
	$(VENV)/bin/mypy
	cargo fmt --all -- --check

fmt:
	cargo fmt --all
	$(VENV)/bin/ruff format python tests bench

bench: build
	cargo bench -p fused-core -p fused-server --benches
	$(PY) bench/bench_tiles.py
	$(PY) bench/bench_run.py
	$(PY) bench/bench_server.py
	$(PY) bench/bench_load.py
	$(PY) bench/bench_workbench.py
	$(PY) bench/bench_tilesets.py

clean:
	rm -rf $(VENV) target python/fused/_native*.so
