"""Reading ATOF JSONL files: one event per line, checked line by line. A bad line is reported
with its number and what is wrong with it; every good line is still used."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

Progress = Callable[[int, int], None]
"""``progress(bytes_read, total_bytes)``, called every few hundred KiB while reading."""

_REQUIRED = ("kind", "uuid", "name", "timestamp")
_PROGRESS_STEP = 1 << 18


@dataclass(frozen=True)
class Problem:
    """One line that could not be used (or was used only in part)."""

    source: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.source}:{self.line}: {self.message}"


@dataclass
class Event:
    """The fields of one ATOF event the views use, with its time in integer nanoseconds."""

    kind: str  # "scope" | "mark"
    phase: str  # "start" | "end" | "mark"
    uuid: str
    parent_uuid: str | None
    root_uuid: str | None
    name: str
    category: str | None
    time_ns: int
    data: Any
    metadata: Any
    profile: dict[str, Any] | None
    attributes: list[str]
    error: dict[str, Any] | None
    line: int


_TS = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|z|[+-]\d\d:\d\d)$")
_SECONDS: dict[str, int] = {}  # "YYYY-MM-DDTHH:MM:SS" -> epoch seconds (UTC); runs share few


def parse_timestamp(value: Any) -> int:
    """RFC 3339 text with up to nanosecond precision, or integer epoch microseconds -> epoch ns."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(f"timestamp: expected RFC 3339 text or integer microseconds, got {type(value).__name__}")
    if isinstance(value, int):
        return value * 1000
    m = _TS.match(value.strip())
    if m is None:
        raise ValueError(f"timestamp: not RFC 3339 with a UTC offset: {value!r}")
    whole, frac, offset = m.groups()
    secs = _SECONDS.get(whole)
    if secs is None:
        try:
            secs = int(datetime.fromisoformat(whole + "+00:00").timestamp())
        except ValueError:
            raise ValueError(f"timestamp: not a valid date and time: {value!r}") from None
        if len(_SECONDS) < 100_000:
            _SECONDS[whole] = secs
    if offset not in ("Z", "z"):
        shift = int(offset[1:3]) * 3600 + int(offset[4:6]) * 60
        secs -= shift if offset[0] == "+" else -shift
    return secs * 1_000_000_000 + (int(frac.ljust(9, "0")) if frac else 0)


def parse_event(obj: Any, line: int) -> Event:
    """Validate one decoded line; raise ValueError saying what is wrong."""
    if not isinstance(obj, dict):
        raise ValueError(f"expected a JSON object (an ATOF event), got {type(obj).__name__}")
    missing = [k for k in _REQUIRED if k not in obj]
    if missing:
        raise ValueError(f"not an ATOF event: missing {', '.join(missing)}")
    kind = obj["kind"]
    if kind == "scope":
        phase = obj.get("scope_category")
        if phase not in ("start", "end"):
            raise ValueError(f"scope event: scope_category must be 'start' or 'end', got {phase!r}")
    elif kind == "mark":
        phase = "mark"
    else:
        raise ValueError(f"kind must be 'scope' or 'mark', got {kind!r}")
    for key in ("uuid", "name"):
        if not isinstance(obj[key], str):
            raise ValueError(f"{key}: expected a string, got {type(obj[key]).__name__}")
    profile = obj.get("category_profile")
    error = obj.get("error")
    attributes = obj.get("attributes") or []
    return Event(
        kind=kind,
        phase=phase,
        uuid=obj["uuid"],
        parent_uuid=_opt_str(obj.get("parent_uuid")),
        root_uuid=_opt_str(obj.get("root_uuid")),
        name=obj["name"],
        category=_opt_str(obj.get("category")),
        time_ns=parse_timestamp(obj["timestamp"]),
        data=obj.get("data"),
        metadata=obj.get("metadata"),
        profile=profile if isinstance(profile, dict) else None,
        attributes=[a for a in attributes if isinstance(a, str)] if isinstance(attributes, list) else [],
        error=error if isinstance(error, dict) else None,
        line=line,
    )


def _opt_str(v: Any) -> str | None:
    return v if isinstance(v, str) else None


def parse_lines(lines: Iterable[str], source: str) -> tuple[list[Event], list[Problem]]:
    """Parse JSONL text lines (numbered from 1); blank lines are skipped."""
    events: list[Event] = []
    problems: list[Problem] = []
    for n, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
        except ValueError as exc:
            what = "truncated JSON (the file ends mid-event)" if _looks_truncated(raw) else "invalid JSON"
            problems.append(Problem(source, n, f"{what}: {exc}"))
            continue
        try:
            events.append(parse_event(obj, n))
        except ValueError as exc:
            problems.append(Problem(source, n, str(exc)))
    return events, problems


def _looks_truncated(raw: str) -> bool:
    text = raw.strip()
    return text.startswith("{") and not text.endswith("}")


def read_file(path: str | Path, progress: Progress | None = None) -> tuple[list[Event], list[Problem]]:
    """Read an ATOF JSONL file. Raises OSError if it cannot be read at all; a file with no
    usable line is reported through the problems, not raised."""
    p = Path(path)
    total = p.stat().st_size
    source = str(path)

    def lines() -> Iterable[str]:
        done = next_report = 0
        with p.open("r", encoding="utf-8", errors="replace") as fh:
            for raw in fh:
                done += len(raw)
                if progress is not None and done >= next_report:
                    progress(done, total)
                    next_report = done + _PROGRESS_STEP
                yield raw
        if progress is not None:
            progress(total, total)

    events, problems = parse_lines(lines(), source)
    if not events and not problems and total:
        problems.append(Problem(source, 1, "no ATOF events in the file"))
    return events, problems
