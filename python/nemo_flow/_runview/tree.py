"""Call trees: start and end events paired by uuid, nested by parent, grouped into runs by
``root_uuid``. Marks become leaf nodes (kind ``mark``); ``llm.chunk`` marks are counted on
their LLM call instead of cluttering the tree."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from .atof import Event, Problem

CHUNK_MARK = "llm.chunk"
STREAM_RECORD_MARK = "nemo_flow.replay.stream"
TOKEN_KEYS = ("prompt_tokens", "completion_tokens", "total_tokens", "cache_read_tokens", "cache_write_tokens")


@dataclass
class Call:
    """One scope, tool call, LLM call, guardrail or mark."""

    uuid: str
    name: str
    kind: str
    parent_uuid: str | None
    root_uuid: str | None
    start_ns: int
    end_ns: int | None = None
    input: Any = None
    output: Any = None
    error: dict[str, Any] | None = None
    metadata: Any = None
    attributes: list[str] = field(default_factory=list)
    start_profile: dict[str, Any] | None = None
    end_profile: dict[str, Any] | None = None
    children: list[Call] = field(default_factory=list, repr=False)
    parent_obj: Call | None = field(default=None, repr=False, compare=False)
    chunks: int = 0
    chunk_usage: dict[str, Any] | None = None
    recorded_chunks: list[Any] | None = None
    line: int = 0

    @property
    def failed(self) -> bool:
        return self.error is not None or self.rejected

    @property
    def rejected(self) -> bool:
        """A guardrail scope that rejected, or the mark a rejected call leaves."""
        d = self.output if self.kind == "guardrail" else self.input
        return isinstance(d, dict) and d.get("rejected") is True

    @property
    def duration_ns(self) -> int | None:
        return None if self.end_ns is None else self.end_ns - self.start_ns

    @property
    def model(self) -> str | None:
        for prof in (self.start_profile, self.end_profile):
            if prof and isinstance(prof.get("model_name"), str):
                return str(prof["model_name"])
        req = self.request_content
        if isinstance(req, dict) and isinstance(req.get("model"), str):
            return str(req["model"])
        return None

    @property
    def request_content(self) -> Any:
        """An LLM call's request body (``input.content``); a tool call's arguments."""
        if self.kind == "llm" and isinstance(self.input, dict) and "content" in self.input:
            return self.input["content"]
        return self.input

    @property
    def usage(self) -> dict[str, int]:
        """Token usage in the annotated-response vocabulary; empty when none was recorded."""
        ann = (self.end_profile or {}).get("annotated_response")
        if isinstance(ann, dict) and isinstance(ann.get("usage"), dict):
            return _ints(ann["usage"])
        out = self.output.get("usage") if isinstance(self.output, dict) else None
        if isinstance(out, dict):
            return provider_usage(out)
        if self.chunk_usage:
            return _ints(self.chunk_usage)
        return {}

    def walk(self) -> Iterable[Call]:
        """This call and all its descendants, depth first in start order."""
        stack = [self]
        while stack:
            c = stack.pop()
            yield c
            stack.extend(reversed(c.children))


def _ints(d: dict[str, Any]) -> dict[str, int]:
    return {k: int(v) for k, v in d.items() if k in TOKEN_KEYS and isinstance(v, int) and not isinstance(v, bool)}


def provider_usage(u: dict[str, Any]) -> dict[str, int]:
    """OpenAI (chat and responses) or Anthropic usage objects, in one vocabulary."""
    out: dict[str, int] = {}
    prompt = u.get("prompt_tokens", u.get("input_tokens"))
    completion = u.get("completion_tokens", u.get("output_tokens"))
    if isinstance(prompt, int):
        out["prompt_tokens"] = prompt
    if isinstance(completion, int):
        out["completion_tokens"] = completion
    total = u.get("total_tokens")
    if isinstance(total, int):
        out["total_tokens"] = total
    elif "prompt_tokens" in out and "completion_tokens" in out:
        out["total_tokens"] = out["prompt_tokens"] + out["completion_tokens"]
    details = u.get("prompt_tokens_details") or u.get("input_tokens_details") or {}
    cached = details.get("cached_tokens") if isinstance(details, dict) else None
    cached = u.get("cache_read_input_tokens", cached)
    if isinstance(cached, int):
        out["cache_read_tokens"] = cached
    if isinstance(u.get("cache_creation_input_tokens"), int):
        out["cache_write_tokens"] = u["cache_creation_input_tokens"]
    return out


@dataclass
class Run:
    """The calls of one logical run (one ``root_uuid``), top-level calls first."""

    root_uuid: str
    roots: list[Call]
    source: str = ""

    @property
    def start_ns(self) -> int:
        return min((c.start_ns for c in self.roots), default=0)

    @property
    def end_ns(self) -> int:
        return max((c.end_ns or c.start_ns for c in self.calls()), default=0)

    @property
    def name(self) -> str:
        return self.roots[0].name if self.roots else "(empty)"

    def calls(self) -> Iterable[Call]:
        for r in self.roots:
            yield from r.walk()


def build_runs(events: list[Event], source: str = "") -> tuple[list[Run], list[Problem]]:
    """Pair, nest and group ``events``. Problems: an end without a start, a duplicate start.
    A call whose end never came stays open (``end_ns`` None) and is kept."""
    problems: list[Problem] = []
    calls: dict[str, Call] = {}
    order: list[Call] = []
    chunk_marks: list[Event] = []
    stream_records: list[Event] = []
    for e in events:
        if e.phase == "start":
            if e.uuid in calls:
                problems.append(Problem(source, e.line, f"second start event for uuid {e.uuid} ({e.name!r}); ignored"))
                continue
            c = _new_call(e, e.category or "scope")
            c.input = e.data
            c.start_profile = e.profile
            calls[e.uuid] = c
            order.append(c)
        elif e.phase == "end":
            found = calls.get(e.uuid)
            if found is not None:
                c = found
            else:
                problems.append(Problem(source, e.line, f"end event for {e.name!r} has no start event (uuid {e.uuid})"))
                c = _new_call(e, e.category or "scope")
                calls[e.uuid] = c
                order.append(c)
            c.end_ns = e.time_ns
            c.output = e.data
            c.error = e.error
            c.end_profile = e.profile
            if e.metadata is not None:
                c.metadata = e.metadata
        elif e.name == CHUNK_MARK:
            chunk_marks.append(e)
        elif e.name == STREAM_RECORD_MARK:
            stream_records.append(e)
        else:
            c = _new_call(e, "mark")
            c.input = e.data
            c.end_ns = e.time_ns
            calls.setdefault(e.uuid, c)
            order.append(c)
    for m in chunk_marks:
        owner = calls.get(m.parent_uuid or "")
        if owner is not None:
            owner.chunks += 1
            usage = m.data.get("usage") if isinstance(m.data, dict) else None
            if isinstance(usage, dict):
                owner.chunk_usage = usage
    for m in stream_records:
        data = m.data if isinstance(m.data, dict) else {}
        owner = calls.get(str(data.get("llm_uuid")))
        if owner is not None and isinstance(data.get("chunks"), list):
            owner.recorded_chunks = data["chunks"]
    return _group(order, calls, source), problems


def _new_call(e: Event, kind: str) -> Call:
    return Call(
        uuid=e.uuid,
        name=e.name,
        kind=kind,
        parent_uuid=e.parent_uuid,
        root_uuid=e.root_uuid,
        start_ns=e.time_ns,
        metadata=e.metadata,
        attributes=list(e.attributes),
        line=e.line,
    )


def _group(order: list[Call], calls: dict[str, Call], source: str) -> list[Run]:
    runs: dict[str, Run] = {}
    for c in order:
        parent = calls.get(c.parent_uuid or "")
        if parent is not None and parent is not c:
            parent.children.append(c)
            c.parent_obj = parent
            continue
        # A top-level call: its root is the event's root_uuid, or else the parent that never
        # appears in the stream (the implicit root scope emits no events).
        root = c.root_uuid or c.parent_uuid or c.uuid
        run = runs.get(root)
        if run is None:
            run = runs[root] = Run(root, [], source)
        run.roots.append(c)
    for c in order:
        c.children.sort(key=lambda x: x.start_ns)
    for run in runs.values():
        run.roots.sort(key=lambda x: x.start_ns)
    return sorted(runs.values(), key=lambda r: r.start_ns)


def load(path: str, progress: Any = None) -> tuple[list[Run], list[Problem]]:
    """Read and build the runs of one ATOF file."""
    from .atof import read_file

    events, problems = read_file(path, progress)
    runs, more = build_runs(events, path)
    return runs, problems + more
