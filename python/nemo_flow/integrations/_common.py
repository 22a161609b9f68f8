"""What every integration shares.

``IN_MANAGED_CALL`` is set only around the provider callback of a managed call, so an SDK
reached from inside another integration's managed call (LiteLLM calling the OpenAI SDK,
LangChain calling either) passes straight through: one event per logical call.

:class:`Switch` is the patch registry behind each module's ``instrument`` / ``uninstrument``:
it records what each patched attribute was (or that it was absent) and puts exactly that
back, unless another library has wrapped on top of ours since, in which case ours stays in
place, switched off, and theirs keeps working; instrumenting again switches it back on
rather than stacking a second wrapper.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from contextvars import ContextVar
from typing import Any, NamedTuple

IN_MANAGED_CALL: ContextVar[bool] = ContextVar("nemo_flow_in_managed_call", default=False)
"""True while an integration's managed call is running the provider's own code."""

_ABSENT = object()

# Headers an event never records: credentials, and the SDKs' own bookkeeping markers
# (``X-Stainless-*``, ``____stainless_override_cast_to``). They still go on the wire.
_SECRET_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "api-key", "x-api-key", "cookie", "set-cookie", "x-goog-api-key"}
)


def split_headers(headers: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split per-request headers into ``(recorded, hidden)``: what the event may show (string
    values, no credentials, no SDK markers) and what only the wire sees."""
    recorded: dict[str, Any] = {}
    hidden: dict[str, Any] = {}
    if not isinstance(headers, Mapping):
        return recorded, hidden
    for k, v in headers.items():
        low = k.lower() if isinstance(k, str) else ""
        if isinstance(v, str) and low and low not in _SECRET_HEADERS and not low.startswith(("x-stainless", "____")):
            recorded[k] = v
        else:
            hidden[k] = v
    return recorded, hidden


def untouched(managed_stream: Any, upstream: Any) -> bool:
    """Whether no stream execution intercept sits between ``upstream`` (the iterator the
    provider callback returned) and ``managed_stream``: then every chunk reaches the consumer
    as the very object the upstream yielded, never edited, and the SDK's own chunk object can
    be handed back without a re-serialize-and-compare per chunk.

    The public API has no such flag yet (integrations reference §3.6 item 4); this reads the
    stream's upstream iterator, which ``nemo_flow.llm`` keeps for exactly this comparison.
    """
    state = getattr(managed_stream, "_state", None)
    return getattr(state, "_it", None) is upstream


class Switch:
    """One integration's on/off state and the patches that implement it.

    ``install(patches)`` is called by the first :meth:`instrument` (and again after an exact
    restore); it patches through :meth:`Patches.replace`. Each replacement must check
    :attr:`enabled` first and pass straight through when it is false.
    """

    def __init__(self, label: str, install: Callable[[Patches], None]) -> None:
        self.label = label
        self._install = install
        self._lock = threading.RLock()
        self._patches: Patches | None = None
        self.enabled = False
        self.name: str | None = None

    def instrument(self, name: str | None) -> None:
        if name is not None and (not isinstance(name, str) or not name):
            raise TypeError(f"name: expected a non-empty str or None, got {type(name).__name__}")
        with self._lock:
            if self._patches is None:
                self._patches = Patches()
            # Re-run every time: it patches what is not (or no longer) ours, and skips places
            # where a wrapper of ours is still in the call chain, buried under another library's.
            mark = len(self._patches)
            try:
                self._install(self._patches)
            except BaseException:
                self._patches.restore(since=mark)
                raise
            self.name = name
            self.enabled = True

    def uninstrument(self) -> None:
        with self._lock:
            self.enabled = False
            if self._patches is not None:
                self._patches.restore()

    @contextmanager
    def instrumented(self, name: str | None) -> Iterator[None]:
        was = self.enabled
        self.instrument(name)
        try:
            yield
        finally:
            if not was:
                self.uninstrument()


class Patches:
    """Replaced attributes and what each was before (``_ABSENT``: inherited, not in ``__dict__``)."""

    def __init__(self) -> None:
        self._done: list[tuple[Any, str, Any, Any]] = []

    def __len__(self) -> int:
        return len(self._done)

    def replace(self, owner: Any, attr: str, make: Callable[[Any], Any]) -> None:
        """Set ``owner.attr = make(current)``, ``current`` being what attribute lookup finds now;
        nothing if a replacement of ours is still reachable from the attribute."""
        current = owner.__dict__.get(attr, _ABSENT)
        if any(o is owner and a == attr and _reaches(current, new) for o, a, _, new in self._done):
            return
        new = make(getattr(owner, attr))
        setattr(owner, attr, new)
        self._done.append((owner, attr, current, new))

    def restore(self, since: int = 0) -> None:
        """Put back every attribute (patched at or after index ``since``) that is still ours;
        keep the records of those another library has wrapped on top of since."""
        kept = []
        for owner, attr, prior, new in reversed(self._done[since:]):
            if owner.__dict__.get(attr, _ABSENT) is not new:
                kept.append((owner, attr, prior, new))  # buried: stays, switched off
            elif prior is _ABSENT:
                delattr(owner, attr)
            else:
                setattr(owner, attr, prior)
        self._done[since:] = kept[::-1]


def _reaches(obj: Any, target: Any) -> bool:
    """Whether ``target`` is ``obj`` or found along its ``__wrapped__`` chain."""
    for _ in range(32):
        if obj is target:
            return True
        obj = getattr(obj, "__wrapped__", None)
        if obj is None:
            return False
    return False


def subclasses(cls: type) -> list[type]:
    """``cls`` and every class derived from it that exists now."""
    out: list[type] = [cls]
    i = 0
    while i < len(out):
        sub: list[type] = out[i].__subclasses__()
        out.extend(c for c in sub if c not in out)
        i += 1
    return out


class Surface(NamedTuple):
    """The four public functions every integration module exports."""

    instrument: Callable[..., None]
    uninstrument: Callable[[], None]
    is_instrumented: Callable[[], bool]
    instrumented: Callable[..., AbstractContextManager[None]]


def surface(switch: Switch, what: str) -> Surface:
    """``instrument`` / ``uninstrument`` / ``is_instrumented`` / ``instrumented`` over ``switch``."""

    def instrument(*, name: str | None = None) -> None:
        switch.instrument(name)

    def uninstrument() -> None:
        switch.uninstrument()

    def is_instrumented() -> bool:
        return switch.enabled

    def instrumented(*, name: str | None = None) -> AbstractContextManager[None]:
        return switch.instrumented(name)

    instrument.__doc__ = (
        f"Manage every {what} call from now on. Idempotent (covers clients created before);"
        " ``name`` replaces the default event names."
    )
    uninstrument.__doc__ = (
        "Put the SDK back exactly as it was (or, where another library has wrapped on top of ours"
        " since, leave ours in its chain switched off so theirs keeps working)."
    )
    is_instrumented.__doc__ = f"Whether {what} calls are being managed."
    instrumented.__doc__ = "Instrument for the duration of a ``with`` block (restored after, unless it was on before)."
    return Surface(instrument, uninstrument, is_instrumented, instrumented)
