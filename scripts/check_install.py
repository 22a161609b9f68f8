"""Checks an installed nemo_flow the way a user meets it; run by scripts/test-dist.sh with the
interpreter of a fresh virtualenv that holds only the installed wheel (or sdist build).

    python check_install.py REPO_ROOT

Exits non-zero with a message naming the first thing that is wrong. Optional extras are read
from the package metadata, so extras added later are checked with no edit here.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import json
import os
import re
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

DIST = "nemo-flow"
DEMO_OUTPUT = "{'echo': 'hello'} {'messages': [{'role': 'user', 'content': 'hi'}], 'ok': True}\n"


def fail(message: str) -> None:
    sys.exit(f"check_install: {message}")


def check_installed_package() -> Path:
    import nemo_flow

    package = Path(nemo_flow.__file__).resolve().parent
    site = Path(sysconfig.get_paths()["purelib"]).resolve()
    if site not in package.parents:
        fail(f"nemo_flow imported from {package}, not from this environment's {site}")
    for shipped in ("py.typed", "_native.pyi"):
        if not (package / shipped).is_file():
            fail(f"{shipped} is not installed next to the package ({package})")
    return package


def check_version() -> str:
    import nemo_flow

    metadata_version = importlib.metadata.version(DIST)
    if nemo_flow.__version__ != metadata_version:
        fail(f"nemo_flow.__version__ is {nemo_flow.__version__!r}, the package metadata says {metadata_version!r}")
    if importlib.util.find_spec("nemo_flow.__main__") is not None:
        # `python -m nemo_flow --version` exists once the CLI module lands.
        proc = subprocess.run([sys.executable, "-m", "nemo_flow", "--version"], capture_output=True, text=True)
        if proc.returncode != 0 or metadata_version not in proc.stdout:
            fail(f"`python -m nemo_flow --version` printed {proc.stdout!r} {proc.stderr!r} (rc {proc.returncode})")
    return metadata_version


def check_demo(root: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(root / "examples" / "demo.py")], capture_output=True, text=True, cwd=tempfile.gettempdir()
    )
    if proc.returncode != 0 or proc.stdout != DEMO_OUTPUT:
        fail(f"examples/demo.py: rc {proc.returncode}, stdout {proc.stdout!r}, stderr {proc.stderr!r}")


def check_exporter_round_trip() -> None:
    from nemo_flow import AtofExporter, AtofExporterConfig, ScopeType, scope, tools

    with tempfile.TemporaryDirectory() as out:
        exporter = AtofExporter(AtofExporterConfig(output_directory=out, filename="events.jsonl"))
        exporter.register("install-check")
        with scope.scope("install-check", ScopeType.Agent):
            tools.execute_sync("search", {"query": "x"}, lambda args: {"hits": [args["query"]]})
        if not exporter.shutdown():
            fail("AtofExporter.shutdown() reported undelivered events")
        exporter.deregister("install-check")
        events = [json.loads(line) for line in Path(exporter.path).read_text().splitlines()]
    seen = [(e["kind"], e.get("scope_category"), e["name"]) for e in events]
    expected = [
        ("scope", "start", "install-check"),
        ("scope", "start", "search"),
        ("scope", "end", "search"),
        ("scope", "end", "install-check"),
    ]
    if seen != expected:
        fail(f"ATOF round trip: expected {expected}, read back {seen}")
    if events[1]["data"] != {"query": "x"} or events[2]["data"] != {"hits": ["x"]}:
        fail(f"ATOF round trip: the tool's arguments and result are not in its events: {events[1:3]}")
    if len({e["root_uuid"] for e in events}) != 1 or events[1]["parent_uuid"] != events[0]["uuid"]:
        fail(f"ATOF round trip: the tool call is not nested under its scope: {events}")


def declared_extras() -> dict[str, list[str]]:
    """Each optional extra with the distribution names it requires, from the metadata."""
    meta = importlib.metadata.metadata(DIST)
    extras: dict[str, list[str]] = {name: [] for name in meta.get_all("Provides-Extra") or []}
    for requirement in importlib.metadata.requires(DIST) or []:
        marker = re.search(r"""extra\s*==\s*["']([^"']+)["']""", requirement)
        if marker and marker.group(1) in extras:
            name = re.match(r"[A-Za-z0-9._-]+", requirement)
            extras[marker.group(1)].append(name.group(0) if name else requirement)
    return extras


def check_integrations_without_their_sdks(package: Path) -> None:
    """With no extra installed, each integration module imports (its SDK loads lazily) or fails
    with an ImportError that names its extra (``pip install nemo-flow[x]``) or one of the
    extra's own requirements; any other missing module is an undeclared dependency."""
    extras = declared_extras()
    for module in sorted(p.stem for p in (package / "integrations").glob("*.py") if not p.stem.startswith("_")):
        try:
            importlib.import_module(f"nemo_flow.integrations.{module}")
        except ImportError as err:
            declared = {_importable(d) for d in extras.get(module.replace("_", "-"), [])}
            missing = _importable((err.name or "").split(".")[0])
            if f"[{module}]" not in str(err) and missing not in declared:
                fail(f"nemo_flow.integrations.{module} without its SDK: {err!r} is not in extra [{module}]")


def _importable(distribution: str) -> str:
    return re.sub(r"[-_.]+", "_", distribution).lower()


def main() -> None:
    if len(sys.argv) != 2:
        fail("usage: check_install.py REPO_ROOT")
    root = Path(sys.argv[1]).resolve()
    for tool in ("cargo", "rustc"):
        found = [d for d in os.environ.get("PATH", "").split(os.pathsep) if d and (Path(d) / tool).exists()]
        if found and os.environ.get("NEMO_FLOW_EXPECT_NO_TOOLCHAIN") == "1":
            fail(f"{tool} is on PATH ({found[0]}): the wheel must be checked without a Rust toolchain")
    package = check_installed_package()
    version = check_version()
    check_demo(root)
    check_exporter_round_trip()
    check_integrations_without_their_sdks(package)
    print(f"check_install: nemo-flow {version} from {package}: import, version, demo, ATOF round trip, extras: ok")


if __name__ == "__main__":
    main()
