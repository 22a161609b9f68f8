#!/usr/bin/env bash
# The whole test suite: the lint/type gates, the docs site (warnings as errors), the release
# artifacts (the wheel installed with no Rust toolchain, the sdist installed by pip), Rust
# (cargo test), then Python (pytest), whose summary closes the run.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
bash scripts/system-deps.sh
bash scripts/dev-env.sh
bash scripts/lint.sh
bash scripts/docs.sh
bash scripts/build-wheels.sh
bash scripts/test-dist.sh
cargo test --workspace --exclude nemo-flow-py
.venv/bin/python -m pytest -q
