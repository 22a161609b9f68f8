"""Creating and nesting scopes, marks, and detached scopes for non-LIFO lifecycles; the
``traced`` decorator and ``current()``."""

from __future__ import annotations

from ._native import ScopeContext, end_detached, event, get_handle, pop, push, start_detached
from ._native import get_handle as current
from ._traced import traced

__all__ = [
    "ScopeContext",
    "current",
    "end_detached",
    "event",
    "get_handle",
    "pop",
    "push",
    "scope",
    "start_detached",
    "traced",
]

# `scope(...)` pushes on enter and pops on exit (`with` or `async with`); an exception
# leaving the block is recorded on the scope's end event.
scope = ScopeContext
