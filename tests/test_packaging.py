"""Packaging metadata: one version source, and every optional extra's integration importable.

Extras are read from the installed package's metadata (what ``pip install nemo-flow[x]``
sees), so extras added later are tested with no edit here. An extra named like a module in
``nemo_flow/integrations/`` is that integration's extra.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from types import ModuleType

import pytest

import nemo_flow

ROOT = Path(__file__).resolve().parent.parent
DIST = "nemo-flow"
INTEGRATIONS = ROOT / "python" / "nemo_flow" / "integrations"


def _pyproject() -> dict[str, object]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def _load_check_install() -> ModuleType:
    # The installed-package checks (scripts/check_install.py) read the extras the same way.
    spec = importlib.util.spec_from_file_location("check_install", ROOT / "scripts" / "check_install.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _integration_modules() -> list[str]:
    return sorted(p.stem for p in INTEGRATIONS.glob("*.py") if not p.stem.startswith("_"))


EXTRAS: dict[str, list[str]] = _load_check_install().declared_extras()


def test_version_comes_from_the_cargo_workspace() -> None:
    cargo = tomllib.loads((ROOT / "Cargo.toml").read_text(encoding="utf-8"))
    workspace_version = cargo["workspace"]["package"]["version"]
    project = _pyproject()["project"]
    assert isinstance(project, dict)
    assert "version" not in project and "version" in project["dynamic"]
    assert nemo_flow.__version__ == workspace_version == importlib.metadata.version(DIST)


def test_installed_metadata_declares_the_extras_of_pyproject() -> None:
    # A stale build (pyproject edited, extension not rebuilt) would test the wrong extras.
    project = _pyproject()["project"]
    assert isinstance(project, dict)
    declared = {re.sub(r"[-_.]+", "-", e).lower() for e in project.get("optional-dependencies", {})}
    assert set(EXTRAS) == declared, "rebuild (maturin develop): the installed metadata is stale"


def test_every_integration_module_has_its_extra() -> None:
    missing = [m for m in _integration_modules() if m.replace("_", "-") not in EXTRAS]
    assert missing == [], f"integration modules with no optional extra of the same name: {missing}"


@pytest.mark.parametrize("extra", sorted(EXTRAS))
def test_extra_integration_imports_when_its_dependencies_are_installed(extra: str) -> None:
    module = f"nemo_flow.integrations.{extra.replace('-', '_')}"
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"[{extra}] is not an integration's extra (no {module})")
    missing = [d for d in EXTRAS[extra] if not _has(d)]
    if missing:
        pytest.skip(f"[{extra}] dependencies not installed: {missing}")
    imported = importlib.import_module(module)
    assert imported.__name__ == module
    assert (imported.__doc__ or "").strip(), f"{module} has no module docstring"


def _has(distribution: str) -> bool:
    try:
        importlib.metadata.distribution(distribution)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


@pytest.mark.skipif(importlib.util.find_spec("nemo_flow.__main__") is None, reason="no nemo_flow.__main__ (CLI) yet")
def test_python_m_nemo_flow_version_prints_the_package_version() -> None:
    proc = subprocess.run([sys.executable, "-m", "nemo_flow", "--version"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert nemo_flow.__version__ in proc.stdout.split()
