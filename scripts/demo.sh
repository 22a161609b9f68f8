#!/usr/bin/env bash
# Builds the package and runs the seed example (examples/demo.py).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bash "$root/scripts/dev-env.sh"
"$root/.venv/bin/python" "$root/examples/demo.py"
