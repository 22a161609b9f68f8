# Day-to-day commands. `just --list` shows them; each wraps a script so the same steps run
# without `just` installed (CI calls the scripts directly).

# Build the extension (release) into .venv, creating the venv on first use.
build:
    bash scripts/dev-env.sh

# Build and run the seed example.
demo:
    bash scripts/demo.sh

# The whole suite: cargo tests, pytest, and the lint/type gates.
test:
    bash scripts/test.sh

# Lint and type gates only: cargo fmt + clippy, ruff, mypy --strict, stubtest.
lint:
    bash scripts/lint.sh

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
