"""Global guardrails: sanitizers (rewrite what events record) and conditional-execution
guardrails (allow or reject a call). Names are unique per family.

Example:
    >>> from nemo_flow import GuardrailRejected, guardrails, tools
    >>> def no_deletes(tool_name, args):
    ...     return "deletes are not allowed" if tool_name == "delete" else None
    >>> guardrails.register_tool_conditional_execution("no-deletes", 10, no_deletes)
    >>> try:
    ...     tools.execute_sync("delete", {"path": "/"}, lambda args: None)
    ... except GuardrailRejected as err:
    ...     print("rejected")
    rejected
    >>> guardrails.deregister_tool_conditional_execution("no-deletes")
    True
"""

from __future__ import annotations

from collections.abc import Sequence

from . import _native
from ._types import (
    LlmConditionalExecutionGuardrail,
    LlmSanitizeRequestGuardrail,
    LlmSanitizeResponseGuardrail,
    ToolConditionalExecutionGuardrail,
    ToolSanitizeGuardrail,
)

__all__ = [
    "DEFAULT_SCRUBBING_PATTERNS",
    "configure_scrubbing",
    "deregister_llm_conditional_execution",
    "deregister_llm_sanitize_request",
    "deregister_llm_sanitize_response",
    "deregister_tool_conditional_execution",
    "deregister_tool_sanitize_request",
    "deregister_tool_sanitize_response",
    "register_llm_conditional_execution",
    "register_llm_sanitize_request",
    "register_llm_sanitize_response",
    "register_tool_conditional_execution",
    "register_tool_sanitize_request",
    "register_tool_sanitize_response",
    "scrubbing_patterns",
]

#: The secret shapes scrubbed by default from recorded error text: bearer/basic credentials,
#: ``sk-…`` keys, ``api_key=…``/``token=…``/``password=…``-style pairs, AWS access key ids, JWTs.
DEFAULT_SCRUBBING_PATTERNS: tuple[str, ...] = tuple(_native.default_scrubbing_patterns())


def configure_scrubbing(*, patterns: Sequence[str] | None = None, sanitized_values: bool = True) -> None:
    """Configure what is scrubbed from the free text recorded for a call (error messages, rejection reasons).

    ``patterns`` are regular expressions (Rust ``regex`` syntax) of secret shapes replaced by ``[REDACTED]``;
    a group named ``secret`` limits the replacement to that group. ``None`` restores
    :data:`DEFAULT_SCRUBBING_PATTERNS`, ``[]`` scrubs no shape. ``sanitized_values=False`` stops scrubbing the
    values that a request sanitizer removed in the call. An invalid pattern raises ``ValueError`` and changes
    nothing."""
    _native.configure_scrubbing(patterns, sanitized_values)


def scrubbing_patterns() -> list[str]:
    """Return the secret patterns in force."""
    return _native.scrubbing_patterns()


def register_tool_sanitize_request(name: str, priority: int, guardrail: ToolSanitizeGuardrail) -> None:
    """Register a tool sanitize-request guardrail: ``(tool_name, args) -> args`` rewrites what the start event records
    (the tool still receives the real arguments). Lower priority runs first."""
    _native.register("tool_sanitize_request", None, name, priority, False, guardrail)


def deregister_tool_sanitize_request(name: str) -> bool:
    """Remove a registration; return whether it existed."""
    return _native.deregister("tool_sanitize_request", None, name)


def register_tool_sanitize_response(name: str, priority: int, guardrail: ToolSanitizeGuardrail) -> None:
    """Register a tool sanitize-response guardrail: ``(tool_name, result) -> result`` rewrites what the end event
    records. Lower priority runs first."""
    _native.register("tool_sanitize_response", None, name, priority, False, guardrail)


def deregister_tool_sanitize_response(name: str) -> bool:
    """Remove a registration; return whether it existed."""
    return _native.deregister("tool_sanitize_response", None, name)


def register_tool_conditional_execution(name: str, priority: int, guardrail: ToolConditionalExecutionGuardrail) -> None:
    """Register a tool conditional-execution guardrail: ``(tool_name, args) -> None | reason``; a reason rejects the
    call. Lower priority runs first."""
    _native.register("tool_conditional_execution", None, name, priority, False, guardrail)


def deregister_tool_conditional_execution(name: str) -> bool:
    """Remove a registration; return whether it existed."""
    return _native.deregister("tool_conditional_execution", None, name)


def register_llm_sanitize_request(name: str, priority: int, guardrail: LlmSanitizeRequestGuardrail) -> None:
    """Register a LLM sanitize-request guardrail: ``(LLMRequest) -> LLMRequest`` on the copy the start event records.
    Lower priority runs first."""
    _native.register("llm_sanitize_request", None, name, priority, False, guardrail)


def deregister_llm_sanitize_request(name: str) -> bool:
    """Remove a registration; return whether it existed."""
    return _native.deregister("llm_sanitize_request", None, name)


def register_llm_sanitize_response(name: str, priority: int, guardrail: LlmSanitizeResponseGuardrail) -> None:
    """Register a LLM sanitize-response guardrail: ``(response) -> response`` on the copy the end event records. Lower
    priority runs first."""
    _native.register("llm_sanitize_response", None, name, priority, False, guardrail)


def deregister_llm_sanitize_response(name: str) -> bool:
    """Remove a registration; return whether it existed."""
    return _native.deregister("llm_sanitize_response", None, name)


def register_llm_conditional_execution(name: str, priority: int, guardrail: LlmConditionalExecutionGuardrail) -> None:
    """Register a LLM conditional-execution guardrail: ``(LLMRequest) -> None | reason``. Lower priority runs first."""
    _native.register("llm_conditional_execution", None, name, priority, False, guardrail)


def deregister_llm_conditional_execution(name: str) -> bool:
    """Remove a registration; return whether it existed."""
    return _native.deregister("llm_conditional_execution", None, name)
