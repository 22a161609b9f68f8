#!/usr/bin/env bash
# The whole test suite: the lint/type gates, Rust (cargo test), Python (pytest), the docs site
# (warnings as errors), then the release artifacts: the wheel installed with no Rust toolchain
# and the sdist installed by pip.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
bash scripts/system-deps.sh
bash scripts/dev-env.sh
bash scripts/lint.sh
cargo test --workspace --exclude nemo-flow-py
.venv/bin/python -m pytest -q
bash scripts/docs.sh
bash scripts/build-wheels.sh
bash scripts/test-dist.sh
