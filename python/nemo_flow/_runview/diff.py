"""Comparing two runs: their call trees aligned level by level (by kind and name, in start
order), the first point where they diverge, per-call differences and totals.

Timings, uuids and provider ids always differ between runs and are not differences; prompts
are compared message by message, with a line diff of a changed message's text.
"""

from __future__ import annotations

import difflib
import html
import re
from dataclasses import dataclass, field
from typing import Any

from .compare import canonical, changed_paths, short
from .tree import TOKEN_KEYS, Call, Run

_VOLATILE = frozenset({"id", "created", "created_at", "system_fingerprint", "usage"})


@dataclass
class Difference:
    """One changed aspect of a call: ``what`` ("prompt", "arguments", ...) and report lines."""

    what: str
    lines: list[str]


@dataclass
class Pair:
    """Two aligned calls (one side is None when a call exists in one run only)."""

    a: Call | None
    b: Call | None
    path: str
    differences: list[Difference] = field(default_factory=list)

    @property
    def diverges(self) -> bool:
        return self.a is None or self.b is None or bool(self.differences)

    def summary(self) -> str:
        if self.a is None and self.b is not None:
            return f"only in B: {self.b.kind} {self.path} (B line {self.b.line})"
        if self.b is None and self.a is not None:
            return f"only in A: {self.a.kind} {self.path} (A line {self.a.line})"
        assert self.a is not None and self.b is not None
        whats = ", ".join(d.what for d in self.differences)
        return f"{self.a.kind} {self.path} (A line {self.a.line}, B line {self.b.line}): {whats} changed"


@dataclass
class RunDiff:
    pairs: list[Pair]
    totals: dict[str, tuple[float, float]]

    @property
    def divergences(self) -> list[Pair]:
        return [p for p in self.pairs if p.diverges]

    @property
    def first(self) -> Pair | None:
        return next((p for p in self.pairs if p.diverges), None)


def diff_runs(a: list[Run], b: list[Run]) -> RunDiff:
    """Align the forests of two files (each file's runs in start order) and compare."""
    pairs: list[Pair] = []
    _align([c for r in a for c in r.roots], [c for r in b for c in r.roots], "", pairs)
    return RunDiff(pairs, {k: (totals(a)[k], totals(b)[k]) for k in totals(a)})


def _label(c: Call, siblings: list[Call]) -> str:
    same = [s for s in siblings if s.kind == c.kind and s.name == c.name]
    return c.name if len(same) == 1 else f"{c.name}#{same.index(c) + 1}"


def _align(xs: list[Call], ys: list[Call], prefix: str, out: list[Pair]) -> None:
    keys_a = [(c.kind, c.name) for c in xs]
    keys_b = [(c.kind, c.name) for c in ys]
    matcher = difflib.SequenceMatcher(None, keys_a, keys_b, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            for x, y in zip(xs[i1:i2], ys[j1:j2], strict=True):
                path = prefix + _label(x, xs)
                out.append(Pair(x, y, path, compare_calls(x, y)))
                _align(x.children, y.children, path + " > ", out)
            continue
        # A renamed call of the same kind at the same place is one call that changed.
        left, right = xs[i1:i2], ys[j1:j2]
        while left and right and left[0].kind == right[0].kind:
            x, y = left.pop(0), right.pop(0)
            path = prefix + _label(x, xs)
            out.append(Pair(x, y, path, compare_calls(x, y)))
            _align(x.children, y.children, path + " > ", out)
        for x in left:
            out.append(Pair(x, None, prefix + _label(x, xs)))
        for y in right:
            out.append(Pair(None, y, prefix + _label(y, ys)))


def compare_calls(a: Call, b: Call) -> list[Difference]:
    """What differs between two aligned calls, ignoring timing and provider ids."""
    diffs: list[Difference] = []
    if a.name != b.name:
        diffs.append(Difference("name", [f"- {a.name}", f"+ {b.name}"]))
    if a.kind == "llm":
        if a.model != b.model:
            diffs.append(Difference("model", [f"- {a.model}", f"+ {b.model}"]))
        diffs += _prompt_diff(a, b)
        params_a, params_b = _without(a.request_content, "messages"), _without(b.request_content, "messages")
        _paths("request parameters", params_a, params_b, diffs)
        _paths("response", _response_view(a), _response_view(b), diffs)
        ua, ub = a.usage, b.usage
        if ua != ub:
            lines = [f"  {k}: {ua.get(k)} -> {ub.get(k)}" for k in TOKEN_KEYS if ua.get(k) != ub.get(k)]
            diffs.append(Difference("tokens", lines))
    elif a.kind == "tool":
        _paths("arguments", a.input, b.input, diffs)
        _paths("result", a.output, b.output, diffs)
    else:
        _paths("input", a.input, b.input, diffs)
        _paths("output", a.output, b.output, diffs)
    if a.error != b.error:
        diffs.append(Difference("error", [f"- {_err(a)}", f"+ {_err(b)}"]))
    return diffs


def _err(c: Call) -> str:
    return "none" if c.error is None else f"{c.error.get('type')}: {c.error.get('message')}"


def _without(value: Any, key: str) -> Any:
    return {k: v for k, v in value.items() if k != key} if isinstance(value, dict) else value


def _paths(what: str, a: Any, b: Any, out: list[Difference]) -> None:
    paths = changed_paths(a, b, limit=20)
    if not paths:
        return
    lines = []
    for p in paths:
        lines.append(f"  {p}: {short(_at(a, p), 100)} -> {short(_at(b, p), 100)}")
    out.append(Difference(what, lines))


_MISSING = "(absent)"


def _at(value: Any, path: str) -> Any:
    """The value at a ``$.a[0].b`` path produced by changed_paths."""
    for key, idx in re.findall(r"\.([^.\[]+)|\[(\d+)\]", path[1:]):
        if key:
            if not isinstance(value, dict) or key not in value:
                return _MISSING
            value = value[key]
        else:
            i = int(idx)
            if not isinstance(value, list) or i >= len(value):
                return _MISSING
            value = value[i]
    return value


def _response_view(c: Call) -> Any:
    """What a response says, without ids, timestamps and usage (compared separately)."""
    ann = (c.end_profile or {}).get("annotated_response")
    if isinstance(ann, dict):
        return {k: ann.get(k) for k in ("message", "tool_calls", "finish_reason") if k in ann}
    if isinstance(c.output, dict):
        return {k: v for k, v in c.output.items() if k not in _VOLATILE}
    return c.output


def messages_of(c: Call) -> list[tuple[str, str]]:
    """An LLM call's prompt as ``(role, text)`` pairs, from the annotated request when the
    codec made one, else from the request body (chat ``messages``, Responses ``input``,
    Anthropic ``system``)."""
    ann = (c.start_profile or {}).get("annotated_request")
    msgs: Any = ann.get("messages") if isinstance(ann, dict) else None
    body = c.request_content if isinstance(c.request_content, dict) else {}
    out: list[tuple[str, str]] = []
    if msgs is None:
        for key in ("system", "instructions"):
            if isinstance(body.get(key), str | list):
                out.append(("system", _text(body[key])))
        msgs = body.get("messages", body.get("input"))
        if isinstance(msgs, str):
            return [*out, ("user", msgs)]
    if not isinstance(msgs, list):
        return out
    for m in msgs:
        if isinstance(m, dict):
            text = _text(m.get("content"))
            if m.get("tool_calls"):
                text += ("\n" if text else "") + "tool_calls: " + canonical(m["tool_calls"])
            out.append((str(m.get("role", m.get("type", "?"))), text))
    return out


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for p in content:
            if isinstance(p, dict) and isinstance(p.get("text"), str):
                parts.append(p["text"])
            elif isinstance(p, str):
                parts.append(p)
            else:
                parts.append(canonical(p))
        return "\n".join(parts)
    return "" if content is None else canonical(content)


def _prompt_diff(a: Call, b: Call) -> list[Difference]:
    ma, mb = messages_of(a), messages_of(b)
    if ma == mb:
        return []
    lines: list[str] = []
    matcher = difflib.SequenceMatcher(None, ma, mb, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            continue
        left, right = ma[i1:i2], mb[j1:j2]
        for k in range(max(len(left), len(right))):
            x = left[k] if k < len(left) else None
            y = right[k] if k < len(right) else None
            if x is not None and y is not None and x[0] == y[0]:
                lines.append(f"  message {i1 + k} ({x[0]}) changed:")
                for d in difflib.unified_diff(x[1].splitlines(), y[1].splitlines(), lineterm="", n=1):
                    if not d.startswith(("---", "+++", "@@")):
                        lines.append("    " + d)
                continue
            if x is not None:
                lines.append(f"  message {i1 + k} ({x[0]}) only in A: {x[1][:200]!r}")
            if y is not None:
                lines.append(f"  message {j1 + k} ({y[0]}) only in B: {y[1][:200]!r}")
    return [Difference("prompt", lines)]


def totals(runs: list[Run]) -> dict[str, float]:
    """Calls by kind, failures, tokens and wall-clock duration (ms) of a file's runs."""
    out: dict[str, float] = {"calls": 0, "tool calls": 0, "llm calls": 0, "failed": 0}
    for k in TOKEN_KEYS:
        out[k] = 0
    duration = 0.0
    for run in runs:
        duration += (run.end_ns - run.start_ns) / 1e6
        for c in run.calls():
            if c.kind == "mark":
                continue
            out["calls"] += 1
            out["failed"] += c.failed
            if c.kind in ("tool", "llm"):
                out[f"{c.kind} calls"] += 1
            for k, v in c.usage.items():
                out[k] += v
    out["duration ms"] = round(duration, 3)
    return out


def format_text(d: RunDiff, name_a: str = "A", name_b: str = "B") -> str:
    """The report printed by ``nemo-flow diff``."""
    out = [f"A: {name_a}", f"B: {name_b}", ""]
    first = d.first
    if first is None:
        out.append("The runs do not diverge: same calls, same requests, same results.")
    else:
        out.append("First divergence: " + first.summary())
        for diff in first.differences:
            out.append(f"  {diff.what}:")
            out.extend("  " + line for line in diff.lines)
        rest = d.divergences[1:]
        if rest:
            out.append("")
            out.append(f"Other differences ({len(rest)}):")
            for p in rest:
                out.append("* " + p.summary())
                for diff in p.differences:
                    out.append(f"    {diff.what}:")
                    out.extend("    " + line for line in diff.lines)
    out += ["", f"{'Totals':<20}{'A':>12} {'B':>12} {'delta':>12}"]
    for k, (va, vb) in d.totals.items():
        out.append(f"{k:<20}{_num(va):>12} {_num(vb):>12} {_num(vb - va, signed=True):>12}")
    return "\n".join(out) + "\n"


def _num(v: float, signed: bool = False) -> str:
    text = f"{v:.3f}".rstrip("0").rstrip(".") if isinstance(v, float) and not v.is_integer() else str(int(v))
    return ("+" + text) if signed and v > 0 else text


def format_html(d: RunDiff, name_a: str, name_b: str) -> str:
    """The same report as a self-contained HTML page (changed lines coloured)."""
    rows = []
    for line in format_text(d, name_a, name_b).splitlines():
        stripped = line.lstrip()
        cls = "add" if stripped.startswith("+") else "del" if stripped.startswith("-") else ""
        if line.startswith(("First divergence", "Other differences", "Totals")):
            cls = "head"
        rows.append(f'<span class="{cls}">{html.escape(line)}</span>')
    body = "\n".join(rows)
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">"
        f"<title>nemo-flow diff: {html.escape(name_a)} vs {html.escape(name_b)}</title><style>"
        "body{font:13px/1.45 ui-monospace,monospace;margin:16px;background:#fbfbfc;color:#1d2330}"
        "pre{white-space:pre-wrap}.add{background:#e6ffec;color:#116329}.del{background:#ffebe9;color:#a40e26}"
        ".head{font-weight:700}</style></head><body><pre>"
        f"{body}</pre></body></html>\n"
    )
