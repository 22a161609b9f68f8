"""nemo_flow: an execution runtime for agent systems.

Put it under every tool call and LLM call to get hierarchical scopes, a middleware pipeline
(guardrails and intercepts), lifecycle events and subscribers, from one native core.

Example:
    >>> import asyncio
    >>> import nemo_flow
    >>> def redact_args(tool_name, args):
    ...     return {**args, "api_key": "***"}
    >>> async def tool_impl(args):
    ...     return {"echo": args["query"]}
    >>> async def main():
    ...     nemo_flow.guardrails.register_tool_sanitize_request("redact", 10, redact_args)
    ...     with nemo_flow.scope.scope("demo-agent", nemo_flow.ScopeType.Agent):
    ...         return await nemo_flow.tools.execute("search", {"query": "hello", "api_key": "k"}, tool_impl)
    >>> asyncio.run(main())
    {'echo': 'hello'}
"""

from __future__ import annotations

import atexit

from . import (
    _native,
    _replay_env,  # noqa: F401  (NEMO_FLOW_REPLAY / NEMO_FLOW_RECORD, see nemo_flow.replay)
    codecs,
    events,
    guardrails,
    intercepts,
    llm,
    observability,
    plugin,
    scope,
    scope_local,
    subscribers,
    tools,
    typed,
)
from ._context import fork_asyncio_context
from ._native import (
    AnnotatedLLMRequest,
    AnnotatedLLMResponse,
    ConfigError,
    GuardrailRejected,
    LLMAttributes,
    LLMHandle,
    LLMRequest,
    MarkEvent,
    MiddlewareError,
    NemoFlowError,
    RegistrationError,
    ScopeAttributes,
    ScopeError,
    ScopeEvent,
    ScopeHandle,
    ScopeStack,
    ScopeType,
    ToolAttributes,
    ToolHandle,
    create_scope_stack,
    get_scope_stack,
    propagate_scope_to_thread,
    scope_stack_active,
    set_thread_scope_stack,
)
from ._types import (
    Event,
    Json,
    JsonObject,
    JsonPrimitive,
    JsonValue,
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
    UnsupportedBehavior,
)
from ._version import __version__
from .observability import (
    AtifExporter,
    AtofExporter,
    AtofExporterConfig,
    AtofExporterMode,
    OpenInferenceConfig,
    OpenInferenceSubscriber,
    OpenTelemetryConfig,
    OpenTelemetrySubscriber,
)

# At exit, callbacks stop entering Python before daemon threads can be ended inside them
# (see crates/nemo-flow-py/src/shutdown.rs).
atexit.register(_native._at_exit)

__all__ = [
    "AnnotatedLLMRequest",
    "AnnotatedLLMResponse",
    "AtifExporter",
    "AtofExporter",
    "AtofExporterConfig",
    "AtofExporterMode",
    "ConfigError",
    "Event",
    "GuardrailRejected",
    "Json",
    "JsonObject",
    "JsonPrimitive",
    "JsonValue",
    "LLMAttributes",
    "LLMHandle",
    "LLMRequest",
    "LlmConditionalExecutionGuardrail",
    "LlmExecutionIntercept",
    "LlmRequestIntercept",
    "LlmSanitizeRequestGuardrail",
    "LlmSanitizeResponseGuardrail",
    "LlmStreamExecutionIntercept",
    "MarkEvent",
    "MiddlewareError",
    "NemoFlowError",
    "OpenInferenceConfig",
    "OpenInferenceSubscriber",
    "OpenTelemetryConfig",
    "OpenTelemetrySubscriber",
    "RegistrationError",
    "ScopeAttributes",
    "ScopeError",
    "ScopeEvent",
    "ScopeHandle",
    "ScopeStack",
    "ScopeType",
    "ToolAttributes",
    "ToolConditionalExecutionGuardrail",
    "ToolExecutionIntercept",
    "ToolHandle",
    "ToolRequestIntercept",
    "ToolSanitizeGuardrail",
    "UnsupportedBehavior",
    "__version__",
    "codecs",
    "create_scope_stack",
    "events",
    "fork_asyncio_context",
    "get_scope_stack",
    "guardrails",
    "intercepts",
    "llm",
    "observability",
    "plugin",
    "propagate_scope_to_thread",
    "scope",
    "scope_local",
    "scope_stack_active",
    "set_thread_scope_stack",
    "subscribers",
    "tools",
    "typed",
]

plugin.activate_from_environment()
