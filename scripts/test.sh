#!/usr/bin/env bash
# The whole test suite: Rust (cargo test) and Python (pytest), then the lint/type gates.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
bash scripts/dev-env.sh
cargo test --workspace --exclude nemo-flow-py
.venv/bin/python -m pytest -q
bash scripts/lint.sh
