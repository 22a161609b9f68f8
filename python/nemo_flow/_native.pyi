"""Type stubs for ``nemo_flow._native``, the PyO3 binding of the NeMo Flow core."""

from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextvars import ContextVar
from datetime import datetime
from os import PathLike
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar, Literal, Self, TypeAlias, final

from ._types import Json, JsonObject, JsonValue
from .codecs import LlmCodec, LlmResponseCodec

__all__ = [
    "AnnotatedLLMRequest",
    "AnnotatedLLMResponse",
    "AnthropicMessagesCodec",
    "AnthropicMessagesStreamCollector",
    "AtifExporter",
    "AtofExporter",
    "AtofExporterConfig",
    "AtofExporterMode",
    "CacheGovernor",
    "ConfigError",
    "GuardrailRejected",
    "LLMAttributes",
    "LLMHandle",
    "LLMRequest",
    "LlmCall",
    "MarkEvent",
    "MiddlewareError",
    "NativeIntercept",
    "NativeStep",
    "NemoFlowError",
    "OpenAIChatCodec",
    "OpenAIChatStreamCollector",
    "OpenAIResponsesCodec",
    "OpenAIResponsesStreamCollector",
    "OpenInferenceConfig",
    "OpenInferenceSubscriber",
    "OpenTelemetryConfig",
    "OpenTelemetrySubscriber",
    "PluginContext",
    "RegistrationError",
    "ScopeAttributes",
    "ScopeContext",
    "ScopeError",
    "ScopeEvent",
    "ScopeHandle",
    "ScopeStack",
    "ScopeType",
    "SseDecoder",
    "ToolAttributes",
    "ToolCall",
    "ToolHandle",
    "__version__",
    "_at_exit",
    "_register_test_intercept",
    "_restart_exporters_after_fork",
    "_scope_var",
    "adaptive_validate_config",
    "canonical_json",
    "clear_global",
    "configure_scrubbing",
    "create_scope_stack",
    "default_scrubbing_patterns",
    "deregister",
    "end_detached",
    "event",
    "flush",
    "get_handle",
    "get_scope_stack",
    "llm_call",
    "llm_call_end",
    "llm_conditional_execution",
    "llm_request_intercepts",
    "plugin_active_config",
    "plugin_clear",
    "plugin_deregister",
    "plugin_initialize",
    "plugin_list_kinds",
    "plugin_register",
    "plugin_report",
    "plugin_validate",
    "policy_activate",
    "policy_backtest",
    "policy_deactivate",
    "policy_deregister_approver",
    "policy_evaluate",
    "policy_from_nemoir",
    "policy_register_approver",
    "policy_validate",
    "pop",
    "propagate_scope_to_thread",
    "push",
    "register",
    "scope_stack_active",
    "scrubbing_patterns",
    "set_thread_scope_stack",
    "shutdown_exporters",
    "start_detached",
    "subscriber_error_count",
    "tool_call",
    "tool_call_end",
    "tool_conditional_execution",
    "tool_request_intercepts",
]

_Family: TypeAlias = Literal[
    "tool_sanitize_request",
    "tool_sanitize_response",
    "tool_conditional_execution",
    "tool_request",
    "tool_execution",
    "llm_sanitize_request",
    "llm_sanitize_response",
    "llm_conditional_execution",
    "llm_request",
    "llm_execution",
    "llm_stream_execution",
    "subscriber",
]
_Intercepts: TypeAlias = tuple[tuple[str, Callable[..., Any] | NativeIntercept], ...]

# Exceptions (their ``__module__`` is ``nemo_flow``).

class NemoFlowError(RuntimeError):
    """Base class of every error raised by the nemo_flow runtime itself."""

class GuardrailRejected(NemoFlowError):
    """A conditional-execution guardrail refused the call."""

class ScopeError(NemoFlowError):
    """Misuse of the scope stack or of a call handle."""

class RegistrationError(NemoFlowError):
    """A duplicate or otherwise invalid registration."""

class ConfigError(NemoFlowError):
    """Invalid configuration. Raised by plugin activation, it carries the failed attempt's
    activation report as ``report``."""

    report: dict[str, Any]

class MiddlewareError(NemoFlowError):
    """A guardrail, intercept or codec raised; the original exception is the __cause__."""

# Scope types and attribute flags.

@final
class ScopeType:
    """Enum identifying the kind of execution scope."""

    Agent: ClassVar[ScopeType]
    """Autonomous agent scope."""
    Function: ClassVar[ScopeType]
    """Generic function-call scope."""
    Tool: ClassVar[ScopeType]
    """Tool invocation scope."""
    Llm: ClassVar[ScopeType]
    """LLM call scope."""
    Retriever: ClassVar[ScopeType]
    """Retriever or RAG lookup scope."""
    Embedder: ClassVar[ScopeType]
    """Embedding model scope."""
    Reranker: ClassVar[ScopeType]
    """Reranking model scope."""
    Guardrail: ClassVar[ScopeType]
    """Guardrail evaluation scope."""
    Evaluator: ClassVar[ScopeType]
    """Evaluator or judge scope."""
    Custom: ClassVar[ScopeType]
    """User-defined scope type."""
    Unknown: ClassVar[ScopeType]
    """Unknown or unspecified scope type."""

    def __eq__(self, other: object, /) -> bool: ...
    def __hash__(self) -> int: ...
    def __int__(self) -> int: ...

@final
class ScopeAttributes:
    """Bitflags describing scope properties."""

    PARALLEL: ClassVar[int]
    RELOCATABLE: ClassVar[int]

    def __new__(cls, value: int | Self | None = None) -> Self: ...
    @property
    def is_parallel(self) -> bool:
        """Return whether the PARALLEL flag is set."""
    @property
    def is_relocatable(self) -> bool:
        """Return whether the RELOCATABLE flag is set."""
    @property
    def value(self) -> int:
        """Return the raw integer bitmask."""
    def __or__(self, other: int | Self, /) -> Self: ...
    def __and__(self, other: int | Self, /) -> Self: ...
    def __int__(self) -> int: ...
    def __bool__(self) -> bool: ...
    def __eq__(self, other: object, /) -> bool: ...
    def __hash__(self) -> int: ...

@final
class ToolAttributes:
    """Bitflags describing tool call properties."""

    REMOTE: ClassVar[int]

    def __new__(cls, value: int | Self | None = None) -> Self: ...
    @property
    def is_remote(self) -> bool:
        """Return whether the REMOTE flag is set."""
    @property
    def value(self) -> int:
        """Return the raw integer bitmask."""
    def __or__(self, other: int | Self, /) -> Self: ...
    def __and__(self, other: int | Self, /) -> Self: ...
    def __int__(self) -> int: ...
    def __bool__(self) -> bool: ...
    def __eq__(self, other: object, /) -> bool: ...
    def __hash__(self) -> int: ...

@final
class LLMAttributes:
    """Bitflags describing LLM call properties."""

    STATEFUL: ClassVar[int]
    STREAMING: ClassVar[int]

    def __new__(cls, value: int | Self | None = None) -> Self: ...
    @property
    def is_stateful(self) -> bool:
        """Return whether the STATEFUL flag is set."""
    @property
    def is_streaming(self) -> bool:
        """Return whether the STREAMING flag is set."""
    @property
    def value(self) -> int:
        """Return the raw integer bitmask."""
    def __or__(self, other: int | Self, /) -> Self: ...
    def __and__(self, other: int | Self, /) -> Self: ...
    def __int__(self) -> int: ...
    def __bool__(self) -> bool: ...
    def __eq__(self, other: object, /) -> bool: ...
    def __hash__(self) -> int: ...

# Handles.

@final
class ScopeHandle:
    """An active execution scope."""

    @property
    def uuid(self) -> str:
        """Return the globally unique scope identifier."""
    @property
    def name(self) -> str:
        """Return the human-readable scope name."""
    @property
    def scope_type(self) -> ScopeType:
        """Return the semantic scope type."""
    @property
    def attributes(self) -> ScopeAttributes:
        """Return the scope attribute bitmask."""
    @property
    def parent_uuid(self) -> str | None:
        """Return the parent scope UUID, or None for a root scope."""
    @property
    def root_uuid(self) -> str:
        """Return the UUID of the root scope of this run."""
    @property
    def data(self) -> Json:
        """Return application data captured on the scope, if any."""
    @property
    def metadata(self) -> Json:
        """Return metadata captured on the scope, if any."""
    @property
    def ended(self) -> bool:
        """Return whether the scope has been popped or ended."""
    def __eq__(self, other: object, /) -> bool: ...
    def __hash__(self) -> int: ...

@final
class ScopeStack:
    """The isolated scope hierarchy of one logical run, captured at a point in it."""

    @property
    def root_uuid(self) -> str:
        """Return the UUID of this stack's root scope."""
    @property
    def top(self) -> ScopeHandle:
        """Return the scope that is current in this stack."""

@final
class ToolHandle:
    """An active tool call."""

    @property
    def uuid(self) -> str:
        """Return the globally unique call identifier."""
    @property
    def name(self) -> str:
        """Return the call name."""
    @property
    def attributes(self) -> ToolAttributes:
        """Return the attribute bitmask."""
    @property
    def parent_uuid(self) -> str | None:
        """Return the parent scope UUID, if any."""
    @property
    def data(self) -> Json:
        """Return application data captured on the call, if any."""
    @property
    def metadata(self) -> Json:
        """Return metadata captured on the call, if any."""
    @property
    def ended(self) -> bool:
        """Return whether the end event has been emitted."""
    @property
    def tool_call_id(self) -> str | None:
        """Return the provider tool-call id, if any."""

@final
class LLMHandle:
    """An active LLM call."""

    @property
    def uuid(self) -> str:
        """Return the globally unique call identifier."""
    @property
    def name(self) -> str:
        """Return the call name."""
    @property
    def attributes(self) -> LLMAttributes:
        """Return the attribute bitmask."""
    @property
    def parent_uuid(self) -> str | None:
        """Return the parent scope UUID, if any."""
    @property
    def data(self) -> Json:
        """Return application data captured on the call, if any."""
    @property
    def metadata(self) -> Json:
        """Return metadata captured on the call, if any."""
    @property
    def ended(self) -> bool:
        """Return whether the end event has been emitted."""
    @property
    def model_name(self) -> str | None:
        """Return the model name, if any."""

# Events.

@final
class ScopeEvent:
    """ATOF scope lifecycle event emitted to subscribers."""

    @property
    def kind(self) -> Literal["scope"]:
        """Return the discriminant value "scope"."""
    @property
    def scope_category(self) -> Literal["start", "end"]:
        """Return whether this is a start or end lifecycle event."""
    @property
    def atof_version(self) -> str:
        """Return the ATOF schema version used for this event."""
    @property
    def parent_uuid(self) -> str | None:
        """Return the parent event UUID, if present."""
    @property
    def uuid(self) -> str:
        """Return the event UUID."""
    @property
    def root_uuid(self) -> str:
        """Return the UUID of the root scope of the run this event belongs to."""
    @property
    def timestamp(self) -> str:
        """Return the event timestamp as an RFC 3339 string."""
    @property
    def name(self) -> str:
        """Return the event name."""
    @property
    def data(self) -> Json:
        """Return application data attached to the event, if any."""
    @property
    def metadata(self) -> Json:
        """Return metadata attached to the event, if any."""
    @property
    def attributes(self) -> list[str]:
        """Return stringified semantic attributes attached to the event."""
    @property
    def category(self) -> str:
        """Return the semantic event category."""
    @property
    def category_profile(self) -> JsonObject | None:
        """Return category-specific profile data, if any."""
    @property
    def data_schema(self) -> JsonObject | None:
        """Return a schema descriptor for data, if one is present."""
    @property
    def error(self) -> dict[str, str] | None:
        """Return the failure recorded on a failed call's end event: {"type", "message"}."""
    @property
    def annotated_request(self) -> AnnotatedLLMRequest | None:
        """Return the normalized LLM request annotation, if present."""
    @property
    def annotated_response(self) -> AnnotatedLLMResponse | None:
        """Return the normalized LLM response annotation, if present."""
    def to_dict(self) -> JsonObject:
        """Return the event as a JSON-compatible dict (ATOF field names)."""
    def to_json(self) -> str:
        """Return the event as canonical JSON text (keys sorted)."""

@final
class MarkEvent:
    """ATOF point-in-time mark event emitted to subscribers."""

    @property
    def kind(self) -> Literal["mark"]:
        """Return the discriminant value "mark"."""
    @property
    def atof_version(self) -> str:
        """Return the ATOF schema version used for this event."""
    @property
    def parent_uuid(self) -> str | None:
        """Return the parent event UUID, if present."""
    @property
    def uuid(self) -> str:
        """Return the event UUID."""
    @property
    def root_uuid(self) -> str:
        """Return the UUID of the root scope of the run this event belongs to."""
    @property
    def timestamp(self) -> str:
        """Return the event timestamp as an RFC 3339 string."""
    @property
    def name(self) -> str:
        """Return the event name."""
    @property
    def data(self) -> Json:
        """Return application data attached to the event, if any."""
    @property
    def metadata(self) -> Json:
        """Return metadata attached to the event, if any."""
    @property
    def category(self) -> str | None:
        """Return the semantic mark category, if present."""
    @property
    def category_profile(self) -> JsonObject | None:
        """Return category-specific profile data, if any."""
    @property
    def data_schema(self) -> JsonObject | None:
        """Return a schema descriptor for data, if one is present."""
    def to_dict(self) -> JsonObject:
        """Return the event as a JSON-compatible dict (ATOF field names)."""
    def to_json(self) -> str:
        """Return the event as canonical JSON text (keys sorted)."""

# LLM request and annotations.

@final
class LLMRequest:
    """An LLM request carrying headers and a content payload (mutable dicts)."""

    __hash__: ClassVar[None]  # type: ignore[assignment]

    def __new__(cls, headers: Mapping[str, JsonValue], content: JsonObject) -> Self: ...
    @property
    def headers(self) -> JsonObject:
        """Return the request headers (a mutable dict)."""
    @headers.setter
    def headers(self, value: Mapping[str, JsonValue], /) -> None: ...
    @property
    def content(self) -> JsonObject:
        """Return the request content body (a mutable dict)."""
    @content.setter
    def content(self, value: Mapping[str, JsonValue], /) -> None: ...
    def to_dict(self) -> JsonObject:
        """Return ``{"headers": ..., "content": ...}`` as a new dict."""
    def __eq__(self, other: object, /) -> bool: ...

@final
class AnnotatedLLMRequest:
    """Structured view of an LLM request produced by a codec."""

    __hash__: ClassVar[None]  # type: ignore[assignment]

    def __new__(
        cls,
        messages: Sequence[Mapping[str, JsonValue]],
        *,
        model: str | None = None,
        params: Mapping[str, JsonValue] | None = None,
        tools: Sequence[Mapping[str, JsonValue]] | None = None,
        tool_choice: str | Mapping[str, JsonValue] | None = None,
        extra: Mapping[str, JsonValue] | None = None,
        store: bool | None = None,
        previous_response_id: str | None = None,
        truncation: str | None = None,
        reasoning: Json | None = None,
        include: Sequence[str] | None = None,
        user: str | None = None,
        metadata: Mapping[str, JsonValue] | None = None,
        service_tier: str | None = None,
        parallel_tool_calls: bool | None = None,
        max_output_tokens: int | None = None,
        max_tool_calls: int | None = None,
        top_logprobs: int | None = None,
        stream: bool | None = None,
    ) -> Self: ...
    @property
    def messages(self) -> list[JsonObject]:
        """Return normalized message objects."""
    @messages.setter
    def messages(self, value: Sequence[Mapping[str, JsonValue]], /) -> None: ...
    @property
    def model(self) -> str | None:
        """Return the normalized model name, if present."""
    @model.setter
    def model(self, value: str | None, /) -> None: ...
    @property
    def params(self) -> JsonObject | None:
        """Return provider parameters, if present."""
    @params.setter
    def params(self, value: Mapping[str, JsonValue] | None, /) -> None: ...
    @property
    def tools(self) -> list[JsonObject] | None:
        """Return normalized tool declarations, if present."""
    @tools.setter
    def tools(self, value: Sequence[Mapping[str, JsonValue]] | None, /) -> None: ...
    @property
    def tool_choice(self) -> str | JsonObject | None:
        """Return the normalized tool-choice directive, if present."""
    @tool_choice.setter
    def tool_choice(self, value: str | Mapping[str, JsonValue] | None, /) -> None: ...
    @property
    def extra(self) -> JsonObject:
        """Return provider-specific request fields."""
    @extra.setter
    def extra(self, value: Mapping[str, JsonValue] | None, /) -> None: ...
    @property
    def store(self) -> bool | None:
        """Return whether the provider stores the response, if set."""
    @store.setter
    def store(self, value: bool | None, /) -> None: ...
    @property
    def previous_response_id(self) -> str | None:
        """Return the response this request continues, if set."""
    @previous_response_id.setter
    def previous_response_id(self, value: str | None, /) -> None: ...
    @property
    def truncation(self) -> str | None:
        """Return the context truncation strategy, if set."""
    @truncation.setter
    def truncation(self, value: str | None, /) -> None: ...
    @property
    def reasoning(self) -> Json | None:
        """Return the reasoning configuration, if set."""
    @reasoning.setter
    def reasoning(self, value: Json | None, /) -> None: ...
    @property
    def include(self) -> list[str] | None:
        """Return the extra outputs to include, if set."""
    @include.setter
    def include(self, value: Sequence[str] | None, /) -> None: ...
    @property
    def user(self) -> str | None:
        """Return the end-user identifier, if set."""
    @user.setter
    def user(self, value: str | None, /) -> None: ...
    @property
    def metadata(self) -> JsonObject | None:
        """Return the request metadata, if set."""
    @metadata.setter
    def metadata(self, value: Mapping[str, JsonValue] | None, /) -> None: ...
    @property
    def service_tier(self) -> str | None:
        """Return the service tier, if set."""
    @service_tier.setter
    def service_tier(self, value: str | None, /) -> None: ...
    @property
    def parallel_tool_calls(self) -> bool | None:
        """Return whether tools may be called in parallel, if set."""
    @parallel_tool_calls.setter
    def parallel_tool_calls(self, value: bool | None, /) -> None: ...
    @property
    def max_output_tokens(self) -> int | None:
        """Return the output token cap as the provider names it, if set."""
    @max_output_tokens.setter
    def max_output_tokens(self, value: int | None, /) -> None: ...
    @property
    def max_tool_calls(self) -> int | None:
        """Return the cap on built-in tool calls, if set."""
    @max_tool_calls.setter
    def max_tool_calls(self, value: int | None, /) -> None: ...
    @property
    def top_logprobs(self) -> int | None:
        """Return the number of log-probabilities per token, if set."""
    @top_logprobs.setter
    def top_logprobs(self, value: int | None, /) -> None: ...
    @property
    def stream(self) -> bool | None:
        """Return whether the response is streamed, if set."""
    @stream.setter
    def stream(self, value: bool | None, /) -> None: ...
    def system_prompt(self) -> str | None:
        """Return the first normalized system prompt, if one is present."""
    def last_user_message(self) -> str | None:
        """Return the last normalized user message text, if one is present."""
    def has_tool_calls(self) -> bool:
        """Return whether the normalized request includes tool declarations."""
    def to_dict(self) -> JsonObject:
        """Return the annotation as a JSON-compatible dict."""
    def __eq__(self, other: object, /) -> bool: ...

@final
class AnnotatedLLMResponse:
    """Structured view of an LLM response produced by a response codec."""

    __hash__: ClassVar[None]  # type: ignore[assignment]

    def __new__(
        cls,
        *,
        id: str | None = None,
        model: str | None = None,
        message: Json | None = None,
        tool_calls: Sequence[Mapping[str, JsonValue]] | None = None,
        finish_reason: str | None = None,
        usage: Mapping[str, JsonValue] | None = None,
        api_specific: Mapping[str, JsonValue] | None = None,
        extra: Mapping[str, JsonValue] | None = None,
    ) -> Self: ...
    @property
    def id(self) -> str | None:
        """Return the provider response identifier, if present."""
    @property
    def model(self) -> str | None:
        """Return the provider model name, if present."""
    @property
    def message(self) -> Json | None:
        """Return the normalized primary message payload, if present."""
    @property
    def tool_calls(self) -> list[JsonObject] | None:
        """Return normalized tool-call payloads, if present."""
    @property
    def finish_reason(self) -> str | None:
        """Return the provider finish reason, if present."""
    @property
    def usage(self) -> JsonObject | None:
        """Return normalized usage accounting, if present."""
    @property
    def api_specific(self) -> JsonObject | None:
        """Return provider-specific response fields, if present."""
    @property
    def extra(self) -> JsonObject:
        """Return additional normalized response fields."""
    def response_text(self) -> str | None:
        """Return extracted response text, if present."""
    def has_tool_calls(self) -> bool:
        """Return whether the response contains tool-call payloads."""
    def to_dict(self) -> JsonObject:
        """Return the annotation as a JSON-compatible dict."""
    def __eq__(self, other: object, /) -> bool: ...

# Provider codecs, stream collectors and the SSE decoder (nemo_flow.codecs).

@final
class OpenAIChatCodec:
    """Native codec for OpenAI Chat Completions requests and responses."""

    def __new__(cls) -> Self: ...
    def decode(self, request: LLMRequest) -> AnnotatedLLMRequest:
        """Decode a provider request into the annotated view."""
    def encode(self, annotated: AnnotatedLLMRequest | Mapping[str, JsonValue], original: LLMRequest) -> LLMRequest:
        """Apply an annotated view over `original`, returning the provider request."""
    def decode_response(self, response: Json) -> AnnotatedLLMResponse:
        """Decode a provider response into the annotated view."""

@final
class OpenAIResponsesCodec:
    """Native codec for OpenAI Responses requests and responses."""

    def __new__(cls) -> Self: ...
    def decode(self, request: LLMRequest) -> AnnotatedLLMRequest:
        """Decode a provider request into the annotated view."""
    def encode(self, annotated: AnnotatedLLMRequest | Mapping[str, JsonValue], original: LLMRequest) -> LLMRequest:
        """Apply an annotated view over `original`, returning the provider request."""
    def decode_response(self, response: Json) -> AnnotatedLLMResponse:
        """Decode a provider response into the annotated view."""

@final
class AnthropicMessagesCodec:
    """Native codec for Anthropic Messages requests and responses."""

    def __new__(cls) -> Self: ...
    def decode(self, request: LLMRequest) -> AnnotatedLLMRequest:
        """Decode a provider request into the annotated view."""
    def encode(self, annotated: AnnotatedLLMRequest | Mapping[str, JsonValue], original: LLMRequest) -> LLMRequest:
        """Apply an annotated view over `original`, returning the provider request."""
    def decode_response(self, response: Json) -> AnnotatedLLMResponse:
        """Decode a provider response into the annotated view."""

@final
class OpenAIChatStreamCollector:
    """Rebuilds an OpenAI Chat Completions response from its ``chat.completion.chunk`` stream.

    Pass its bound methods to ``llm.stream_execute``: ``collector=c.collect``,
    ``finalizer=c.finalize``; the finalized response decodes with the matching
    response codec.
    """

    def __new__(cls) -> Self: ...
    def collect(self, chunk: Any) -> None:
        """Take the next stream chunk (a JSON event, or an SDK object with ``model_dump``)."""
    def finalize(self) -> JsonObject:
        """Return the rebuilt complete response; the collector starts over afterwards."""

@final
class OpenAIResponsesStreamCollector:
    """Rebuilds an OpenAI Responses response from its stream events.

    Pass its bound methods to ``llm.stream_execute``: ``collector=c.collect``,
    ``finalizer=c.finalize``; the finalized response decodes with the matching
    response codec.
    """

    def __new__(cls) -> Self: ...
    def collect(self, chunk: Any) -> None:
        """Take the next stream chunk (a JSON event, or an SDK object with ``model_dump``)."""
    def finalize(self) -> JsonObject:
        """Return the rebuilt complete response; the collector starts over afterwards."""

@final
class AnthropicMessagesStreamCollector:
    """Rebuilds an Anthropic Messages response from its stream events.

    Pass its bound methods to ``llm.stream_execute``: ``collector=c.collect``,
    ``finalizer=c.finalize``; the finalized response decodes with the matching
    response codec.
    """

    def __new__(cls) -> Self: ...
    def collect(self, chunk: Any) -> None:
        """Take the next stream chunk (a JSON event, or an SDK object with ``model_dump``)."""
    def finalize(self) -> JsonObject:
        """Return the rebuilt complete response; the collector starts over afterwards."""

@final
class SseDecoder:
    """Incremental server-sent-events decoder: feed raw bytes (or text) as they arrive and get
    back the JSON payload of every completed event; ``[DONE]``, comments and keep-alives are
    dropped.
    """

    def __new__(cls) -> Self: ...
    def feed(self, data: bytes | bytearray | str) -> list[Json]:
        """Feed the next piece of the stream; return the events it completes."""
    def finish(self) -> list[Json]:
        """End of stream: return the event of a last frame that had no closing blank line."""

# Scopes.

@final
class ScopeContext:
    """Context manager returned by ``scope.scope()``: pushes on enter, pops on exit; works
    with ``with`` and ``async with``.

    An exception leaving the block is recorded on the end event.
    """

    def __new__(
        cls,
        name: str,
        scope_type: ScopeType | str,
        *,
        handle: ScopeHandle | None = None,
        attributes: ScopeAttributes | int | None = None,
        data: Json | None = None,
        metadata: Json | None = None,
        input: Json | None = None,
        timestamp: datetime | None = None,
        end_timestamp: datetime | None = None,
    ) -> Self: ...
    def __enter__(self) -> ScopeHandle: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
        /,
    ) -> Literal[False]: ...
    def __aenter__(self) -> Awaitable[ScopeHandle]:
        """``async with``: the same push as ``with``, as an awaitable that is already done."""
    def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
        /,
    ) -> Awaitable[Literal[False]]:
        """``async with`` exit: the same pop as ``with``."""

def push(
    name: str,
    scope_type: ScopeType | str,
    *,
    handle: ScopeHandle | None = None,
    attributes: ScopeAttributes | int | None = None,
    data: Json | None = None,
    metadata: Json | None = None,
    input: Json | None = None,
    timestamp: datetime | None = None,
) -> ScopeHandle:
    """Push a child scope and emit its start event."""

def pop(handle: ScopeHandle, *, output: Json | None = None, timestamp: datetime | None = None) -> None:
    """Pop ``handle``, which must be the current scope, and emit its end event."""

def get_handle() -> ScopeHandle:
    """Return the current scope handle (the implicit root when nothing is pushed)."""

def event(
    name: str,
    *,
    handle: ScopeHandle | None = None,
    data: Json | None = None,
    metadata: Json | None = None,
    timestamp: datetime | None = None,
) -> None:
    """Emit a mark under the current scope, or under ``handle``."""

def start_detached(
    name: str,
    scope_type: ScopeType | str,
    *,
    parent: ScopeHandle | None = None,
    attributes: ScopeAttributes | int | None = None,
    data: Json | None = None,
    metadata: Json | None = None,
    input: Json | None = None,
    timestamp: datetime | None = None,
) -> ScopeHandle:
    """Start a scope under ``parent`` (default: the current scope) without making it current."""

def end_detached(
    handle: ScopeHandle,
    *,
    output: Json | None = None,
    error: BaseException | None = None,
    timestamp: datetime | None = None,
) -> None:
    """End a scope started with ``start_detached``."""

def get_scope_stack() -> ScopeStack:
    """Return the current context's stack, creating one when there is none."""

def scope_stack_active() -> bool:
    """Return whether the current context already has a scope stack."""

def propagate_scope_to_thread() -> ScopeStack:
    """Return the current stack, for ``set_thread_scope_stack`` in another thread."""

def create_scope_stack() -> ScopeStack:
    """Return a new isolated stack with its own root; not installed anywhere."""

def set_thread_scope_stack(stack: ScopeStack) -> None:
    """Install ``stack`` as the current stack of this thread's context."""

# Managed calls (driven by nemo_flow.tools / nemo_flow.llm).

@final
class ToolCall:
    """A managed tool call being driven by Python."""

    def __new__(
        cls,
        name: str,
        args: Json,
        handle: ScopeHandle | None = None,
        attributes: ToolAttributes | int | None = None,
        data: Json | None = None,
        metadata: Json | None = None,
    ) -> Self: ...
    def begin(self) -> tuple[Json, _Intercepts]:
        """Run guardrails, request intercepts and the start event; return ``(args, intercepts)``."""
    def end(self, result: object) -> None:
        """Record success: sanitize-response guardrails and the end event."""
    def intercept_error(self, name: str, exc: BaseException) -> MiddlewareError:
        """The ``MiddlewareError`` the execution intercept ``name`` raising ``exc`` becomes."""
    def fail(self, exc: BaseException) -> None:
        """Record failure: the end event carries the exception's type and message."""
    @property
    def handle(self) -> ToolHandle | None:
        """The call's handle (after ``begin``)."""

@final
class NativeIntercept:
    """A Rust execution intercept in the tuple ``begin()`` returns; the driver polls it."""

    def start(self, call_name: str, value: object) -> NativeStep:
        """Start the intercept for the call ``call_name`` on ``value``."""
    @property
    def name(self) -> str:
        """The registration name."""

@final
class NativeStep:
    """One run of a Rust execution intercept, polled by the Python driver."""

    def poll(self) -> tuple[int, Any]:
        """``(0, result)`` when done, ``(1, value)`` when it calls ``next``, ``(2, None)`` when pending."""
    def answer(self, result: object) -> None:
        """Answer the intercept's ``next`` with the rest of the chain's result."""
    def answer_error(self, exc: BaseException) -> None:
        """Answer the intercept's ``next`` with the rest of the chain's exception."""
    def wait(self) -> Awaitable[None]:
        """Complete when the intercept is woken (async driver)."""
    def block(self) -> None:
        """Block until the intercept is woken (sync driver)."""

def _register_test_intercept(family: str, name: str, priority: int, mode: str) -> None:
    """Test-only: register a Rust execution intercept globally."""

@final
class LlmCall:
    """A managed LLM call (plain or streaming) being driven by Python."""

    def __new__(
        cls,
        name: str,
        request: LLMRequest,
        handle: ScopeHandle | None = None,
        attributes: LLMAttributes | int | None = None,
        data: Json | None = None,
        metadata: Json | None = None,
        model_name: str | None = None,
        codec: LlmCodec | None = None,
        response_codec: LlmResponseCodec | None = None,
        streaming: bool = False,
    ) -> Self: ...
    def begin(self) -> tuple[LLMRequest, _Intercepts]:
        """Run guardrails, request intercepts and the start event; return ``(request, intercepts)``."""
    def chunk(self, chunk: object) -> None:
        """Emit the ``llm.chunk`` mark for the next chunk of a stream."""
    def finish(self, exc: BaseException | None, finalizer: Callable[[], object]) -> object:
        """Finish a stream once: run ``finalizer``, emit the end event, return its result."""
    def end(self, response: object) -> None:
        """Record success: sanitize-response guardrails, the annotation and the end event."""
    def intercept_error(self, name: str, exc: BaseException) -> MiddlewareError:
        """The ``MiddlewareError`` the execution intercept ``name`` raising ``exc`` becomes."""
    def fail(self, exc: BaseException) -> None:
        """Record failure."""
    @property
    def running(self) -> bool:
        """Whether the call has begun and not yet ended."""
    @property
    def handle(self) -> LLMHandle | None:
        """The call's handle (after ``begin``)."""

# Manual calls and individual pipeline steps.

def tool_call(
    name: str,
    args: Json,
    *,
    handle: ScopeHandle | None = None,
    attributes: ToolAttributes | int | None = None,
    data: Json | None = None,
    metadata: Json | None = None,
    tool_call_id: str | None = None,
    timestamp: datetime | None = None,
) -> ToolHandle:
    """Start a manual tool call: sanitize-request guardrails and the start event only."""

def tool_call_end(
    handle: ToolHandle,
    result: Json,
    *,
    data: Json | None = None,
    metadata: Json | None = None,
    timestamp: datetime | None = None,
) -> None:
    """End a manual tool call: sanitize-response guardrails and the end event."""

def llm_call(
    name: str,
    request: LLMRequest,
    *,
    handle: ScopeHandle | None = None,
    attributes: LLMAttributes | int | None = None,
    data: Json | None = None,
    metadata: Json | None = None,
    model_name: str | None = None,
    timestamp: datetime | None = None,
) -> LLMHandle:
    """Start a manual LLM call: sanitize-request guardrails and the start event only."""

def llm_call_end(
    handle: LLMHandle,
    response: Json,
    *,
    data: Json | None = None,
    metadata: Json | None = None,
    annotated_response: AnnotatedLLMResponse | Mapping[str, JsonValue] | None = None,
    response_codec: LlmResponseCodec | None = None,
    timestamp: datetime | None = None,
) -> None:
    """End a manual LLM call; ``annotated_response`` wins over ``response_codec``."""

def tool_request_intercepts(name: str, args: Json) -> Json:
    """Run only the tool request-intercept chain; return the resulting arguments."""

def tool_conditional_execution(name: str, args: Json) -> None:
    """Run only the tool conditional guardrails (raises GuardrailRejected)."""

def llm_request_intercepts(name: str, request: LLMRequest) -> LLMRequest:
    """Run only the LLM request-intercept chain (no codec); return the resulting request."""

def llm_conditional_execution(request: LLMRequest) -> None:
    """Run only the LLM conditional guardrails (raises GuardrailRejected)."""

# Registration.

def register(
    family: _Family,
    scope: ScopeHandle | None,
    name: str,
    priority: int,
    break_chain: bool,
    callback: Callable[..., Any],
) -> None:
    """Register ``callback`` in ``family`` (globally, or on ``scope`` when given)."""

def deregister(family: _Family, scope: ScopeHandle | None, name: str) -> bool:
    """Remove ``name`` from ``family``; return whether it was registered."""

def clear_global() -> int:
    """Remove every global registration; return how many were removed."""

def subscriber_error_count() -> int:
    """Return how many subscriber calls have raised in this process."""

def configure_scrubbing(patterns: Sequence[str] | None = None, sanitized_values: bool = True) -> None:
    """Set the secret patterns scrubbed from recorded error text (``None``: the defaults)."""

def scrubbing_patterns() -> list[str]:
    """Return the secret patterns in force."""

def default_scrubbing_patterns() -> list[str]:
    """Return the secret patterns scrubbed by default."""

def _at_exit() -> None:
    """The atexit hook: stop callbacks from entering Python and wait for those in flight."""

def flush(timeout: float | None = None) -> bool:
    """Drain every exporter's buffer; return whether all finished within ``timeout`` seconds."""

__version__: str
"""The package version, compiled in from the Cargo workspace version."""

_scope_var: ContextVar[ScopeHandle | None]

# --- exporters -------------------------------------------------------------------------------

@final
class AtofExporterMode:
    """How the ATOF file is opened."""

    Append: ClassVar[AtofExporterMode]
    Overwrite: ClassVar[AtofExporterMode]
    def __eq__(self, other: object, /) -> bool: ...
    def __hash__(self) -> int: ...
    def __int__(self) -> int: ...

@final
class AtofExporterConfig:
    """Mutable configuration of an ``AtofExporter``."""

    output_directory: str
    filename: str
    mode: AtofExporterMode
    def __new__(
        cls,
        output_directory: str | None = None,
        filename: str | None = None,
        mode: AtofExporterMode = ...,
        queue_capacity: int | None = None,
    ) -> Self: ...
    @property
    def queue_capacity(self) -> int:
        """Return how many events the exporter's queue holds before it drops."""
    @property
    def path(self) -> str:
        """Return the file the exporter writes: ``output_directory`` joined with ``filename``."""

@final
class AtofExporter:
    """Writes every event it receives as one canonical JSON line."""

    def __new__(cls, config: AtofExporterConfig | None = None) -> Self: ...
    @property
    def path(self) -> str:
        """Return the file this exporter writes."""
    def register(self, name: str) -> None:
        """Register this exporter as a global event subscriber under ``name``."""
    def deregister(self, name: str) -> bool:
        """Deregister ``name``; return whether a subscriber was removed."""
    def force_flush(self, timeout_millis: int | None = None) -> bool:
        """Write every queued event; return ``False`` if some were not written within the timeout
        (default: the config's). Raises ``OSError`` when a write failed."""
    def shutdown(self, timeout_millis: int | None = None) -> bool:
        """Flush, close the file and stop the worker; later events are dropped and counted."""
    @property
    def dropped_events(self) -> int:
        """Return how many events were dropped (queue full or exporter shut down)."""
    @property
    def exported_events(self) -> int:
        """Return how many events were written."""
    @property
    def failed_events(self) -> int:
        """Return how many events could not be written."""
    @property
    def emitted_events(self) -> int:
        """Return how many events this exporter has received."""

@final
class AtifExporter:
    """Collects events and exports them as an ATIF v1.6 trajectory."""

    def __new__(
        cls,
        session_id: str,
        agent_name: str,
        agent_version: str,
        *,
        model_name: str | None = None,
        tool_definitions: list[JsonObject] | None = None,
        extra: Json | None = None,
    ) -> Self: ...
    def register(self, name: str) -> None:
        """Register this exporter as a global event subscriber under ``name``."""
    def deregister(self, name: str) -> bool:
        """Deregister ``name``; return whether a subscriber was removed."""
    def export(self) -> JsonObject:
        """Return the collected events as an ATIF v1.6 trajectory object."""
    def export_json(self) -> str:
        """Return the collected events as an ATIF v1.6 trajectory JSON string."""
    def clear(self) -> None:
        """Forget the collected events; the registration stays."""
    @property
    def dropped_events(self) -> int:
        """Return how many events were dropped because the exporter was full."""

class _OtlpConfig:
    transport: str
    endpoint: str | None
    service_name: str
    service_namespace: str | None
    service_version: str | None
    instrumentation_scope: str
    timeout_millis: int
    max_queue_size: int
    max_export_batch_size: int
    schedule_delay_millis: int
    export_timeout_millis: int
    headers: dict[str, str]
    resource_attributes: dict[str, str]
    max_concurrent_exports: int
    overflow_policy: Literal["drop", "block", "spool"]
    overflow_block_millis: int
    spool_max_bytes: int
    def __new__(cls) -> Self: ...
    @property
    def spool_path(self) -> Path | None:
        """Return the spool file of the ``"spool"`` overflow policy (None: one per process in
        the temporary directory)."""
    @spool_path.setter
    def spool_path(self, value: str | PathLike[str] | None) -> None: ...
    @property
    def disabled(self) -> bool:
        """Return whether ``OTEL_SDK_DISABLED=true`` turned the subscriber off."""
    def set_header(self, key: str, value: str) -> None:
        """Set one OTLP request header (validated: a name without separators, a value
        without CR, LF or other control characters)."""
    def set_resource_attribute(self, key: str, value: str) -> None:
        """Set one resource attribute."""

class _OtlpSubscriber:
    def register(self, name: str) -> None:
        """Register this subscriber as a global event subscriber under ``name``."""
    def deregister(self, name: str) -> bool:
        """Deregister ``name``; return whether a subscriber was removed."""
    def force_flush(self, timeout_millis: int | None = None) -> bool:
        """Export every finished span; return ``False`` if some were not delivered within the timeout
        (default: the config's ``timeout_millis``); ``last_error`` says why."""
    def shutdown(self, timeout_millis: int | None = None) -> bool:
        """Close spans still open, flush and stop; later events are dropped and counted."""
    @property
    def dropped_events(self) -> int:
        """Return how many events were dropped (queue full or subscriber shut down)."""
    @property
    def exported_events(self) -> int:
        """Return how many events reached the backend."""
    @property
    def failed_events(self) -> int:
        """Return how many events the backend did not accept."""
    @property
    def emitted_events(self) -> int:
        """Return how many events this subscriber has received."""
    @property
    def spooled_events(self) -> int:
        """Return how many events wait in the spool for the backend (they count as exported
        once sent)."""
    @property
    def spool_path(self) -> Path | None:
        """Return the spool file in use (``"spool"`` overflow policy only)."""
    @property
    def last_error(self) -> str | None:
        """Return the most recent export failure, if any."""
    @property
    def endpoint(self) -> str:
        """Return the resolved OTLP endpoint."""
    @property
    def resource(self) -> dict[str, str]:
        """Return the resolved resource attributes."""

@final
class OpenTelemetryConfig(_OtlpConfig):
    """Mutable configuration of ``OpenTelemetrySubscriber``."""

@final
class OpenTelemetrySubscriber(_OtlpSubscriber):
    """Exports lifecycle events as OpenTelemetry (GenAI conventions) spans over OTLP."""

    def __new__(cls, config: OpenTelemetryConfig) -> Self: ...

@final
class OpenInferenceConfig(_OtlpConfig):
    """Mutable configuration of ``OpenInferenceSubscriber``."""

@final
class OpenInferenceSubscriber(_OtlpSubscriber):
    """Exports lifecycle events as OpenInference spans over OTLP."""

    def __new__(cls, config: OpenInferenceConfig) -> Self: ...

def shutdown_exporters(timeout: float) -> bool:
    """Flush and stop every exporter, waiting at most ``timeout`` seconds; returns whether all
    queued batches were delivered in time."""

def _restart_exporters_after_fork() -> None: ...

# Plugins (nemo_flow.plugin)

@final
class PluginContext:
    """What a plugin's ``register(config, context)`` installs through. Every name gets the
    component's namespace prefix; every registration is undone when the configuration is
    cleared, replaced or rolled back; registering after ``register`` returned is refused.
    Each ``register_*`` returns the full (namespaced) name."""

    @property
    def kind(self) -> str:
        """Return the component kind being registered (the ``kind`` of its configuration entry)."""
    @property
    def prefix(self) -> str:
        """Return the namespace prefix every name registered through this context gets,
        ``__nemo_flow_plugin__<kind>__`` (with ``<ordinal>__`` when the kind repeats)."""
    def register_tool_sanitize_request_guardrail(self, name: str, priority: int, guardrail: Callable[..., Any]) -> str:
        """Register a tool sanitize-request guardrail named ``<prefix><name>`` (see
        ``nemo_flow.guardrails.register_tool_sanitize_request``); returns the full name.

        Raises:
            RegistrationError: the name is taken, or ``register`` has already returned.
        """
    def register_tool_sanitize_response_guardrail(self, name: str, priority: int, guardrail: Callable[..., Any]) -> str:
        """Register a tool sanitize-response guardrail named ``<prefix><name>`` (see
        ``nemo_flow.guardrails.register_tool_sanitize_response``); returns the full name.

        Raises:
            RegistrationError: the name is taken, or ``register`` has already returned.
        """
    def register_tool_conditional_execution_guardrail(
        self, name: str, priority: int, guardrail: Callable[..., Any]
    ) -> str:
        """Register a tool conditional-execution guardrail named ``<prefix><name>`` (see
        ``nemo_flow.guardrails.register_tool_conditional_execution``); returns the full name.

        Raises:
            RegistrationError: the name is taken, or ``register`` has already returned.
        """
    def register_llm_sanitize_request_guardrail(self, name: str, priority: int, guardrail: Callable[..., Any]) -> str:
        """Register an LLM sanitize-request guardrail named ``<prefix><name>`` (see
        ``nemo_flow.guardrails.register_llm_sanitize_request``); returns the full name.

        Raises:
            RegistrationError: the name is taken, or ``register`` has already returned.
        """
    def register_llm_sanitize_response_guardrail(self, name: str, priority: int, guardrail: Callable[..., Any]) -> str:
        """Register an LLM sanitize-response guardrail named ``<prefix><name>`` (see
        ``nemo_flow.guardrails.register_llm_sanitize_response``); returns the full name.

        Raises:
            RegistrationError: the name is taken, or ``register`` has already returned.
        """
    def register_llm_conditional_execution_guardrail(
        self, name: str, priority: int, guardrail: Callable[..., Any]
    ) -> str:
        """Register an LLM conditional-execution guardrail named ``<prefix><name>`` (see
        ``nemo_flow.guardrails.register_llm_conditional_execution``); returns the full name.

        Raises:
            RegistrationError: the name is taken, or ``register`` has already returned.
        """
    def register_tool_request_intercept(
        self, name: str, priority: int, break_chain: bool, fn: Callable[..., Any]
    ) -> str:
        """Register a tool request intercept named ``<prefix><name>`` (see
        ``nemo_flow.intercepts.register_tool_request``); returns the full name.

        Raises:
            RegistrationError: the name is taken, or ``register`` has already returned.
        """
    def register_llm_request_intercept(
        self, name: str, priority: int, break_chain: bool, fn: Callable[..., Any]
    ) -> str:
        """Register an LLM request intercept named ``<prefix><name>`` (see
        ``nemo_flow.intercepts.register_llm_request``); returns the full name.

        Raises:
            RegistrationError: the name is taken, or ``register`` has already returned.
        """
    def register_tool_execution_intercept(self, name: str, priority: int, fn: Callable[..., Any]) -> str:
        """Register a tool execution intercept named ``<prefix><name>`` (see
        ``nemo_flow.intercepts.register_tool_execution``); returns the full name.

        Raises:
            RegistrationError: the name is taken, or ``register`` has already returned.
        """
    def register_llm_execution_intercept(self, name: str, priority: int, fn: Callable[..., Any]) -> str:
        """Register an LLM execution intercept named ``<prefix><name>`` (see
        ``nemo_flow.intercepts.register_llm_execution``); returns the full name.

        Raises:
            RegistrationError: the name is taken, or ``register`` has already returned.
        """
    def register_llm_stream_execution_intercept(self, name: str, priority: int, fn: Callable[..., Any]) -> str:
        """Register an LLM stream-execution intercept named ``<prefix><name>`` (see
        ``nemo_flow.intercepts.register_llm_stream_execution``); returns the full name.

        Raises:
            RegistrationError: the name is taken, or ``register`` has already returned.
        """
    def register_subscriber(self, name: str, callback: Callable[..., Any]) -> str:
        """Register an event subscriber named ``<prefix><name>`` (see
        ``nemo_flow.subscribers.register``); returns the full name.

        Raises:
            RegistrationError: the name is taken, or ``register`` has already returned.
        """
    def add_cleanup(self, callback: Callable[[], object]) -> None:
        """Run ``callback`` when this component is torn down (configuration cleared, replaced
        or rolled back), after its registrations are removed; for resources the plugin opened
        itself (files, exporters, threads)."""

def plugin_register(kind: str, plugin: object) -> None: ...
def plugin_deregister(kind: str) -> bool: ...
def plugin_list_kinds() -> list[str]: ...
def plugin_validate(config: Json) -> dict[str, Any]: ...
def plugin_initialize(config: Json) -> dict[str, Any]: ...
def plugin_clear() -> None: ...
def plugin_report() -> dict[str, Any] | None: ...
def plugin_active_config() -> JsonObject | None: ...

# -- policy (nemo_flow.policy is the public API) --
def policy_validate(config: Mapping[str, Any], unknown_field: str = "error") -> list[dict[str, Any]]: ...
def policy_evaluate(
    config: Mapping[str, Any], target: str, name: str, payload: Any, capability: str | None = None
) -> dict[str, Any]: ...
def policy_backtest(config: Mapping[str, Any], atof_path: str) -> dict[str, Any]: ...
def policy_from_nemoir(
    manifest: Mapping[str, Any], inputs: Mapping[str, Any]
) -> tuple[dict[str, Any], list[dict[str, Any]]]: ...
def policy_register_approver(name: str, call: Callable[[str, dict[str, Any]], Any]) -> None: ...
def policy_deregister_approver(name: str) -> bool: ...
def policy_activate(config: Mapping[str, Any], name: str) -> dict[str, Any]: ...
def policy_deactivate(name: str) -> bool: ...

# Adaptive component (nemo-flow-adaptive): config validation and the cache governor.

def adaptive_validate_config(
    config: Mapping[str, Any], policy: Mapping[str, str] | None = None
) -> list[dict[str, str]]:
    """Diagnostics (``{level, code, message, component, field?}``) of an ``adaptive`` config."""

def canonical_json(value: Json) -> str:
    """The RFC 8785 canonical JSON text of ``value``."""

@final
class CacheGovernor:
    """The adaptive cache governor (prompt IR, stability, provider planners) and its ledger."""

    def __new__(cls, acg: Mapping[str, Any] | None = None) -> Self: ...
    @property
    def provider(self) -> str:
        """Return the planner in use: ``"anthropic"``, ``"openai"`` or ``"passthrough"``."""
    def govern(self, request: Mapping[str, Any]) -> tuple[JsonObject, JsonObject]:
        """Plan the provider's cache changes for ``request``; return ``(request, plan)``, the
        request as a new dict with the changes (the argument is not modified). A request it
        cannot read comes back unchanged with ``plan["error"]`` set (fail-open)."""
    def observe(self, request: Mapping[str, Any], timestamp_ms: int) -> bool:
        """Learn ``request`` (as the application built it) at ``timestamp_ms``; return False
        when it is not an LLM request the governor can read."""
    def build_cache_request_facts(
        self, *, request_id: str, request: Mapping[str, Any], agent_id: str, timestamp_ms: int
    ) -> JsonObject | None:
        """Return facts about ``request`` (as sent) against the previous request with its
        prefix: stable and matched prefix blocks and tokens, the provider minimum, the first
        changed block; remembered under ``request_id`` for :meth:`record_usage`. None for a
        request it cannot read."""
    def record_usage(self, request_id: str, usage: Mapping[str, Any]) -> JsonObject | None:
        """Record the response usage of ``request_id`` in the cache ledger and return the
        entry (hit rate, cache read/creation tokens, prompt tokens, miss reason, cost saved),
        or None when the facts or the usage shape are unknown."""
    def cache_report(self) -> JsonObject:
        """Return the cache ledger: ``{"total": {...}, "by_key": {learning_key: {...}}}``."""
    def set_price(
        self,
        pattern: str,
        input_per_mtok: float,
        cache_read_multiplier: float,
        cache_write_5m_multiplier: float = 1.25,
        cache_write_1h_multiplier: float = 2.0,
    ) -> None:
        """Override the price of models whose name contains ``pattern``: USD per million
        input tokens, and the cache read/write prices as multipliers of it."""
