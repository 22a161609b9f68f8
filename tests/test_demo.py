"""The seed example (examples/demo.py) runs as documented."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "examples" / "demo.py"
VENV_PYTHON = ROOT / ".venv" / "bin" / "python"


def test_demo_prints_seed_output() -> None:
    python = str(VENV_PYTHON) if VENV_PYTHON.exists() else sys.executable
    proc = subprocess.run([python, str(DEMO)], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "{'echo': 'hello'} {'messages': [{'role': 'user', 'content': 'hi'}], 'ok': True}\n"
    assert proc.stderr == ""
