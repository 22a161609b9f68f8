"""An async stream of lifecycle events, for UIs and runtimes that consume events as they happen.

::

    async with nemo_flow.events.stream(root=handle, kinds={"llm", "tool"}) as events:
        async for event in events:
            ...

The stream is a subscriber: the emitting call (on any thread) only filters the event and
appends it to a bounded buffer, never waits for the consumer. When the buffer is full the
oldest event is dropped and counted in ``events.dropped``. Leaving the ``async with`` block
deregisters the subscriber.

The tool events of one call, as a consumer sees them:

    >>> import asyncio
    >>> from nemo_flow import events, tools
    >>> async def watch():
    ...     got = []
    ...     async with events.stream(kinds={"tool"}) as stream:
    ...         await tools.execute("lookup", {"q": 1}, lambda args: args)
    ...         async for event in stream:
    ...             got.append((event.name, event.scope_category))
    ...             if len(got) == 2:
    ...                 break
    ...     return got, stream.dropped
    >>> asyncio.run(watch())
    ([('lookup', 'start'), ('lookup', 'end')], 0)
"""

from __future__ import annotations

import asyncio
import itertools
import threading
from collections import deque
from collections.abc import Iterable
from types import TracebackType
from typing import Any

from . import subscribers
from ._native import ScopeHandle
from ._types import Event

__all__ = ["EventStream", "stream"]

_ids = itertools.count(1)


class EventStream:
    """The events of one run (or all of them), as an async iterator. Create it with
    :func:`stream` and use it as an async context manager."""

    def __init__(self, root: ScopeHandle | str | None, kinds: frozenset[str] | None, maxsize: int) -> None:
        self._root = root.uuid if isinstance(root, ScopeHandle) else root
        self._members: set[str] = {self._root} if self._root is not None else set()
        self._kinds = kinds
        self._maxsize = maxsize
        self._buffer: deque[Event] = deque()
        self._lock = threading.Lock()
        self._waiter: asyncio.Future[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._name = f"__nemo_flow_events_stream_{next(_ids)}"
        self._open = False
        self._closed = False
        self._dropped = 0

    @property
    def dropped(self) -> int:
        """How many events were dropped because the consumer fell ``maxsize`` events behind."""
        return self._dropped

    async def __aenter__(self) -> EventStream:
        if self._open or self._closed:
            raise RuntimeError("events.stream: a stream can be entered only once")
        self._loop = asyncio.get_running_loop()
        subscribers.register(self._name, self._on_event)
        self._open = True
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Deregister and end the iteration (events already buffered are still delivered)."""
        if self._closed:
            return
        self._closed = True
        if self._open:
            subscribers.deregister(self._name)
        with self._lock:
            waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def __aiter__(self) -> EventStream:
        return self

    async def __anext__(self) -> Event:
        if not self._open:
            raise RuntimeError("events.stream: iterate inside `async with events.stream(...)`")
        while True:
            with self._lock:
                if self._buffer:
                    return self._buffer.popleft()
                if self._closed:
                    raise StopAsyncIteration
                assert self._loop is not None
                waiter = self._waiter = self._loop.create_future()
            try:
                await waiter
            finally:
                with self._lock:
                    if self._waiter is waiter:
                        self._waiter = None

    # The subscriber: runs on the emitting thread, so it does as little as possible.

    def _wanted(self, event: Any) -> bool:
        if self._root is not None:
            if event.uuid in self._members or event.parent_uuid in self._members:
                if event.kind == "scope":
                    self._members.add(event.uuid)
            elif event.root_uuid != self._root:
                return False
        kinds = self._kinds
        return kinds is None or event.kind in kinds or event.category in kinds

    def _on_event(self, event: Any) -> None:
        if self._closed or not self._wanted(event):
            return
        with self._lock:
            if len(self._buffer) >= self._maxsize:
                self._buffer.popleft()
                self._dropped += 1
            self._buffer.append(event)
            waiter, self._waiter = self._waiter, None
        if waiter is not None:
            try:
                assert self._loop is not None
                self._loop.call_soon_threadsafe(_wake, waiter)
            except RuntimeError:
                pass  # the consumer's loop is closed


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


def stream(
    root: ScopeHandle | str | None = None, kinds: Iterable[str] | None = None, maxsize: int = 10_000
) -> EventStream:
    """Open an async stream of events.

    ``root``: a scope handle (or its uuid) to receive only the events of that scope and
    everything under it, a run's ``root_uuid`` for the whole run, or ``None`` for every event.
    ``kinds``: keep only events whose ``kind`` (``"scope"``, ``"mark"``) or ``category``
    (``"agent"``, ``"function"``, ``"tool"``, ``"llm"``, ...) is listed. ``maxsize``: how many
    undelivered events are kept before the oldest are dropped (counted in ``dropped``).
    """
    if root is not None and not isinstance(root, (ScopeHandle, str)):
        raise TypeError(f"root: expected a ScopeHandle, a uuid str or None, got {type(root).__name__}")
    wanted: frozenset[str] | None = None
    if kinds is not None:
        if isinstance(kinds, str):
            raise TypeError("kinds: expected an iterable of str such as {'llm', 'tool'}, got a single str")
        wanted = frozenset(kinds)
        if not wanted or not all(isinstance(k, str) and k for k in wanted):
            raise TypeError(f"kinds: expected a non-empty iterable of non-empty str, got {kinds!r}")
    if isinstance(maxsize, bool) or not isinstance(maxsize, int) or maxsize < 1:
        raise ValueError(f"maxsize: expected an int >= 1, got {maxsize!r}")
    return EventStream(root, wanted, maxsize)
