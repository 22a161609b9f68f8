"""Record a run and replay it offline.

``record(path)`` writes every event of the run to an ATOF file (payloads as the sanitize
guardrails left them) plus, for each stream, the chunks it delivered. ``replay(path)`` then
answers managed tool and LLM calls from that file instead of calling the real callable.

Replay is ordinary middleware: an execution intercept (and a stream execution intercept)
registered innermost, so guardrails, request intercepts, your own execution intercepts and
every event still run; only the callable itself is skipped. A call matches a recorded one when
its kind, name and sanitized request (tool arguments; LLM request body, headers excluded) are
equal: the same text the start event records. Identical requests made several times are
answered in recorded order.

Record a tool call once, then answer it from the file without running the tool:

    >>> import tempfile
    >>> from pathlib import Path
    >>> from nemo_flow import replay, tools
    >>> path = Path(tempfile.mkdtemp()) / "run.atof.jsonl"
    >>> with replay.record(path) as recording:
    ...     tools.execute_sync("weather", {"city": "Paris"}, lambda args: {"temp_c": 21})
    {'temp_c': 21}
    >>> recording.active
    False
    >>> def offline(args):
    ...     raise ConnectionError("the real tool is not reachable")
    >>> with replay.replay(path) as session:
    ...     tools.execute_sync("weather", {"city": "Paris"}, offline)
    {'temp_c': 21}
    >>> session.replayed, session.unused()
    (1, [])
"""

from __future__ import annotations

import atexit
import builtins
import logging
import os
from collections import deque
from collections.abc import AsyncIterator, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

from . import _native
from ._runview.compare import canonical, changed_paths, short, similarity, stable_hash
from ._runview.tree import STREAM_RECORD_MARK, Call, load

__all__ = [
    "RecordedError",
    "Recording",
    "Replay",
    "ReplayMismatch",
    "record",
    "replay",
]

_log = logging.getLogger("nemo_flow")

REPLAY_ENV = "NEMO_FLOW_REPLAY"
"""Environment variable naming a recorded run: ``import nemo_flow`` then replays it."""
REPLAY_MODE_ENV = "NEMO_FLOW_REPLAY_MODE"
"""``strict`` (default) or ``lenient``, for :data:`REPLAY_ENV`."""
RECORD_ENV = "NEMO_FLOW_RECORD"
"""Environment variable naming a file: ``import nemo_flow`` then records the run into it."""

# Innermost: every user execution intercept (priority below this) wraps the replayed call.
_PRIORITY = 2**31 - 1
_RECORD_NAME = "nemo_flow.record"
_REPLAY_NAME = "nemo_flow.replay"
_OUTCOME_ATTR = "_nemo_flow_call_outcome"  # read by _drive: the exception is the call's own outcome
_TRACK_DEPTH = 64
_NOT_RECORDED = "[not recorded: "

Mode = Literal["strict", "lenient"]


class ReplayMismatch(LookupError):
    """Strict replay met a call that matches no recorded one (or more repeats than recorded)."""


class RecordedError(Exception):
    """Stands in for a recorded failure whose exception type is not a Python built-in."""

    def __init__(self, type_name: str, message: str) -> None:
        super().__init__(f"{type_name}: {message}")
        self.type_name = type_name
        self.message = message


# --- which managed call is running ------------------------------------------------------------

_Started = tuple[str, str, Any]  # (uuid, name, start event): the event's data is read only on a match
_started: ContextVar[tuple[_Started, ...]] = ContextVar("nemo_flow_replay_started", default=())


def _track(event: Any) -> None:
    """Subscriber: remember, per context, the start events of the scopes and calls now running.

    Subscribers run synchronously in the emitting context (DESIGN 6), and a call's start event
    is emitted before its execution intercepts run, so an intercept finds its own call's
    sanitized request here: exactly what the recorded start event holds. Only cheap fields are
    read per event; the payload is converted for the one event a replayed call asks for.
    """
    if event.kind != "scope":
        return
    stack = _started.get()
    if event.scope_category == "start":
        _started.set((*stack[-_TRACK_DEPTH:], (event.uuid, event.name, event)))
    elif stack:
        uuid = event.uuid
        if stack[-1][0] == uuid:
            _started.set(stack[:-1])
        else:
            _started.set(tuple(s for s in stack if s[0] != uuid))


def _current(name: str | None) -> _Started | None:
    """The innermost running call named ``name`` (any LLM call when ``name`` is None)."""
    for s in reversed(_started.get()):
        if s[1] == name if name is not None else s[2].category == "llm":
            return s
    return None


def request_of(kind: str, start_data: Any) -> Any:
    """The part of a start event's data that identifies the request."""
    if kind == "llm" and isinstance(start_data, dict) and "content" in start_data:
        return start_data["content"]
    return start_data


def match_key(kind: str, name: str, request: Any) -> str:
    """What recorded and live calls are matched by: kind, name and the canonical request text
    (see :func:`request_hash` for a short stable digest of it)."""
    return f"{kind}\0{name}\0{canonical(request)}"


def request_hash(kind: str, name: str, request: Any) -> str:
    """A short digest of :func:`match_key`, the same in every process (for reports)."""
    return stable_hash(kind, name, request)


# --- recording ---------------------------------------------------------------------------------


class Recording:
    """An active recording; stop it with :meth:`stop` or by leaving its ``with`` block."""

    def __init__(self, path: str | os.PathLike[str], *, stream_chunks: bool = True) -> None:
        if not isinstance(path, str | os.PathLike):
            raise TypeError(f"path: expected a file path, got {type(path).__name__}")
        p = Path(path).resolve()
        self.path = str(p)
        self._stream_chunks = stream_chunks
        config = _native.AtofExporterConfig(
            output_directory=str(p.parent),
            filename=p.name,
            mode=_native.AtofExporterMode.Overwrite,
            queue_capacity=1 << 16,
        )
        self._exporter = _native.AtofExporter(config)
        self._registered: list[tuple[Any, str]] = []
        try:
            if stream_chunks:  # a stream's chunks are recorded against its LLM call's uuid
                self._register("subscriber", _track, f"{_RECORD_NAME}.calls")
                self._register("llm_stream_execution", _tap_stream, _RECORD_NAME)
            self._exporter.register(_RECORD_NAME)
        except BaseException:
            self._undo()
            self._exporter.shutdown()
            raise
        self.active = True

    def _register(self, family: Any, fn: Any, name: str) -> None:
        _native.register(family, None, name, _PRIORITY, False, fn)
        self._registered.append((family, name))

    def _undo(self) -> None:
        for family, name in reversed(self._registered):
            _native.deregister(family, None, name)
        self._registered.clear()

    def stop(self, timeout: float = 10.0) -> bool:
        """Stop recording and write out everything recorded; return whether nothing was lost."""
        if not self.active:
            return True
        self.active = False
        self._undo()
        self._exporter.deregister(_RECORD_NAME)
        complete: bool = self._exporter.shutdown(timeout_millis=int(timeout * 1000))
        dropped = self._exporter.dropped_events
        if dropped:
            _log.warning("nemo_flow: recording %s lost %d events (queue full)", self.path, dropped)
        return complete and not dropped

    def __enter__(self) -> Recording:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()


def record(path: str | os.PathLike[str], *, stream_chunks: bool = True) -> Recording:
    """Start recording the run into ``path`` (an ATOF JSONL file, overwritten).

    Use as ``with record(path): ...`` or call ``.stop()`` on the result. With
    ``stream_chunks`` the chunks of every managed stream are recorded too (as a
    ``nemo_flow.replay.stream`` mark) so replay can deliver them. Chunks are recorded as the
    provider sent them: sanitize-response guardrails only see a stream's finalized response,
    so turn chunks off if those guardrails redact response content.
    """
    return Recording(path, stream_chunks=stream_chunks)


def _tap_stream(request: Any, nxt: Any) -> Any:
    started = _current(None)
    upstream = nxt(request)
    uuid = started[0] if started else None
    if hasattr(upstream, "__await__"):

        async def opened() -> Any:
            return _ChunkTap(await upstream, uuid)

        return opened()
    return _ChunkTap(upstream, uuid)


class _ChunkTap:
    """Passes a stream's chunks through and, once it ends, records them in one mark."""

    def __init__(self, upstream: Any, llm_uuid: str | None) -> None:
        self._upstream = upstream
        self._it: Any = None
        self._uuid = llm_uuid
        self._chunks: list[Any] = []
        self._written = False

    def __aiter__(self) -> _ChunkTap:
        self._it = self._upstream.__aiter__()
        return self

    async def __anext__(self) -> Any:
        try:
            chunk = await self._it.__anext__()
        except BaseException:
            self._write()
            raise
        self._chunks.append(chunk)
        return chunk

    async def aclose(self) -> None:
        self._write()
        close = getattr(self._it, "aclose", None)
        if close is not None:
            await close()

    def __iter__(self) -> _ChunkTap:
        self._it = iter(self._upstream)
        return self

    def __next__(self) -> Any:
        try:
            chunk = next(self._it)
        except BaseException:
            self._write()
            raise
        self._chunks.append(chunk)
        return chunk

    def close(self) -> None:
        self._write()
        close = getattr(self._it, "close", None)
        if close is not None:
            close()

    def _write(self) -> None:
        if self._written or self._uuid is None:
            return
        self._written = True
        try:
            _native.event(STREAM_RECORD_MARK, data={"llm_uuid": self._uuid, "chunks": self._chunks})
        except (TypeError, ValueError) as exc:
            note = f"chunks not recorded: {type(exc).__name__}: {exc}"
            _native.event(STREAM_RECORD_MARK, data={"llm_uuid": self._uuid, "chunks": None, "note": note})


# --- replaying ---------------------------------------------------------------------------------


@dataclass
class Recorded:
    """One recorded tool or LLM call."""

    kind: str
    name: str
    request: Any
    output: Any
    error: dict[str, Any] | None
    streaming: bool
    chunks: list[Any] | None
    line: int

    def describe(self) -> str:
        """One line naming the call, its recorded line and (shortened) request, for messages."""
        what = "arguments" if self.kind == "tool" else "request"
        return f"{self.kind} {self.name!r} (line {self.line}) with {what} {short(self.request)}"

    def outcome(self) -> Any:
        """The recorded result, or the recorded failure raised again."""
        if self.error is None:
            return self.output
        raise _rebuild(self.error)


def _rebuild(error: dict[str, Any]) -> BaseException:
    type_name = str(error.get("type", "Exception"))
    message = str(error.get("message", ""))
    cls = getattr(builtins, type_name, None)
    exc: BaseException
    if isinstance(cls, type) and issubclass(cls, Exception):
        try:
            exc = cls(message)
        except Exception:
            exc = RecordedError(type_name, message)
    else:
        exc = RecordedError(type_name, message)
    setattr(exc, _OUTCOME_ATTR, True)
    return exc


class _Index:
    """Recorded calls by match key, each key's calls in recorded order."""

    def __init__(self, calls: list[Recorded]) -> None:
        self.all = calls
        self.by_key: dict[str, deque[Recorded]] = {}
        self.counts: dict[str, int] = {}
        for c in calls:
            key = match_key(c.kind, c.name, c.request)
            self.by_key.setdefault(key, deque()).append(c)
            self.counts[key] = self.counts.get(key, 0) + 1

    def closest(self, kind: str, name: str, request: Any) -> Recorded | None:
        same_kind = [c for c in self.all if c.kind == kind]
        named = [c for c in same_kind if c.name == name] or same_kind
        if not named:
            return None
        return max(named[:200], key=lambda c: similarity(c.request, request))


def _recorded_calls(path: str) -> list[Recorded]:
    runs, problems = load(path)
    for p in problems:
        _log.warning("nemo_flow: replay %s", p)
    calls: list[Call] = sorted(
        (c for run in runs for c in run.calls() if c.kind in ("tool", "llm") and c.end_ns is not None),
        key=lambda c: (c.start_ns, c.line),
    )
    return [
        Recorded(
            kind=c.kind,
            name=c.name,
            request=request_of(c.kind, c.input),
            output=c.output,
            error=c.error,
            streaming="streaming" in c.attributes,
            chunks=c.recorded_chunks,
            line=c.line,
        )
        for c in calls
    ]


class Replay:
    """An active replay; stop it with :meth:`stop` or by leaving its ``with`` block.

    ``replayed`` counts calls answered from the recording, ``called_through`` calls that
    (in lenient mode) ran for real; :meth:`unused` lists recorded calls never asked for.
    """

    def __init__(self, path: str | os.PathLike[str], mode: Mode = "strict") -> None:
        if not isinstance(path, str | os.PathLike):
            raise TypeError(f"path: expected a recorded ATOF file path, got {type(path).__name__}")
        if mode not in ("strict", "lenient"):
            raise ValueError(f"mode: expected 'strict' or 'lenient', got {mode!r}")
        self.path = os.fspath(path)
        self.mode: Mode = mode
        self._index = _Index(_recorded_calls(self.path))  # OSError for a missing file, before registering
        self.replayed = 0
        self.called_through = 0
        self._registered: list[tuple[Any, str]] = []
        try:
            entries: tuple[tuple[Any, Any, str], ...] = (
                ("subscriber", _track, f"{_REPLAY_NAME}.calls"),
                ("tool_execution", self._tool, _REPLAY_NAME),
                ("llm_execution", self._llm, _REPLAY_NAME),
                ("llm_stream_execution", self._stream, _REPLAY_NAME),
            )
            for family, fn, name in entries:
                _native.register(family, None, name, _PRIORITY, False, fn)
                self._registered.append((family, name))
        except BaseException:
            self.stop()
            raise
        self.active = True

    def stop(self) -> None:
        """Stop replaying: calls run for real again."""
        self.active = False
        for family, name in reversed(self._registered):
            _native.deregister(family, None, name)
        self._registered.clear()

    def unused(self) -> list[Recorded]:
        """Recorded calls that no call has consumed."""
        return sorted((c for q in self._index.by_key.values() for c in q), key=lambda c: c.line)

    def __enter__(self) -> Replay:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    def _take(self, kind: str, name: str, live_request: Any) -> Recorded | None:
        started = _current(name)
        request = request_of(kind, started[2].data) if started is not None else live_request
        key = match_key(kind, name, request)
        queue = self._index.by_key.get(key)
        if queue:
            self.replayed += 1
            return queue.popleft()
        if self.mode == "lenient":
            self.called_through += 1
            return None
        raise ReplayMismatch(self._explain(kind, name, request, key))

    def _explain(self, kind: str, name: str, request: Any, key: str) -> str:
        what = "arguments" if kind == "tool" else "request"
        digest = request_hash(kind, name, request)
        head = f"replay ({self.path}): {kind} call {name!r} with {what} {short(request)} (request {digest})"
        seen = self._index.counts.get(key, 0)
        if seen:
            return f"{head} was recorded {seen} time(s) and every recorded answer is used up"
        near = self._index.closest(kind, name, request)
        if near is None:
            return f"{head} matches no recorded call: the recording has no {kind} calls"
        paths = changed_paths(near.request, request, limit=5) if near.name == name else []
        where = f"; differs at {', '.join(paths)}" if paths else ""
        return f"{head} matches no recorded call; closest recorded: {near.describe()}{where}"

    def _tool(self, name: str, args: Any, nxt: Any) -> Any:
        hit = self._take("tool", name, args)
        return nxt(args) if hit is None else self._answer(hit, nxt, args)

    def _llm(self, name: str, request: Any, nxt: Any) -> Any:
        hit = self._take("llm", name, _content(request))
        return nxt(request) if hit is None else self._answer(hit, nxt, request)

    def _answer(self, hit: Recorded, nxt: Any, value: Any) -> Any:
        # The runtime records a result JSON cannot hold as a "[not recorded: ...]" note.
        if hit.error is None and isinstance(hit.output, str) and hit.output.startswith(_NOT_RECORDED):
            if self.mode == "lenient":
                self.replayed -= 1
                self.called_through += 1
                return nxt(value)
            raise ReplayMismatch(f"replay ({self.path}): {hit.describe()} matched, but its result was not recorded")
        return hit.outcome()

    def _stream(self, request: Any, nxt: Any) -> Any:
        started = _current(None)
        name = started[1] if started is not None else ""
        hit = self._take("llm", name, _content(request))
        if hit is None:
            return nxt(request)
        if hit.error is not None and hit.chunks is None:
            return hit.outcome()
        if hit.chunks is None:
            if self.mode == "lenient":
                self.called_through += 1
                return nxt(request)
            raise ReplayMismatch(f"replay ({self.path}): stream {hit.describe()} was recorded without its chunks")
        return _RecordedChunks(hit)


def _content(request: Any) -> Any:
    return getattr(request, "content", request)


class _RecordedChunks:
    """A recorded stream, iterable both synchronously and asynchronously."""

    def __init__(self, hit: Recorded) -> None:
        self._hit = hit
        self._chunks = list(hit.chunks or ())

    def _gen(self) -> Iterator[Any]:
        yield from self._chunks
        if self._hit.error is not None:
            self._hit.outcome()

    def __iter__(self) -> Iterator[Any]:
        return self._gen()

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._agen()

    async def _agen(self) -> AsyncIterator[Any]:
        for chunk in self._gen():
            yield chunk


def replay(path: str | os.PathLike[str], mode: Mode = "strict") -> Replay:
    """Answer managed tool and LLM calls from the run recorded in ``path``.

    ``strict``: a call with no matching recorded call raises :class:`ReplayMismatch` (reaching
    the caller as the ``__cause__`` of a ``MiddlewareError``), naming the call and the closest
    recorded one. ``lenient``: such a call runs for real. A recorded failure is raised again
    (built-in exception types as themselves, others as :class:`RecordedError`). Use as
    ``with replay(path): ...`` or call ``.stop()`` on the result.
    """
    return Replay(path, mode)


def _from_environment() -> Recording | Replay | None:
    """Activate a replay or recording requested through the environment (``nemo-flow replay``)."""
    target = os.environ.get(REPLAY_ENV)
    if target:
        mode = os.environ.get(REPLAY_MODE_ENV, "strict")
        return replay(target, "lenient" if mode == "lenient" else "strict")
    target = os.environ.get(RECORD_ENV)
    if target:
        rec = record(target)
        atexit.register(rec.stop)
        return rec
    return None
