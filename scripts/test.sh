#!/usr/bin/env bash
# The whole test suite: the lint/type gates, Rust (cargo test), then Python (pytest).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
bash scripts/system-deps.sh
bash scripts/dev-env.sh
bash scripts/lint.sh
cargo test --workspace --exclude nemo-flow-py
.venv/bin/python -m pytest -q
