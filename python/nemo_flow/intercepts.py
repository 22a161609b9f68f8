"""Global intercepts: request intercepts rewrite a call's input; execution intercepts wrap the
call itself. Names are unique per family.

Example:
    >>> from nemo_flow import intercepts, tools
    >>> def default_limit(tool_name, args):
    ...     return {"limit": 10, **args}
    >>> intercepts.register_tool_request("default-limit", 10, False, default_limit)
    >>> tools.execute_sync("search", {"query": "q"}, lambda args: args)
    {'limit': 10, 'query': 'q'}
    >>> intercepts.deregister_tool_request("default-limit")
    True
"""

from __future__ import annotations

from . import _native
from ._types import (
    LlmExecutionIntercept,
    LlmRequestIntercept,
    LlmStreamExecutionIntercept,
    ToolExecutionIntercept,
    ToolRequestIntercept,
)

__all__ = [
    "deregister_llm_execution",
    "deregister_llm_request",
    "deregister_llm_stream_execution",
    "deregister_tool_execution",
    "deregister_tool_request",
    "register_llm_execution",
    "register_llm_request",
    "register_llm_stream_execution",
    "register_tool_execution",
    "register_tool_request",
]


def register_tool_request(name: str, priority: int, break_chain: bool, fn: ToolRequestIntercept) -> None:
    """Register a tool request intercept: ``(tool_name, args) -> args``. Lower priority runs first; ``break_chain``
    stops the chain after it."""
    _native.register("tool_request", None, name, priority, break_chain, fn)


def deregister_tool_request(name: str) -> bool:
    """Remove a registration; return whether it existed."""
    return _native.deregister("tool_request", None, name)


def register_tool_execution(name: str, priority: int, fn: ToolExecutionIntercept) -> None:
    """Register a tool execution intercept: ``(tool_name, args, next)``; ``next(args)`` is awaitable and may be called
    zero, one or several times. Lower priority runs first; for execution intercepts that means further out."""
    _native.register("tool_execution", None, name, priority, False, fn)


def deregister_tool_execution(name: str) -> bool:
    """Remove a registration; return whether it existed."""
    return _native.deregister("tool_execution", None, name)


def register_llm_request(name: str, priority: int, break_chain: bool, fn: LlmRequestIntercept) -> None:
    """Register a LLM request intercept:
    ``(name, LLMRequest, AnnotatedLLMRequest | None) -> (LLMRequest, AnnotatedLLMRequest | None)``.
    Lower priority runs first; ``break_chain`` stops the chain after it."""
    _native.register("llm_request", None, name, priority, break_chain, fn)


def deregister_llm_request(name: str) -> bool:
    """Remove a registration; return whether it existed."""
    return _native.deregister("llm_request", None, name)


def register_llm_execution(name: str, priority: int, fn: LlmExecutionIntercept) -> None:
    """Register a LLM execution intercept: ``(name, LLMRequest, next)``. Lower priority runs first; for execution
    intercepts that means further out."""
    _native.register("llm_execution", None, name, priority, False, fn)


def deregister_llm_execution(name: str) -> bool:
    """Remove a registration; return whether it existed."""
    return _native.deregister("llm_execution", None, name)


def register_llm_stream_execution(name: str, priority: int, fn: LlmStreamExecutionIntercept) -> None:
    """Register a LLM stream execution intercept: ``(LLMRequest, next)``; ``next(request)`` is an awaitable of the async
    iterator. Lower priority runs first; for execution intercepts that means further out."""
    _native.register("llm_stream_execution", None, name, priority, False, fn)


def deregister_llm_stream_execution(name: str) -> bool:
    """Remove a registration; return whether it existed."""
    return _native.deregister("llm_stream_execution", None, name)
