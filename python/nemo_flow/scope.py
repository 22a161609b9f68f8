"""Creating and nesting scopes, marks, and detached scopes for non-LIFO lifecycles.

Example:
    >>> from nemo_flow import ScopeType, scope
    >>> with scope.scope("planner", ScopeType.Agent) as planner:
    ...     scope.event("checkpoint", data={"step": 1})
    ...     child = scope.push("lookup", ScopeType.Function)
    ...     assert child.parent_uuid == planner.uuid
    ...     scope.pop(child, output={"found": True})
    >>> scope.get_handle().name
    'root'
"""

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
"""``with scope(name, scope_type, ...) as handle``: push a scope on entry (same arguments as
:func:`push`) and pop it on exit; an exception leaving the block is recorded on its end event."""
