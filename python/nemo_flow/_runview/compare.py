"""JSON helpers shared by diff and replay: canonical text, stable hashes, and where two values
differ (as ``$.a[0].b`` paths)."""

from __future__ import annotations

import hashlib
import json
from difflib import SequenceMatcher
from typing import Any

CREDENTIAL_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "x-api-key", "api-key", "cookie", "set-cookie", "openai-organization"}
)
REDACTED = "[redacted]"


def canonical(value: Any) -> str:
    """Key-sorted, compact JSON text; equal values give equal text."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=repr)


def stable_hash(*parts: Any) -> str:
    """A short hex digest of the canonical text of ``parts`` (the same in every process)."""
    return hashlib.sha256(canonical(list(parts)).encode()).hexdigest()[:16]


def changed_paths(a: Any, b: Any, path: str = "$", limit: int = 50) -> list[str]:
    """Paths at which ``a`` and ``b`` differ, outermost first, at most ``limit`` of them."""
    out: list[str] = []
    _walk(a, b, path, out, limit)
    return out


def _walk(a: Any, b: Any, path: str, out: list[str], limit: int) -> None:
    if len(out) >= limit:
        return
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b), key=str):
            sub = f"{path}.{k}"
            if k not in a or k not in b:
                out.append(sub)
            else:
                _walk(a[k], b[k], sub, out, limit)
        return
    if isinstance(a, list) and isinstance(b, list):
        for i in range(max(len(a), len(b))):
            sub = f"{path}[{i}]"
            if i >= len(a) or i >= len(b):
                out.append(sub)
            else:
                _walk(a[i], b[i], sub, out, limit)
        return
    if a != b or type(a) is not type(b):
        out.append(path)


def similarity(a: Any, b: Any) -> float:
    """0..1, how alike the canonical texts of two values are (bounded cost)."""
    ta, tb = canonical(a)[:4000], canonical(b)[:4000]
    return SequenceMatcher(None, ta, tb, autojunk=False).ratio()


def mask_credentials(value: Any) -> Any:
    """An LLM request's ``headers`` with credential values replaced; other values unchanged."""
    if isinstance(value, dict) and isinstance(value.get("headers"), dict):
        headers = {k: (REDACTED if str(k).lower() in CREDENTIAL_HEADERS else v) for k, v in value["headers"].items()}
        return {**value, "headers": headers}
    return value


def short(value: Any, width: int = 160) -> str:
    """One-line JSON preview, cut to ``width`` characters."""
    text = canonical(value)
    return text if len(text) <= width else text[: width - 1] + "…"
