"""NemoIR runtime (``nemoir-runtime`` 0.11): managed tool and model calls, scopes and policy
events for compiled workflows, through NemoIR's public hook points (no patching).

- :class:`ManagedToolRegistry` makes every tool call a managed tool call: model-requested,
  deterministic-stage, and calls a ``before`` policy requires. A nemo_flow guardrail rejection
  becomes NemoIR's ``PolicyDeniedError``, which NemoIR feeds back to the model as a retryable
  tool error; every other exception keeps its type.
- :class:`ManagedModelAdapter` makes every model call a managed LLM call with an OpenAI chat
  request; :class:`ManagedStreamingModelAdapter` (chosen by :func:`wrap_model` when the inner
  adapter streams) a managed stream. Reasoning text stays out of events unless
  ``capture_reasoning=True``.
- :class:`EventBridge` (a NemoIR event sink) turns stages into Function scopes, policy
  decisions into guardrail scope pairs and rejection marks, retries and transitions into marks.
- :class:`InstrumentedWorkflowRuntime` runs each workflow run as an Agent scope;
  :func:`instrument` builds one with all of the above.

A NemoIR tool call made managed, so a nemo_flow guardrail can refuse it (NemoIR then sees its
own ``PolicyDeniedError``):

    >>> import asyncio
    >>> import nemoir_runtime as nir
    >>> from nemo_flow import guardrails
    >>> from nemo_flow.integrations.nemoir import ManagedToolRegistry
    >>> @nir.tool(capability="os.shell", description="Run a shell command")
    ... async def run_shell(command: str, ctx) -> str:
    ...     return f"ran {command}"
    >>> registry = ManagedToolRegistry(nir.ToolRegistry([run_shell]))
    >>> ctx = nir.ToolContext(workflow_id="w", stage_id="s", inputs={})
    >>> def no_curl(name, args):
    ...     return "no network tools" if "curl" in args["command"] else None
    >>> guardrails.register_tool_conditional_execution("doc-no-curl", 0, no_curl)
    >>> asyncio.run(registry.call("os.shell", {"command": "ls"}, ctx))
    'ran ls'
    >>> try:
    ...     asyncio.run(registry.call("os.shell", {"command": "curl x"}, ctx))
    ... except nir.PolicyDeniedError as e:
    ...     print("denied")
    denied
    >>> guardrails.deregister_tool_conditional_execution("doc-no-curl")
    True
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

import nemoir_runtime as nir  # type: ignore[import-untyped]
from nemoir_runtime import models as nir_models

from .. import llm, scope, tools
from .._native import GuardrailRejected, LLMRequest, ScopeHandle, ScopeType
from ..codecs import OpenAIChatCodec

__all__ = [
    "EventBridge",
    "InstrumentedWorkflowRuntime",
    "ManagedModelAdapter",
    "ManagedStreamingModelAdapter",
    "ManagedToolRegistry",
    "instrument",
    "managed_model_stage_executor",
    "wrap_model",
]

_log = logging.getLogger("nemo_flow")
_CODEC = OpenAIChatCodec()


def _json(value: Any, depth: int = 0) -> Any:
    """A JSON view of a NemoIR value (``Path`` as str, dataclasses as dicts, else ``repr``)."""
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        return value if value == value and abs(value) != float("inf") else repr(value)
    if isinstance(value, Path):
        return str(value)
    if depth > 16:
        return repr(value)
    if isinstance(value, Mapping):
        return {str(k): _json(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_json(v, depth + 1) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _json(dataclasses.asdict(value), depth + 1)
    return repr(value)


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), default=repr)


# Tools.


class ManagedToolRegistry(nir.ToolRegistry):  # type: ignore[misc]
    """A ``ToolRegistry`` whose ``call`` is a managed tool call; the rest delegates to ``inner``.

    NemoIR's own policies run before ``call``, so a call they deny never gets here.
    """

    def __init__(self, inner: nir.ToolRegistry, *, metadata: Mapping[str, Any] | None = None) -> None:
        # A pure delegate: NemoIR calls only these five methods on a registry.
        if not isinstance(inner, nir.ToolRegistry):
            raise TypeError(f"inner: expected a nemoir_runtime.ToolRegistry, got {type(inner).__name__}")
        self.inner = inner
        self._metadata = _json(dict(metadata or {}))

    def get(self, capability: str) -> nir.Tool | None:
        """The inner registry's tool for ``capability``."""
        return self.inner.get(capability)

    def get_by_name(self, name: str) -> nir.Tool | None:
        """The inner registry's tool named ``name``."""
        return self.inner.get_by_name(name)

    def tools_for_capabilities(self, capabilities: Iterable[str]) -> tuple[nir.Tool, ...]:
        """The inner registry's tools for ``capabilities``."""
        return tuple(self.inner.tools_for_capabilities(capabilities))

    def require_capabilities(self, capabilities: Iterable[str]) -> None:
        """Delegates to the inner registry (raises when a capability has no tool)."""
        self.inner.require_capabilities(capabilities)

    async def call(
        self, capability: str, args: Mapping[str, Any], ctx: nir.ToolContext, *, tool_name: str | None = None
    ) -> Any:
        """Run the tool as a managed tool call named after the tool, with the capability,
        stage and workflow ids as metadata. Guardrails and intercepts see the arguments as
        JSON; the tool gets the original objects unless an intercept changed them.

        Raises:
            nemoir_runtime.PolicyDeniedError: a nemo_flow guardrail rejected the call.
        """
        tool = self.inner.get_by_name(tool_name) if tool_name else self.inner.get(capability)
        name = tool.name if tool is not None else (tool_name or capability)
        json_args = _json(args)
        snap = _dumps(json_args)
        box: list[Any] = []

        async def run(edited: Any) -> Any:
            real = args if _dumps(edited) == snap else _coerce_args(edited, tool)
            result = await self.inner.call(capability, real, ctx, tool_name=tool_name)
            body = _json(result)
            box[:] = [result, _dumps(body)]
            return body

        metadata = {
            **self._metadata,
            "nemoir.capability": capability,
            "nemoir.stage_id": ctx.stage_id,
            "nemoir.workflow_id": ctx.workflow_id,
        }
        try:
            body = await tools.execute(name, json_args, run, metadata=metadata)
        except GuardrailRejected as exc:
            raise nir.PolicyDeniedError(str(exc)) from exc
        if box and _dumps(body) == box[1]:
            return box[0]
        return body


def _coerce_args(edited: Any, tool: nir.Tool | None) -> Any:
    """Intercepted JSON arguments back to the handler's types (``Path`` parameters)."""
    if not isinstance(edited, Mapping) or tool is None:
        return edited
    schema = tool.input_schema or {}
    return {k: Path(v) if schema.get(k) is Path and isinstance(v, str) else v for k, v in edited.items()}


# Models.


def _model_name_of(adapter: Any) -> str:
    for candidate in (getattr(adapter, "name", None), getattr(getattr(adapter, "spec", None), "name", None)):
        if isinstance(candidate, str) and candidate:
            return candidate
    return type(adapter).__name__


def _response_json(model_name: str, response: Any, capture_reasoning: bool) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": response.content}
    if response.tool_calls:
        message["tool_calls"] = [
            {
                "id": tc.id,
                "type": "function",
                "function": {"name": tc.name, "arguments": json.dumps(_json(tc.arguments))},
            }
            for tc in response.tool_calls
        ]
    if capture_reasoning and response.reasoning:
        message["reasoning_content"] = response.reasoning
    reason = "tool_calls" if response.tool_calls else "stop"
    return {
        "object": "chat.completion",
        "model": model_name,
        "choices": [{"index": 0, "message": message, "finish_reason": reason}],
    }


def _response_back(body: Any, original: Any) -> Any:
    if not isinstance(body, Mapping) or not body.get("choices"):
        raise TypeError(f"nemoir: an LLM intercept returned {type(body).__name__}, expected a chat.completion")
    message = body["choices"][0].get("message") or {}
    calls = tuple(
        nir.ModelToolCall(
            id=tc.get("id") or "",
            name=(tc.get("function") or {}).get("name") or "",
            arguments=_arguments(tc),
        )
        for tc in message.get("tool_calls") or []
    )
    content = message.get("content")
    return nir.ModelResponse(
        content=content if isinstance(content, str) else None,
        tool_calls=calls,
        reasoning=getattr(original, "reasoning", None),
    )


def _arguments(tool_call: Mapping[str, Any]) -> Any:
    raw = (tool_call.get("function") or {}).get("arguments")
    if isinstance(raw, str):
        try:
            return json.loads(raw)
        except ValueError as exc:
            raise nir.ModelOutputValidationError(f"tool call arguments are not JSON: {raw[:200]}") from exc
    return raw or {}


class ManagedModelAdapter:
    """A NemoIR ``ModelAdapter`` whose ``complete`` is a managed LLM call.

    The request is OpenAI chat JSON (``model``, ``messages``, ``tools``, ``response_format``);
    request intercepts may edit it and the edit reaches the inner adapter. Attributes NemoIR
    reads (``reasoning``, ``name``, ...) come from the inner adapter. Over an adapter that
    streams, the instance is a :class:`ManagedStreamingModelAdapter`.
    """

    def __new__(cls, inner: Any, **kw: Any) -> ManagedModelAdapter:
        if cls is ManagedModelAdapter and nir.supports_streaming(inner):
            cls = ManagedStreamingModelAdapter
        return object.__new__(cls)

    def __init__(
        self,
        inner: Any,
        *,
        name: str | None = None,
        model_name: str | None = None,
        capture_reasoning: bool = False,
    ) -> None:
        if not callable(getattr(inner, "complete", None)):
            raise TypeError(f"inner: expected a NemoIR model adapter with complete(), got {type(inner).__name__}")
        self.inner = inner
        self.model_name = model_name or _model_name_of(inner)
        self.call_name = name or self.model_name
        self.capture_reasoning = capture_reasoning

    def __getattr__(self, item: str) -> Any:
        if item == "inner":
            raise AttributeError(item)
        return getattr(self.inner, item)

    def _content(self, request: Any) -> dict[str, Any]:
        content: dict[str, Any] = {"model": self.model_name, "messages": _json(request.messages)}
        if request.tools:
            content["tools"] = _json(request.tools)
        if request.output_schema:
            content["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": request.stage_id, "schema": _json(request.output_schema)},
            }
        return content

    def _request_for(self, request: Any, edited: Any, snap: str) -> Any:
        if _dumps(edited) == snap:
            return request
        return dataclasses.replace(
            request, messages=tuple(edited.get("messages") or ()), tools=tuple(edited.get("tools") or ())
        )

    def _options(self, stage_id: str) -> dict[str, Any]:
        return {
            "model_name": self.model_name,
            "codec": _CODEC,
            "response_codec": _CODEC,
            "metadata": {"nemoir.stage_id": stage_id},
        }

    async def complete(self, request: Any) -> Any:
        """Run the inner adapter's ``complete`` as a managed LLM call with an OpenAI chat
        request (messages, tools, the stage's output schema as ``response_format``); an
        intercept's edits to messages and tools reach the inner adapter."""
        content = self._content(request)
        snap = _dumps(content)
        box: list[Any] = []

        async def provider(req: LLMRequest) -> Any:
            response = await self.inner.complete(self._request_for(request, req.content, snap))
            body = _response_json(self.model_name, response, self.capture_reasoning)
            box[:] = [response, _dumps(body)]
            return body

        body = await llm.execute(self.call_name, LLMRequest({}, content), provider, **self._options(request.stage_id))
        if box and _dumps(body) == box[1]:
            return box[0]
        return _response_back(body, box[0] if box else None)


class ManagedStreamingModelAdapter(ManagedModelAdapter):
    """:class:`ManagedModelAdapter` for an inner adapter that streams: ``stream`` is a managed
    LLM stream. Consumers get the inner adapter's own chunks; reasoning text is left out of
    events unless ``capture_reasoning``."""

    def stream(self, request: Any) -> AsyncIterator[Any]:
        """Run the inner adapter's ``stream`` as a managed LLM stream; chunks pass through as
        they arrive and the collected response ends the call."""
        return self._stream(request)

    async def _stream(self, request: Any) -> AsyncIterator[Any]:
        content = self._content(request)
        snap = _dumps(content)
        pending: list[Any] = [None, ""]
        final: list[Any] = [None]

        async def chunks_of(req: LLMRequest) -> AsyncIterator[Any]:
            async for chunk in self.inner.stream(self._request_for(request, req.content, snap)):
                body = self._chunk_json(chunk)
                pending[:] = [chunk, _dumps(body)]
                yield body

        def provider(req: LLMRequest) -> AsyncIterator[Any]:
            return chunks_of(req)

        def collect(body: Any) -> None:
            if isinstance(body, Mapping) and body.get("kind") == "completed":
                final[0] = body.get("response")

        managed = await llm.stream_execute(
            self.call_name,
            LLMRequest({}, content),
            provider,
            collect,
            lambda: final[0],
            **self._options(request.stage_id),
        )
        try:
            async for body in managed:
                yield pending[0] if _dumps(body) == pending[1] else self._chunk_back(body, pending[0])
        finally:
            await managed.aclose()

    def _chunk_json(self, chunk: Any) -> dict[str, Any]:
        body: dict[str, Any] = {"kind": chunk.kind, "channel": chunk.channel}
        if chunk.text is not None and (chunk.channel != "reasoning" or self.capture_reasoning):
            body["text"] = chunk.text
        if chunk.response is not None:
            body["response"] = _response_json(self.model_name, chunk.response, self.capture_reasoning)
        return body

    def _chunk_back(self, body: Any, original: Any) -> Any:
        if not isinstance(body, Mapping):
            raise TypeError(f"nemoir: a stream intercept yielded {type(body).__name__}, expected a chunk object")
        response = body.get("response")
        text = body.get("text", getattr(original, "text", None))
        return nir.ModelStreamChunk(
            kind=body.get("kind") or getattr(original, "kind", "delta"),
            channel=body.get("channel"),
            text=text,
            response=_response_back(response, getattr(original, "response", None)) if response else None,
        )


def wrap_model(model: Any, **kw: Any) -> Any:
    """Managed adapters for whatever NemoIR accepts as a model (name, spec, adapter, router):
    a router is wrapped entry by entry; streaming adapters keep streaming."""
    normalized = nir_models.normalize_model(model)
    if isinstance(normalized, nir.ModelRouter):
        return nir.ModelRouter(
            default=wrap_model(normalized.default, **kw),
            stages={k: wrap_model(v, **kw) for k, v in (normalized.stages or {}).items()},
        )
    if isinstance(normalized, ManagedModelAdapter):
        return normalized
    return ManagedModelAdapter(normalized, **kw)


def managed_model_stage_executor(
    *, model: Any, tools: nir.ToolRegistry, max_tool_rounds: int = 32, **kw: Any
) -> nir.ModelStageExecutor:
    """NemoIR's ``ModelStageExecutor`` over :func:`wrap_model` adapters."""
    return nir.ModelStageExecutor(model=wrap_model(model, **kw), tools=tools, max_tool_rounds=max_tool_rounds)


# Events.

_POLICY_KIND = {"deny": "nemoir_deny_policy", "before": "nemoir_before_policy"}


class EventBridge:
    """A NemoIR event sink that records the workflow in nemo_flow and then forwards each event
    to ``downstream`` (whose exceptions still abort the run, as NemoIR intends).

    Recording never raises: a failure is logged and counted in ``errors``. Stage scopes work
    because NemoIR awaits the sink inside the run's own task, so a stage scope pushed here is
    the parent of the stage's tool and model calls.
    """

    def __init__(
        self,
        downstream: Callable[[Any], Awaitable[None]] | None = None,
        *,
        stage_scopes: bool = True,
        policy_events: Literal["guardrail", "mark", "off"] = "guardrail",
    ) -> None:
        if downstream is not None and not callable(downstream):
            raise TypeError(f"downstream: expected an async callable or None, got {type(downstream).__name__}")
        if policy_events not in ("guardrail", "mark", "off"):
            raise ValueError(f"policy_events: expected 'guardrail', 'mark' or 'off', got {policy_events!r}")
        self.downstream = downstream
        self.stage_scopes = stage_scopes
        self.policy_events = policy_events
        self.errors = 0
        self._stage: ScopeHandle | None = None

    async def __call__(self, event: Any) -> None:
        try:
            self._record(event)
        except Exception:
            self.errors += 1
            _log.exception("nemo_flow: could not record NemoIR event %s", getattr(event, "kind", event))
        if self.downstream is not None:
            await self.downstream(event)

    def close_open_stage(self, output: Any = None) -> None:
        """End a stage scope left open (a failed or cancelled run)."""
        handle, self._stage = self._stage, None
        if handle is not None:
            scope.pop(handle, output=output)

    def _record(self, event: Any) -> None:
        kind = event.kind
        if kind == "stage_started" and self.stage_scopes:
            self.close_open_stage()
            self._stage = scope.push(event.stage_id, ScopeType.Function, metadata={"nemoir.run_id": event.run_id})
        elif kind == "stage_completed":
            self.close_open_stage(_json(event.output))
        elif kind == "run_failed":
            self.close_open_stage({"error": event.error})
        elif kind == "policy_checked":
            self._policy_checked(event)
        elif kind == "policy_denied" and self.policy_events != "off":
            md = event.metadata or {}
            scope.event(
                event.capability or "policy",
                data={"rejected": True, "rejection_reason": event.error, "policy_id": md.get("policy_id")},
                metadata={"nemoir.stage_id": event.stage_id},
            )
        elif kind == "model_retry":
            scope.event(
                "nemoir.model_retry", data={"stage_id": event.stage_id, "error": event.error, **_json(event.metadata)}
            )
        elif kind == "transition_selected":
            md = event.metadata or {}
            scope.event(
                "nemoir.transition_selected",
                data={
                    "from": event.stage_id,
                    "to": event.transition_to,
                    "reason": md.get("reason"),
                    "priority": md.get("priority"),
                },
            )

    def _policy_checked(self, event: Any) -> None:
        md = dict(event.metadata or {})
        name = f"nemoir.policy:{md.get('policy_id')}"
        start = {"kind": _POLICY_KIND.get(str(md.get("policy_kind")), "nemoir_policy"), "target_name": event.capability}
        end: dict[str, Any] = {"allowed": not md.get("denied", False)}
        if "required_capabilities" in md:
            end["required_capabilities"] = _json(md["required_capabilities"])
        if md.get("error"):
            end["error"] = md["error"]
        if self.policy_events == "guardrail":
            handle = scope.start_detached(name, ScopeType.Guardrail, input=start)
            scope.end_detached(handle, output=end)
        elif self.policy_events == "mark":
            scope.event(name, data={**start, **end})


# The runtime.


class InstrumentedWorkflowRuntime(nir.WorkflowRuntime):  # type: ignore[misc]
    """A ``WorkflowRuntime`` whose runs are Agent scopes with managed tool calls (``tools`` is
    wrapped in a :class:`ManagedToolRegistry`) and an :class:`EventBridge` in front of the
    caller's event sink. ``stream()`` is inherited and runs through the same ``run``."""

    def __init__(
        self,
        *,
        manifest: nir.WorkflowManifest,
        tools: nir.ToolRegistry,
        stage_executor: Any,
        agent_name: str | None = None,
        scope_metadata: Mapping[str, Any] | None = None,
        stage_scopes: bool = True,
        policy_events: Literal["guardrail", "mark", "off"] = "guardrail",
    ) -> None:
        if policy_events not in ("guardrail", "mark", "off"):
            raise ValueError(f"policy_events: expected 'guardrail', 'mark' or 'off', got {policy_events!r}")
        managed = tools if isinstance(tools, ManagedToolRegistry) else ManagedToolRegistry(tools)
        super().__init__(manifest=manifest, tools=managed, stage_executor=stage_executor)
        self.agent_name = agent_name or manifest.workflow_id
        self.scope_metadata = _json(dict(scope_metadata or {}))
        self._stage_scopes = stage_scopes
        self._policy_events = policy_events

    async def run(
        self,
        inputs: Mapping[str, Any],
        *,
        options: nir.RunOptions | None = None,
        event_sink: Any = None,
        trace_recorder: Any = None,
    ) -> nir.WorkflowResult:
        """Run the workflow with ``inputs`` inside an Agent scope named ``agent_name``; NemoIR
        events go to the :class:`EventBridge` (and on to ``event_sink``). The scope ends with
        the workflow's output or error."""
        bridge = EventBridge(event_sink, stage_scopes=self._stage_scopes, policy_events=self._policy_events)
        metadata = {**self.scope_metadata, "nemoir.workflow_id": self._manifest.workflow_id}
        handle = scope.push(self.agent_name, ScopeType.Agent, input=_json(inputs), metadata=metadata)
        output: Any = None
        try:
            result = await super().run(inputs, options=options, event_sink=bridge, trace_recorder=trace_recorder)
            output = {"output": _json(result.output)}
            return result
        except BaseException as exc:
            output = {"error": {"type": type(exc).__name__, "message": str(exc)}}
            raise
        finally:
            bridge.close_open_stage(output)
            scope.pop(handle, output=output)


def instrument(
    *,
    manifest: nir.WorkflowManifest,
    tools: nir.ToolRegistry,
    model: Any,
    max_tool_rounds: int = 32,
    agent_name: str | None = None,
    capture_reasoning: bool = False,
    **kw: Any,
) -> InstrumentedWorkflowRuntime:
    """An :class:`InstrumentedWorkflowRuntime` for ``manifest`` with managed tools and models.

    ``model`` is anything NemoIR accepts (name, spec, adapter, ``ModelRouter``); extra keyword
    arguments go to :class:`InstrumentedWorkflowRuntime`.
    """
    managed_tools = tools if isinstance(tools, ManagedToolRegistry) else ManagedToolRegistry(tools)
    executor = managed_model_stage_executor(
        model=model, tools=managed_tools, max_tool_rounds=max_tool_rounds, capture_reasoning=capture_reasoning
    )
    return InstrumentedWorkflowRuntime(
        manifest=manifest, tools=managed_tools, stage_executor=executor, agent_name=agent_name, **kw
    )
