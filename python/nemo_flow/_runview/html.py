"""The run viewer: one self-contained HTML file (inline CSS and JS, no network) holding the
runs as compact arrays, rendered as a virtualised waterfall in the browser."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

from .atof import Problem
from .compare import mask_credentials
from .tree import Call, Run


def _template() -> str:
    return resources.files(__package__).joinpath("viewer.html").read_text(encoding="utf-8")


def script_json(value: Any) -> str:
    """JSON safe inside a ``<script>`` element: no ``<``, ``>``, ``&`` or line separators."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=repr)
    for raw in ("<", ">", "&", "\u2028", "\u2029"):
        text = text.replace(raw, f"\\u{ord(raw):04x}")
    return text


def run_payload(run: Run) -> dict[str, Any]:
    """One run as the viewer reads it: ``calls`` rows ``[parent, kind, name, start_us, dur_us,
    failed, open]`` in tree order, and per-call ``details``."""
    t0 = run.start_ns
    index: dict[int, int] = {}
    rows: list[list[Any]] = []
    details: list[dict[str, Any]] = []
    tokens = cache_read = errors = 0
    for i, c in enumerate(run.calls()):
        index[id(c)] = i
    end = t0
    for c in run.calls():
        parent = -1 if c.parent_obj is None else index.get(id(c.parent_obj), -1)
        is_open = c.end_ns is None
        dur = 0 if is_open else (c.end_ns or c.start_ns) - c.start_ns
        end = max(end, c.end_ns or c.start_ns)
        rows.append([parent, c.kind, c.name, (c.start_ns - t0) / 1000, dur / 1000, int(c.failed), int(is_open)])
        usage = c.usage
        tokens += usage.get("total_tokens", 0)
        cache_read += usage.get("cache_read_tokens", 0)
        errors += c.failed
        details.append(_detail(c, usage))
    return {
        "id": run.root_uuid,
        "name": run.name,
        "source": run.source,
        "span": (end - t0) / 1000,
        "calls": rows,
        "details": details,
        "summary": {
            "calls": sum(1 for r in rows if r[1] != "mark"),
            "errors": errors,
            "tokens": tokens,
            "cache_read": cache_read,
        },
    }


def _detail(c: Call, usage: dict[str, int]) -> dict[str, Any]:
    d: dict[str, Any] = {"uuid": c.uuid, "line": c.line, "input": c.input, "output": c.output}
    if c.kind == "llm":
        d["input"] = mask_credentials(c.input)
        d["model"] = c.model
    if c.error:
        d["error"] = {"type": str(c.error.get("type", "")), "message": str(c.error.get("message", ""))}
    if usage:
        d["usage"] = usage
    if c.metadata is not None:
        d["metadata"] = c.metadata
    if c.attributes:
        d["attributes"] = c.attributes
    if c.chunks:
        d["chunks"] = c.chunks
    return d


def render(runs: list[Run], problems: list[Problem], title: str) -> str:
    """The viewer page for ``runs`` (one tab each); ``problems`` are listed at the top."""
    data = {"title": title, "runs": [run_payload(r) for r in runs], "problems": [str(p) for p in problems]}
    html_title = title.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _template().replace("__TITLE__", html_title, 1).replace("__DATA__", script_json(data), 1)
