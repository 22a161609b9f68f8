"""Creating and nesting scopes, marks, and detached scopes for non-LIFO lifecycles; the
``traced`` decorator and ``current()``.

Example:
    >>> from nemo_flow import ScopeType, scope
    >>> with scope.scope("planner", ScopeType.Agent) as planner:
    ...     scope.event("checkpoint", data={"step": 1})
    ...     child = scope.push("lookup", ScopeType.Function)
    ...     assert child.parent_uuid == planner.uuid
    ...     scope.pop(child, output={"found": True})
    >>> scope.current().name
    'root'
"""

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
"""``with scope(name, scope_type, ...) as handle`` (or ``async with``): push a scope on entry
(same arguments as :func:`push`) and pop it on exit; an exception leaving the block is
recorded on its end event."""
