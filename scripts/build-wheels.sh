#!/usr/bin/env bash
# Builds the release artifacts into dist/: one abi3 wheel (CPython >= 3.11) tagged
# manylinux_2_17, linked by zig against glibc 2.17 symbols so it installs on any glibc >= 2.17
# distribution, and the sdist. maturin checks the wheel against the manylinux policy (it
# refuses to tag a wheel that needs newer symbols); auditwheel then reports it independently.
# Prints the wheel's size. Uses the project venv's maturin, ziglang and auditwheel.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
bin=.venv/bin
[ -x "$bin/maturin" ] || bash scripts/dev-env.sh
rm -rf dist
# The zig-linked build lives in its own target dir: sharing target/ with `maturin develop`
# would make each rebuild the other's artifacts (the linker is part of cargo's fingerprint).
export CARGO_TARGET_DIR="${WHEEL_TARGET_DIR:-$root/target/wheel}"
# maturin finds zig as `python3 -m ziglang` on PATH: the venv's, which has the ziglang package.
export PATH="$root/$bin:$PATH"
start=$(date +%s)
"$bin/maturin" build --release --strip --zig --compatibility manylinux_2_17 --out dist
echo "wheel built in $(( $(date +%s) - start )) s"
"$bin/maturin" sdist --out dist
wheel=$(ls dist/*.whl)
"$bin/auditwheel" show "$wheel"
"$bin/python" - "$wheel" <<'PY'
import os, sys, zipfile
path = sys.argv[1]
with zipfile.ZipFile(path) as whl:
    names = whl.namelist()
    native = next(i for i in whl.infolist() if i.filename.endswith(".so"))
for wanted in ("nemo_flow/py.typed", "nemo_flow/_native.pyi"):
    if wanted not in names:
        sys.exit(f"{path}: {wanted} missing from the wheel")
python_tag, abi_tag, platforms = path.removesuffix(".whl").rsplit("-", 3)[-3:]
if (python_tag, abi_tag) != ("cp311", "abi3") or "manylinux_2_17_x86_64" not in platforms.split("."):
    sys.exit(f"{path}: expected a cp311-abi3-manylinux_2_17_x86_64 wheel")
print(f"wheel: {os.path.basename(path)}: {os.path.getsize(path) / 1e6:.1f} MB "
      f"({native.filename} {native.file_size / 1e6:.1f} MB uncompressed)")
PY
ls -l dist
