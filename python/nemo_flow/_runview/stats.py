"""Per tool and per model figures for ``nemo-flow stats``: counts, failures, latency
percentiles and tokens."""

from __future__ import annotations

import math
from typing import Any

from .tree import TOKEN_KEYS, Run

PERCENTILES = (50, 90, 99)


def percentile(sorted_values: list[float], p: float) -> float:
    """Nearest-rank percentile of an ascending list (0.0 for an empty one)."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def compute(runs: list[Run]) -> dict[str, Any]:
    """``{"tools": {name: row}, "models": {model: row}, "totals": {...}}``; latencies in ms."""
    tools: dict[str, dict[str, Any]] = {}
    models: dict[str, dict[str, Any]] = {}
    calls = errors = 0
    tokens = dict.fromkeys(TOKEN_KEYS, 0)
    for run in runs:
        for c in run.calls():
            if c.kind not in ("tool", "llm"):
                continue
            calls += 1
            errors += c.failed
            table, key = (tools, c.name) if c.kind == "tool" else (models, c.model or f"({c.name})")
            row = table.setdefault(key, {"count": 0, "errors": 0, "open": 0, "_lat": []})
            row["count"] += 1
            row["errors"] += int(c.failed)
            if c.duration_ns is None:
                row["open"] += 1
            else:
                row["_lat"].append(c.duration_ns / 1e6)
            if c.kind == "llm":
                for k, v in c.usage.items():
                    row[k] = row.get(k, 0) + v
                    tokens[k] += v
    for table in (tools, models):
        for row in table.values():
            lat = sorted(row.pop("_lat"))
            for p in PERCENTILES:
                row[f"p{p}_ms"] = round(percentile(lat, p), 3)
            row["max_ms"] = round(lat[-1], 3) if lat else 0.0
    return {
        "tools": dict(sorted(tools.items())),
        "models": dict(sorted(models.items())),
        "totals": {"runs": len(runs), "calls": calls, "errors": errors, **tokens},
    }


def format_text(stats: dict[str, Any]) -> str:
    """Aligned plain-text tables."""
    out: list[str] = []
    lat_cols = [f"p{p}_ms" for p in PERCENTILES] + ["max_ms"]
    sections: tuple[tuple[str, str, list[str]], ...] = (
        ("tools", "tool", ["count", "errors", *lat_cols]),
        ("models", "model", ["count", "errors", *lat_cols, "prompt_tokens", "completion_tokens", "cache_read_tokens"]),
    )
    for key, label, cols in sections:
        table = stats[key]
        if not table:
            out.append(f"no {label} calls\n")
            continue
        head = [label, *cols]
        rows = [[name, *(_fmt(row.get(c, 0)) for c in cols)] for name, row in table.items()]
        widths = [max(len(str(r[i])) for r in [head, *rows]) for i in range(len(head))]
        for r in [head, *rows]:
            cells = [str(v).rjust(w) for v, w in zip(r, widths, strict=True)]
            cells[0] = str(r[0]).ljust(widths[0])
            out.append("  ".join(cells))
        out.append("")
    t = stats["totals"]
    out.append(
        f"{t['runs']} run(s), {t['calls']} tool/LLM calls, {t['errors']} failed, "
        f"{t['total_tokens']} tokens ({t['prompt_tokens']} prompt, {t['completion_tokens']} completion, "
        f"{t['cache_read_tokens']} cache read, {t['cache_write_tokens']} cache write)"
    )
    return "\n".join(out) + "\n"


def _fmt(v: Any) -> str:
    return f"{v:.3f}" if isinstance(v, float) else str(v)
