"""Managed calls for LangChain chat models and tools.

Chat models are patched at ``BaseChatModel._generate_with_cache`` / ``_agenerate_with_cache``
(every invoke, batch, LCEL and graph path; graph-driven streaming runs inside them) and at
``stream`` / ``astream`` (direct streaming bypasses the former). Tools are patched at
``BaseTool.run`` / ``arun`` (``invoke``, ``ToolNode``, ``create_agent`` and legacy executors all
reach them). Each wrapper builds the JSON request, runs the managed call, and hands LangChain
its own objects back unless an intercept changed the JSON.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

from .. import llm, tools
from .._native import LLMRequest, ScopeHandle
from ..codecs import OpenAIChatCodec, OpenAIChatStreamCollector
from . import _langchain_convert as cv
from ._common import IN_MANAGED_CALL

_CODEC = OpenAIChatCodec()


class Settings:
    """What ``instrument()`` configured; read by every wrapper."""

    def __init__(self) -> None:
        self.enabled = False
        self.name: str | None = None
        self.prefer = "langchain"
        self.runs: Any = None  # the RunTree

    def parent(self, run_id: Any) -> ScopeHandle | None:
        return self.runs.scope_for(run_id) if self.runs is not None else None


SETTINGS = Settings()

# Chat-model packages backed by an SDK that has its own nemo_flow integration.
_SDK_OF_PACKAGE = {"langchain_openai": "openai", "langchain_anthropic": "anthropic", "langchain_litellm": "litellm"}


def _defer_to_sdk(model: Any) -> bool:
    """With ``prefer="sdk"``: whether the model's SDK integration records this call instead."""
    import sys

    package = type(model).__module__.split(".", 1)[0]
    integration = _SDK_OF_PACKAGE.get(package)
    if integration is None:
        return False
    module = sys.modules.get(f"nemo_flow.integrations.{integration}")
    check = getattr(module, "is_instrumented", None)
    return bool(check is not None and check())


def passthrough(model: Any) -> bool:
    """Whether a chat-model call goes straight to LangChain (not instrumented, already inside a
    managed call, or left to the provider integration)."""
    if not SETTINGS.enabled or IN_MANAGED_CALL.get():
        return True
    return SETTINGS.prefer == "sdk" and _defer_to_sdk(model)


class ChatCall:
    """One chat-model call's request JSON and how to map the pipeline's JSON back."""

    __slots__ = (
        "content",
        "kwargs",
        "messages",
        "model",
        "model_name",
        "parent",
        "result",
        "result_snap",
        "snap",
        "stop",
    )

    def __init__(self, model: Any, messages: list[Any], stop: Any, kwargs: dict[str, Any], parent_run_id: Any) -> None:
        self.model = model
        self.model_name = cv.model_name_of(model)
        self.messages = messages
        self.stop = stop
        self.kwargs = kwargs
        self.content = cv.request_content(self.model_name, messages, stop, kwargs)
        self.snap = cv.dumps(self.content)
        self.parent = SETTINGS.parent(parent_run_id)
        self.result: Any = None
        self.result_snap = ""

    @property
    def name(self) -> str:
        return SETTINGS.name or type(self.model).__name__

    def request(self) -> LLMRequest:
        return LLMRequest({}, self.content)

    def arguments(self, req: LLMRequest) -> tuple[list[Any], Any, dict[str, Any], bool]:
        """``(messages, stop, kwargs, changed)`` for the provider callback."""
        edited = req.content
        if cv.dumps(edited) == self.snap:
            return self.messages, self.stop, self.kwargs, False
        original = cv.request_content(self.model_name, self.messages, self.stop, self.kwargs)
        m, s, kw = cv.apply_request(original, edited, self.messages, self.stop, self.kwargs)
        return m, s, kw, True

    def respond(self, result: Any) -> Any:
        self.result = result
        body = cv.result_json(self.model_name, result)
        self.result_snap = cv.dumps(body)
        return body

    def outcome(self, body: Any) -> Any:
        if self.result is not None and cv.dumps(body) == self.result_snap:
            return self.result
        return cv.result_back(body, self.result)

    def options(self) -> dict[str, Any]:
        return {
            "handle": self.parent,
            "model_name": self.model_name,
            "codec": _CODEC,
            "response_codec": _CODEC,
            "metadata": {"framework": "langchain"},
        }


def patched_generate(original: Any) -> Any:
    def _generate_with_cache(
        self: Any, messages: list[Any], stop: Any = None, run_manager: Any = None, **kwargs: Any
    ) -> Any:
        if passthrough(self):
            return original(self, messages, stop=stop, run_manager=run_manager, **kwargs)
        call = ChatCall(self, messages, stop, kwargs, getattr(run_manager, "parent_run_id", None))

        def provider(req: LLMRequest) -> Any:
            m, s, kw, _ = call.arguments(req)
            token = IN_MANAGED_CALL.set(True)
            try:
                result = original(self, m, stop=s, run_manager=run_manager, **kw)
            finally:
                IN_MANAGED_CALL.reset(token)
            return call.respond(result)

        return call.outcome(llm.execute_sync(call.name, call.request(), provider, **call.options()))

    return _generate_with_cache


def patched_agenerate(original: Any) -> Any:
    async def _agenerate_with_cache(
        self: Any, messages: list[Any], stop: Any = None, run_manager: Any = None, **kwargs: Any
    ) -> Any:
        if passthrough(self):
            return await original(self, messages, stop=stop, run_manager=run_manager, **kwargs)
        call = ChatCall(self, messages, stop, kwargs, getattr(run_manager, "parent_run_id", None))

        async def provider(req: LLMRequest) -> Any:
            m, s, kw, _ = call.arguments(req)
            token = IN_MANAGED_CALL.set(True)
            try:
                result = await original(self, m, stop=s, run_manager=run_manager, **kw)
            finally:
                IN_MANAGED_CALL.reset(token)
            return call.respond(result)

        return call.outcome(await llm.execute(call.name, call.request(), provider, **call.options()))

    return _agenerate_with_cache


class _StreamCall:
    """A direct ``stream``/``astream`` call: the managed stream's arguments, and the chunk
    object behind the JSON it last yielded, so the consumer gets LangChain's own chunk back
    unless an intercept changed it."""

    __slots__ = ("call", "collector", "config", "input", "json_iter", "original", "pending", "snap")

    def __init__(
        self, model: Any, input: Any, config: Any, stop: Any, kwargs: dict[str, Any], original: Any, json_iter: Any
    ) -> None:
        self.call = ChatCall(model, model._convert_input(input).to_messages(), stop, kwargs, _stream_parent(config))
        self.input = input
        self.config = config
        self.original = original
        self.json_iter = json_iter
        self.collector = OpenAIChatStreamCollector()
        self.pending: Any = None
        self.snap = ""

    def args(self) -> tuple[Any, ...]:
        """Positional arguments of ``llm.stream_execute(_sync)``."""
        return (self.call.name, self.call.request(), self.provider, self.collector.collect, self.collector.finalize)

    def provider(self, req: LLMRequest) -> Any:
        m, s, kw, changed = self.call.arguments(req)
        inner = self.original(self.call.model, m if changed else self.input, self.config, stop=s, **kw)
        return self.json_iter(inner, self)

    def to_json(self, chunk: Any) -> Any:
        self.pending = chunk
        body = cv.chunk_json(self.call.model_name, chunk)
        self.snap = cv.dumps(body)
        return body

    def back(self, body: Any) -> Any:
        if self.pending is not None and cv.dumps(body) == self.snap:
            return self.pending
        return cv.chunk_back(body, self.pending)


def _stream_parent(config: Any) -> Any:
    callbacks = (config or {}).get("callbacks") if isinstance(config, dict) else None
    return getattr(callbacks, "parent_run_id", None)


def patched_stream(original: Any) -> Any:
    def stream(self: Any, input: Any, config: Any = None, *, stop: Any = None, **kwargs: Any) -> Iterator[Any]:
        if passthrough(self) or not self._should_stream(async_api=False, **{**kwargs, "stream": True}):
            yield from original(self, input, config, stop=stop, **kwargs)
            return
        sc = _StreamCall(self, input, config, stop, kwargs, original, _json_chunks)
        managed = llm.stream_execute_sync(*sc.args(), **sc.call.options())
        try:
            for body in managed:
                yield sc.back(body)
        finally:
            managed.close()

    return stream


def _json_chunks(inner: Iterator[Any], sc: _StreamCall) -> Iterator[Any]:
    try:
        while True:
            token = IN_MANAGED_CALL.set(True)
            try:
                chunk = next(inner)
            except StopIteration:
                return
            finally:
                IN_MANAGED_CALL.reset(token)
            yield sc.to_json(chunk)
    finally:
        close = getattr(inner, "close", None)
        if close is not None:
            close()


def patched_astream(original: Any) -> Any:
    async def astream(
        self: Any, input: Any, config: Any = None, *, stop: Any = None, **kwargs: Any
    ) -> AsyncIterator[Any]:
        if passthrough(self) or not self._should_stream(async_api=True, **{**kwargs, "stream": True}):
            async for chunk in original(self, input, config, stop=stop, **kwargs):
                yield chunk
            return
        sc = _StreamCall(self, input, config, stop, kwargs, original, _ajson_chunks)
        managed = await llm.stream_execute(*sc.args(), **sc.call.options())
        try:
            async for body in managed:
                yield sc.back(body)
        finally:
            await managed.aclose()

    return astream


async def _ajson_chunks(inner: AsyncIterator[Any], sc: _StreamCall) -> AsyncIterator[Any]:
    try:
        while True:
            token = IN_MANAGED_CALL.set(True)
            try:
                chunk = await inner.__anext__()
            except StopAsyncIteration:
                return
            finally:
                IN_MANAGED_CALL.reset(token)
            yield sc.to_json(chunk)
    finally:
        close = getattr(inner, "aclose", None)
        if close is not None:
            await close()


# Tools.


class ToolResult:
    """A tool's result as JSON for the pipeline, and back: the tool's own object unless an
    intercept changed the JSON (then a ToolMessage or the JSON itself)."""

    name: str
    tool_call_id: str | None
    result: Any = None
    result_snap = ""

    def respond(self, result: Any) -> Any:
        self.result = result
        body = cv.tool_result_json(result)
        self.result_snap = cv.dumps(body)
        return body

    def outcome(self, body: Any) -> Any:
        if self.result_snap and cv.dumps(body) == self.result_snap:
            return self.result
        return cv.tool_result_back(body, self.result, self.tool_call_id, self.name)


class ToolCallState(ToolResult):
    """One tool run's JSON arguments and how to map the pipeline's JSON back."""

    def __init__(self, tool: Any, tool_input: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        self.name: str = tool.name
        self.tool_input = tool_input
        self.args, self.held = cv.split_tool_input(tool_input)
        self.snap = cv.dumps(self.args)
        callbacks = kwargs.get("callbacks", args[3] if len(args) > 3 else None)
        self.parent = SETTINGS.parent(getattr(callbacks, "parent_run_id", None))
        self.tool_call_id = kwargs.get("tool_call_id")

    def input_for(self, edited: Any) -> Any:
        if cv.dumps(edited) == self.snap:
            return self.tool_input
        if isinstance(edited, dict) and self.held:
            return {**self.held, **edited}
        return edited

    def options(self) -> dict[str, Any]:
        meta: dict[str, Any] = {"framework": "langchain"}
        if self.tool_call_id:
            meta["tool_call_id"] = self.tool_call_id
        return {"handle": self.parent, "metadata": meta}


def patched_run(original: Any) -> Any:
    def run(self: Any, tool_input: Any, *args: Any, **kwargs: Any) -> Any:
        if not SETTINGS.enabled:
            return original(self, tool_input, *args, **kwargs)
        st = ToolCallState(self, tool_input, args, kwargs)

        def fn(edited: Any) -> Any:
            return st.respond(original(self, st.input_for(edited), *args, **kwargs))

        return st.outcome(tools.execute_sync(st.name, st.args, fn, **st.options()))

    return run


def patched_arun(original: Any) -> Any:
    async def arun(self: Any, tool_input: Any, *args: Any, **kwargs: Any) -> Any:
        if not SETTINGS.enabled:
            return await original(self, tool_input, *args, **kwargs)
        st = ToolCallState(self, tool_input, args, kwargs)

        async def fn(edited: Any) -> Any:
            return st.respond(await original(self, st.input_for(edited), *args, **kwargs))

        return st.outcome(await tools.execute(st.name, st.args, fn, **st.options()))

    return arun
