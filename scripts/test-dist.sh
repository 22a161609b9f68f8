#!/usr/bin/env bash
# Installs the artifacts of scripts/build-wheels.sh the way users do and checks each with
# scripts/check_install.py (import, version against the metadata, the seed example, an ATOF
# exporter round trip, integrations without their SDKs):
#   1. the wheel, into a fresh virtualenv whose PATH has no cargo or rustc;
#   2. the sdist (`pip install nemo_flow-*.tar.gz`), into another fresh virtualenv, compiled
#      by pip with the toolchain. It shares target/ with the dev build (dev-env.sh), so only
#      the crates whose flags differ are recompiled; set SDIST_TARGET_DIR to build elsewhere.
# `--wheel-only` skips the sdist.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
wheel=$(ls dist/*.whl 2>/dev/null | head -1)
sdist=$(ls dist/*.tar.gz 2>/dev/null | head -1)
[ -n "$wheel" ] && [ -n "$sdist" ] || { echo "no wheel or sdist in dist/: run scripts/build-wheels.sh" >&2; exit 1; }
# The interpreter the project venv was made from: a plain CPython, not a shim on the user's PATH.
python=$(.venv/bin/python -c 'import sys; print(sys._base_executable)')
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1

# PATH with every directory that holds cargo or rustc removed.
no_rust_path=""
IFS=: read -ra dirs <<<"$PATH"
for d in "${dirs[@]}"; do
  [ -n "$d" ] && { [ -e "$d/cargo" ] || [ -e "$d/rustc" ]; } && continue
  no_rust_path="${no_rust_path:+$no_rust_path:}$d"
done

echo "== wheel $(basename "$wheel"), no Rust toolchain on PATH"
"$python" -m venv "$work/wheel-venv"
start=$(date +%s%N)
env -u CARGO_HOME -u RUSTUP_HOME PATH="$work/wheel-venv/bin:$no_rust_path" NEMO_FLOW_EXPECT_NO_TOOLCHAIN=1 \
  bash -c 'cd /tmp && ! command -v cargo && ! command -v rustc && pip install -q --only-binary :all: "$1" \
    && python -c "import nemo_flow" && echo "pip install to working import: $(( ($(date +%s%N) - $2) / 1000000 )) ms" \
    && python "$3/scripts/check_install.py" "$3"' _ "$root/$wheel" "$start" "$root"

[ "${1:-}" = "--wheel-only" ] && exit 0

echo "== sdist $(basename "$sdist"), built by pip with the Rust toolchain"
"$python" -m venv "$work/sdist-venv"
start=$(date +%s)
(cd /tmp && CARGO_TARGET_DIR="${SDIST_TARGET_DIR:-$root/target}" "$work/sdist-venv/bin/pip" install -q "$root/$sdist")
echo "sdist build and install: $(( $(date +%s) - start )) s"
(cd /tmp && "$work/sdist-venv/bin/python" "$root/scripts/check_install.py" "$root")
