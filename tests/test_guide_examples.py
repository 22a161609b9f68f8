"""The examples of docs/guide.md's decorators section run, top to bottom, as one program;
their own `assert`s check what the prose promises."""

from __future__ import annotations

import ast
import re
import sys
import types
from pathlib import Path
from typing import Any

import pytest

GUIDE = Path(__file__).resolve().parent.parent / "docs" / "guide.md"
SECTION = "## Decorators, `async with` and the current scope"


def section_blocks(title: str) -> list[str]:
    text = GUIDE.read_text(encoding="utf-8")
    start = text.index(title + "\n")
    end = text.find("\n## ", start + len(title))
    body = text[start : end if end >= 0 else len(text)]
    return re.findall(r"^```python\n(.*?)^```$", body, flags=re.S | re.M)


async def test_the_decorators_section_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    blocks = section_blocks(SECTION)
    assert len(blocks) == 5, "the section's examples changed: update this count"
    module = types.ModuleType("guide_examples")  # a real module: dataclasses look theirs up
    monkeypatch.setitem(sys.modules, module.__name__, module)
    namespace: dict[str, Any] = module.__dict__
    for i, block in enumerate(blocks):
        code = compile(block, f"{GUIDE.name}[{SECTION[3:]} #{i}]", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
        result = eval(code, namespace)  # top-level `await` makes it a coroutine
        if result is not None:
            await result
    events = namespace["events"]
    assert {e.name for e in events} >= {"planner", "plan", "search", "translate", "gpt", "word"}
