"""The one store of "the current scope" for Python: a ContextVar holding a ScopeHandle.

Every API call reads it, so asyncio tasks (which copy the context when created) nest their
work under the scope that was current when they were created, never under each other.
"""

from __future__ import annotations

from contextvars import Context, ContextVar, copy_context

from . import _native

current_scope: ContextVar[_native.ScopeHandle | None] = _native._scope_var


def fork_asyncio_context() -> Context:
    """Return a copy of the current context for ``loop.create_task(..., context=...)``.

    Plain ``create_task`` already copies the context, so this is only a convenience for code
    that creates tasks with an explicit context: the task's scopes nest under the scope that
    is current here.
    """
    _native.get_scope_stack()
    return copy_context()
