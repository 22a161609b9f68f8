# Day-to-day commands. `just --list` shows them; each wraps a script so the same steps run
# without `just` installed (CI calls the scripts directly).

# Build the extension (release) into .venv, creating the venv on first use.
build:
    bash scripts/dev-env.sh

# Build and run the seed example.
demo:
    bash scripts/demo.sh

# The whole suite: lint/type gates, cargo tests, pytest, docs, wheel and sdist checks.
test:
    bash scripts/test.sh

# Lint and type gates only: cargo fmt + clippy, ruff, mypy --strict, stubtest.
lint:
    bash scripts/lint.sh

# Release artifacts in dist/: the abi3 manylinux_2_17 wheel (size printed) and the sdist.
wheels:
    bash scripts/build-wheels.sh

# Install dist/'s wheel (no Rust on PATH) and sdist into fresh venvs and check each.
test-dist:
    bash scripts/test-dist.sh

# The documentation site (guide + API reference) into target/docs/html, warnings as errors.
docs:
    bash scripts/docs.sh

# Hot-path benchmark: our harness, then the shared yardstick side by side.
bench:
    bash scripts/bench.sh

# Fast inner loop: debug build of the extension, then pytest.
dev:
    .venv/bin/maturin develop -q && .venv/bin/python -m pytest -q

# Exporter reliability figures: call latency with a dead backend vs none, flush time vs
# timeout, burst accounting (loopback only).
bench-exporters:
    .venv/bin/python benches/exporter_reliability.py

# `nemo-flow view` of a 20,000-event run (time, HTML size) and record/replay cost per call.
bench-view-replay:
    .venv/bin/python benches/view_replay.py
