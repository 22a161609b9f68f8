#!/usr/bin/env bash
# Creates (once) the project virtualenv in .venv with the build and test tools, and builds
# the extension into it. Sourced by the other scripts.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q -r requirements-dev.txt
# Test-only packages installed without their dependencies (see the file for why).
.venv/bin/python -m pip install -q --no-deps -r requirements-dev-nodeps.txt
# An optimized build: the test suite and the demo exercise the hot path.
.venv/bin/maturin develop --release -q
