"""``NemoFlowMiddleware``: managed model and tool calls inside ``create_agent`` without patching.

An explicit alternative to ``instrument()`` (which already covers ``create_agent``): while
``instrument()`` is on, this middleware passes straight through, so a call is never recorded
twice.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from langchain.agents.middleware import AgentMiddleware, ModelRequest, ModelResponse
from langchain_core.messages import AIMessage, SystemMessage, convert_to_messages, convert_to_openai_messages

from .. import llm, tools
from .._native import LLMRequest
from . import _langchain_convert as cv
from ._common import IN_MANAGED_CALL
from ._langchain_calls import _CODEC, SETTINGS, ToolResult


class _ModelCall:
    """One ``wrap_model_call``: the request as OpenAI chat JSON and the way back."""

    def __init__(self, request: ModelRequest[Any]) -> None:
        self.request = request
        self.model_name = cv.model_name_of(request.model)
        messages = ([request.system_message] if request.system_message else []) + list(request.messages)
        params = {k: v for k, v in (request.model_settings or {}).items() if cv.is_json(v)}
        if request.tools:
            params["tools"] = list(request.tools)
        if request.tool_choice is not None and cv.is_json(request.tool_choice):
            params["tool_choice"] = request.tool_choice
        self.content = cv.request_content(self.model_name, messages, None, params)
        self.snap = cv.dumps(self.content)
        self.response: Any = None
        self.response_snap = ""

    def edited(self, req: LLMRequest) -> ModelRequest[Any]:
        edited: dict[str, Any] = req.content
        if cv.dumps(edited) == self.snap:
            return self.request
        changes: dict[str, Any] = {}
        if edited.get("messages") != self.content.get("messages"):
            msgs = convert_to_messages(edited.get("messages") or [])
            system = next((m for m in msgs if isinstance(m, SystemMessage)), None)
            changes["system_message"] = system
            changes["messages"] = [m for m in msgs if m is not system]
        if edited.get("tools") != self.content.get("tools"):
            keep = {_tool_name(t) for t in edited.get("tools") or []}
            changes["tools"] = [t for t in self.request.tools if _tool_name(t) in keep]
        if edited.get("tool_choice") != self.content.get("tool_choice"):
            changes["tool_choice"] = edited.get("tool_choice")
        if _settings(edited) != _settings(self.content):
            held = {k: v for k, v in (self.request.model_settings or {}).items() if not cv.is_json(v)}
            changes["model_settings"] = {**held, **_settings(edited)}
        return self.request.override(**changes)

    def respond(self, response: Any) -> Any:
        self.response = response
        messages = response.result if isinstance(response, ModelResponse) else [response]
        ai = next((m for m in messages if isinstance(m, AIMessage)), None)
        body = {
            "object": "chat.completion",
            "model": self.model_name,
            "choices": [{"index": 0, "message": convert_to_openai_messages(ai)}] if ai is not None else [],
        }
        self.response_snap = cv.dumps(body)
        return body

    def outcome(self, body: Any) -> Any:
        if self.response is not None and cv.dumps(body) == self.response_snap:
            return self.response
        result = cv.result_back(body, None)
        structured = getattr(self.response, "structured_response", None)
        return ModelResponse(result=[g.message for g in result.generations], structured_response=structured)

    def options(self) -> dict[str, Any]:
        return {
            "model_name": self.model_name,
            "codec": _CODEC,
            "response_codec": _CODEC,
            "metadata": {"framework": "langchain"},
        }


def _settings(content: Any) -> dict[str, Any]:
    return {k: v for k, v in content.items() if k not in ("model", "messages", "tools", "tool_choice")}


def _tool_name(tool: Any) -> Any:
    if isinstance(tool, dict):
        return (tool.get("function") or {}).get("name") or tool.get("name")
    return getattr(tool, "name", None)


class NemoFlowMiddleware(AgentMiddleware[Any, Any]):
    """``create_agent(model, tools, middleware=[NemoFlowMiddleware()])``: every model call a
    managed LLM call (OpenAI chat JSON, so intercepts can edit messages, tools and settings)
    and every tool call a managed tool call."""

    def __init__(self, *, name: str | None = None) -> None:
        super().__init__()
        self.llm_name = name

    def _skip(self) -> bool:
        return SETTINGS.enabled or IN_MANAGED_CALL.get()

    def wrap_model_call(self, request: ModelRequest[Any], handler: Callable[[ModelRequest[Any]], Any]) -> Any:
        """Run the agent's model call as a managed LLM call (passed straight through while
        ``instrument()`` is on, or inside another managed call)."""
        if self._skip():
            return handler(request)
        call = _ModelCall(request)

        def provider(req: LLMRequest) -> Any:
            token = IN_MANAGED_CALL.set(True)
            try:
                return call.respond(handler(call.edited(req)))
            finally:
                IN_MANAGED_CALL.reset(token)

        name = self.llm_name or type(request.model).__name__
        return call.outcome(llm.execute_sync(name, LLMRequest({}, call.content), provider, **call.options()))

    async def awrap_model_call(
        self, request: ModelRequest[Any], handler: Callable[[ModelRequest[Any]], Awaitable[Any]]
    ) -> Any:
        """Async form of :meth:`wrap_model_call`."""
        if self._skip():
            return await handler(request)
        call = _ModelCall(request)

        async def provider(req: LLMRequest) -> Any:
            token = IN_MANAGED_CALL.set(True)
            try:
                return call.respond(await handler(call.edited(req)))
            finally:
                IN_MANAGED_CALL.reset(token)

        name = self.llm_name or type(request.model).__name__
        return call.outcome(await llm.execute(name, LLMRequest({}, call.content), provider, **call.options()))

    def wrap_tool_call(self, request: Any, handler: Callable[[Any], Any]) -> Any:
        """Run the agent's tool call as a managed tool call (passed straight through while
        ``instrument()`` is on)."""
        if SETTINGS.enabled:
            return handler(request)
        call = _ToolCall(request)

        def run(args: Any) -> Any:
            return call.respond(handler(call.edited(args)))

        return call.outcome(tools.execute_sync(call.name, call.args, run, metadata=call.metadata))

    async def awrap_tool_call(self, request: Any, handler: Callable[[Any], Awaitable[Any]]) -> Any:
        """Async form of :meth:`wrap_tool_call`."""
        if SETTINGS.enabled:
            return await handler(request)
        call = _ToolCall(request)

        async def run(args: Any) -> Any:
            return call.respond(await handler(call.edited(args)))

        return call.outcome(await tools.execute(call.name, call.args, run, metadata=call.metadata))


class _ToolCall(ToolResult):
    """One ``wrap_tool_call``: JSON arguments and result, LangChain objects back when unchanged."""

    def __init__(self, request: Any) -> None:
        self.request = request
        tc = request.tool_call
        self.name: str = tc["name"]
        self.tool_call_id = tc.get("id")
        self.args = tc["args"] if cv.is_json(tc["args"]) else cv.to_json(tc["args"])
        self.snap = cv.dumps(self.args)
        self.metadata = {"framework": "langchain", "tool_call_id": self.tool_call_id}

    def edited(self, args: Any) -> Any:
        if cv.dumps(args) == self.snap:
            return self.request
        return self.request.override(tool_call={**self.request.tool_call, "args": args})
