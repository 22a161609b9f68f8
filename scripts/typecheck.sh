#!/usr/bin/env bash
# Lint and type gates for the Python package: ruff (lint + format), mypy --strict (the package
# and tests/typing), and stubtest of
# python/nemo_flow/_native.pyi against the built extension module.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
bin=.venv/bin
"$bin/ruff" check python tests
"$bin/ruff" format --check python tests
"$bin/mypy" --strict python/nemo_flow
# The decorators keep the decorated signatures: checked, never run.
"$bin/mypy" --strict tests/typing
"$bin/python" -m mypy.stubtest nemo_flow --allowlist stubtest-allowlist.txt
