#!/usr/bin/env bash
# Lint and type gates: cargo fmt, clippy -D warnings, ruff, mypy --strict, stubtest.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
cargo fmt --all --check
cargo clippy --workspace --all-targets -- -D warnings
bash scripts/typecheck.sh
