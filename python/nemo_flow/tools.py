"""Tool call lifecycle: managed execution (async and sync), manual start/end, and the
individual pipeline steps.

Example:
    >>> import asyncio
    >>> from nemo_flow import tools
    >>> async def search(args):
    ...     return {"hits": [args["query"]]}
    >>> asyncio.run(tools.execute("search", {"query": "q"}, search))
    {'hits': ['q']}
    >>> tools.execute_sync("add", {"a": 1, "b": 2}, lambda args: args["a"] + args["b"])
    3
    >>> handle = tools.call("manual", {"x": 1})  # work you run yourself ...
    >>> tools.call_end(handle, {"ok": True})
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from . import _drive
from ._native import ToolCall as _ToolCall
from ._native import ToolHandle
from ._native import tool_call as call
from ._native import tool_call_end as call_end
from ._native import tool_conditional_execution as conditional_execution
from ._native import tool_request_intercepts as request_intercepts
from ._tool_decorator import tool

__all__ = [
    "ToolHandle",
    "call",
    "call_end",
    "conditional_execution",
    "execute",
    "execute_sync",
    "request_intercepts",
    "tool",
]


def execute(
    name: str,
    args: Any,
    func: Callable[[Any], Any],
    *,
    handle: Any = None,
    attributes: Any = None,
    data: Any = None,
    metadata: Any = None,
) -> Awaitable[Any]:
    """Run ``func(args)`` as a managed tool call and return an awaitable of its result.

    The parent scope is the one current when ``execute`` is called (or ``handle``). Order:
    conditional guardrails, request intercepts, sanitize + start event, execution intercepts
    around ``func`` (sync or async), sanitize + end event. ``func``'s own exceptions reach the
    caller unchanged; the end event records them.
    """
    _drive.check_func(func)
    return _drive.run_async(_ToolCall(name, args, handle, attributes, data, metadata), func, name)


def execute_sync(
    name: str,
    args: Any,
    func: Callable[[Any], Any],
    *,
    handle: Any = None,
    attributes: Any = None,
    data: Any = None,
    metadata: Any = None,
) -> Any:
    """Synchronous twin of :func:`execute` for synchronous callables: the same pipeline, run
    on the calling thread without an event loop. Execution intercepts must be synchronous."""
    _drive.check_func(func)
    return _drive.run_sync(_ToolCall(name, args, handle, attributes, data, metadata), func, "tools.execute_sync", name)
