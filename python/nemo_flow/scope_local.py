"""Middleware and subscribers that belong to one scope: visible to calls inside that scope (after
the global ones at equal priority, outer scopes before inner ones) and removed when it closes.

Example:
    >>> from nemo_flow import ScopeType, scope, scope_local, tools
    >>> def mask(tool_name, args):
    ...     return {**args, "token": "***"}
    >>> with scope.scope("request-1", ScopeType.Agent) as request_scope:
    ...     scope_local.register_tool_sanitize_request(request_scope, "mask", 10, mask)
    ...     tools.execute_sync("fetch", {"token": "secret"}, lambda args: "done")
    'done'
"""

from __future__ import annotations

from . import _native
from ._native import ScopeHandle
from ._types import (
    EventSubscriber,
    LlmConditionalExecutionGuardrail,
    LlmExecutionIntercept,
    LlmRequestIntercept,
    LlmSanitizeRequestGuardrail,
    LlmSanitizeResponseGuardrail,
    LlmStreamExecutionIntercept,
    ToolConditionalExecutionGuardrail,
    ToolExecutionIntercept,
    ToolRequestIntercept,
    ToolSanitizeGuardrail,
)

__all__ = [
    "deregister_llm_conditional_execution",
    "deregister_llm_execution",
    "deregister_llm_request",
    "deregister_llm_sanitize_request",
    "deregister_llm_sanitize_response",
    "deregister_llm_stream_execution",
    "deregister_subscriber",
    "deregister_tool_conditional_execution",
    "deregister_tool_execution",
    "deregister_tool_request",
    "deregister_tool_sanitize_request",
    "deregister_tool_sanitize_response",
    "register_llm_conditional_execution",
    "register_llm_execution",
    "register_llm_request",
    "register_llm_sanitize_request",
    "register_llm_sanitize_response",
    "register_llm_stream_execution",
    "register_subscriber",
    "register_tool_conditional_execution",
    "register_tool_execution",
    "register_tool_request",
    "register_tool_sanitize_request",
    "register_tool_sanitize_response",
]


def _scope(scope_handle: object) -> ScopeHandle:
    # Without this check ``None`` would silently register globally.
    if not isinstance(scope_handle, ScopeHandle):
        raise TypeError(f"scope_handle: expected a ScopeHandle, got {type(scope_handle).__name__}")
    return scope_handle


def register_tool_sanitize_request(
    scope_handle: ScopeHandle, name: str, priority: int, guardrail: ToolSanitizeGuardrail
) -> None:
    """Register a tool sanitize-request guardrail: ``(tool_name, args) -> args`` rewrites what the start event records
    (the tool still receives the real arguments). Lower priority runs first."""
    _native.register("tool_sanitize_request", _scope(scope_handle), name, priority, False, guardrail)


def deregister_tool_sanitize_request(scope_handle: ScopeHandle, name: str) -> bool:
    """Remove a registration; return whether it existed."""
    return _native.deregister("tool_sanitize_request", _scope(scope_handle), name)


def register_tool_sanitize_response(
    scope_handle: ScopeHandle, name: str, priority: int, guardrail: ToolSanitizeGuardrail
) -> None:
    """Register a tool sanitize-response guardrail: ``(tool_name, result) -> result`` rewrites what the end event
    records. Lower priority runs first."""
    _native.register("tool_sanitize_response", _scope(scope_handle), name, priority, False, guardrail)


def deregister_tool_sanitize_response(scope_handle: ScopeHandle, name: str) -> bool:
    """Remove a registration; return whether it existed."""
    return _native.deregister("tool_sanitize_response", _scope(scope_handle), name)


def register_tool_conditional_execution(
    scope_handle: ScopeHandle, name: str, priority: int, guardrail: ToolConditionalExecutionGuardrail
) -> None:
    """Register a tool conditional-execution guardrail: ``(tool_name, args) -> None | reason``; a reason rejects the
    call. Lower priority runs first."""
    _native.register("tool_conditional_execution", _scope(scope_handle), name, priority, False, guardrail)


def deregister_tool_conditional_execution(scope_handle: ScopeHandle, name: str) -> bool:
    """Remove a registration; return whether it existed."""
    return _native.deregister("tool_conditional_execution", _scope(scope_handle), name)


def register_llm_sanitize_request(
    scope_handle: ScopeHandle, name: str, priority: int, guardrail: LlmSanitizeRequestGuardrail
) -> None:
    """Register a LLM sanitize-request guardrail: ``(LLMRequest) -> LLMRequest`` on the copy the start event records.
    Lower priority runs first."""
    _native.register("llm_sanitize_request", _scope(scope_handle), name, priority, False, guardrail)


def deregister_llm_sanitize_request(scope_handle: ScopeHandle, name: str) -> bool:
    """Remove a registration; return whether it existed."""
    return _native.deregister("llm_sanitize_request", _scope(scope_handle), name)


def register_llm_sanitize_response(
    scope_handle: ScopeHandle, name: str, priority: int, guardrail: LlmSanitizeResponseGuardrail
) -> None:
    """Register a LLM sanitize-response guardrail: ``(response) -> response`` on the copy the end event records. Lower
    priority runs first."""
    _native.register("llm_sanitize_response", _scope(scope_handle), name, priority, False, guardrail)


def deregister_llm_sanitize_response(scope_handle: ScopeHandle, name: str) -> bool:
    """Remove a registration; return whether it existed."""
    return _native.deregister("llm_sanitize_response", _scope(scope_handle), name)


def register_llm_conditional_execution(
    scope_handle: ScopeHandle, name: str, priority: int, guardrail: LlmConditionalExecutionGuardrail
) -> None:
    """Register a LLM conditional-execution guardrail: ``(LLMRequest) -> None | reason``. Lower priority runs first."""
    _native.register("llm_conditional_execution", _scope(scope_handle), name, priority, False, guardrail)


def deregister_llm_conditional_execution(scope_handle: ScopeHandle, name: str) -> bool:
    """Remove a registration; return whether it existed."""
    return _native.deregister("llm_conditional_execution", _scope(scope_handle), name)


def register_tool_request(
    scope_handle: ScopeHandle, name: str, priority: int, break_chain: bool, fn: ToolRequestIntercept
) -> None:
    """Register a tool request intercept: ``(tool_name, args) -> args``. Lower priority runs first; ``break_chain``
    stops the chain after it."""
    _native.register("tool_request", _scope(scope_handle), name, priority, break_chain, fn)


def deregister_tool_request(scope_handle: ScopeHandle, name: str) -> bool:
    """Remove a registration; return whether it existed."""
    return _native.deregister("tool_request", _scope(scope_handle), name)


def register_tool_execution(scope_handle: ScopeHandle, name: str, priority: int, fn: ToolExecutionIntercept) -> None:
    """Register a tool execution intercept: ``(tool_name, args, next)``; ``next(args)`` is awaitable and may be called
    zero, one or several times. Lower priority runs first; for execution intercepts that means further out."""
    _native.register("tool_execution", _scope(scope_handle), name, priority, False, fn)


def deregister_tool_execution(scope_handle: ScopeHandle, name: str) -> bool:
    """Remove a registration; return whether it existed."""
    return _native.deregister("tool_execution", _scope(scope_handle), name)


def register_llm_request(
    scope_handle: ScopeHandle, name: str, priority: int, break_chain: bool, fn: LlmRequestIntercept
) -> None:
    """Register a LLM request intercept:
    ``(name, LLMRequest, AnnotatedLLMRequest | None) -> (LLMRequest, AnnotatedLLMRequest | None)``.
    Lower priority runs first; ``break_chain`` stops the chain after it."""
    _native.register("llm_request", _scope(scope_handle), name, priority, break_chain, fn)


def deregister_llm_request(scope_handle: ScopeHandle, name: str) -> bool:
    """Remove a registration; return whether it existed."""
    return _native.deregister("llm_request", _scope(scope_handle), name)


def register_llm_execution(scope_handle: ScopeHandle, name: str, priority: int, fn: LlmExecutionIntercept) -> None:
    """Register a LLM execution intercept: ``(name, LLMRequest, next)``. Lower priority runs first; for execution
    intercepts that means further out."""
    _native.register("llm_execution", _scope(scope_handle), name, priority, False, fn)


def deregister_llm_execution(scope_handle: ScopeHandle, name: str) -> bool:
    """Remove a registration; return whether it existed."""
    return _native.deregister("llm_execution", _scope(scope_handle), name)


def register_llm_stream_execution(
    scope_handle: ScopeHandle, name: str, priority: int, fn: LlmStreamExecutionIntercept
) -> None:
    """Register a LLM stream execution intercept: ``(LLMRequest, next)``; ``next(request)`` is an awaitable of the async
    iterator. Lower priority runs first; for execution intercepts that means further out."""
    _native.register("llm_stream_execution", _scope(scope_handle), name, priority, False, fn)


def deregister_llm_stream_execution(scope_handle: ScopeHandle, name: str) -> bool:
    """Remove a registration; return whether it existed."""
    return _native.deregister("llm_stream_execution", _scope(scope_handle), name)


def register_subscriber(scope_handle: ScopeHandle, name: str, callback: EventSubscriber) -> None:
    """Register a subscriber that receives every event emitted inside the scope, including the
    scope's own end event."""
    _native.register("subscriber", _scope(scope_handle), name, 0, False, callback)


def deregister_subscriber(scope_handle: ScopeHandle, name: str) -> bool:
    """Remove a scope-local subscriber; return whether it existed."""
    return _native.deregister("subscriber", _scope(scope_handle), name)
