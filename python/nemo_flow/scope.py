"""Creating and nesting scopes, marks, and detached scopes for non-LIFO lifecycles."""

from __future__ import annotations

from ._native import (
    ScopeContext as _ScopeContext,
)
from ._native import (
    end_detached,
    event,
    get_handle,
    pop,
    push,
    start_detached,
)

__all__ = ["end_detached", "event", "get_handle", "pop", "push", "scope", "start_detached"]

# `scope(...)` returns a native context manager: it pushes on enter and pops on exit, and
# an exception leaving the block is recorded on the scope's end event.
scope = _ScopeContext
