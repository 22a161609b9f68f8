"""Global event subscribers.

Subscribers are called synchronously on the emitting thread, in registration order (global
ones first, then scope-local ones from the outermost scope inwards). A subscriber that raises
is logged on the ``nemo_flow`` logger and counted; the call and the other subscribers carry on.

Example:
    >>> from nemo_flow import ScopeType, scope, subscribers
    >>> seen = []
    >>> subscribers.register("recorder", seen.append)
    >>> with scope.scope("agent", ScopeType.Agent):
    ...     pass
    >>> [(event.name, event.scope_category) for event in seen]
    [('agent', 'start'), ('agent', 'end')]
    >>> subscribers.deregister("recorder")
    True
"""

from __future__ import annotations

from . import _native
from ._types import EventSubscriber

__all__ = ["deregister", "error_count", "flush", "register"]


def register(name: str, callback: EventSubscriber) -> None:
    """Register ``callback(event)`` under ``name`` (unique)."""
    _native.register("subscriber", None, name, 0, False, callback)


def deregister(name: str) -> bool:
    """Remove a subscriber; return whether it existed."""
    return _native.deregister("subscriber", None, name)


def flush(timeout: float | None = None) -> bool:
    """Drain exporters' buffers. Delivery to subscribers is synchronous, so every event emitted
    before this call has already been delivered. Returns whether everything drained within
    ``timeout`` seconds (``None``: wait as long as it takes)."""
    return _native.flush(timeout)


def error_count() -> int:
    """How many subscriber calls have raised in this process."""
    return _native.subscriber_error_count()
