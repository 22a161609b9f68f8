"""Recorded runs for the view, diff, stats and replay tests: a small agent (planner LLM call,
tools, a failing tool, a guardrail rejection, a mark, a final LLM call) written through
``nemo_flow.replay.record``."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import nemo_flow
from nemo_flow import LLMRequest, ScopeType, codecs, guardrails, llm, replay, scope, tools

SYSTEM = "You plan."


def chat_response(text: str, prompt: int = 12, completion: int = 5, cached: int = 4) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": "gpt-4o-mini",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
            "prompt_tokens_details": {"cached_tokens": cached},
        },
    }


def _request(question: str, system: str) -> LLMRequest:
    messages = [{"role": "system", "content": system}, {"role": "user", "content": question}]
    body = {"model": "gpt-4o-mini", "messages": messages}
    return LLMRequest({"authorization": "Bearer sk-test"}, body)


async def agent(question: str, system: str = SYSTEM) -> None:
    codec = codecs.OpenAIChatCodec()
    with scope.scope("planner", ScopeType.Agent, input={"q": question}):
        await llm.execute(
            "openai", _request(question, system), lambda r: chat_response("search it"),
            model_name="gpt-4o-mini", codec=codec, response_codec=codec,
        )  # fmt: skip
        with scope.scope("research", ScopeType.Function):
            await tools.execute("search", {"query": question}, lambda a: {"hits": ["a", "b"]})
            try:
                await tools.execute("calc", {"expr": "1/0"}, lambda a: 1 / 0)
            except ZeroDivisionError:
                pass
            try:
                await tools.execute("shell", {"cmd": "rm -rf /"}, lambda a: 0)
            except nemo_flow.GuardrailRejected:
                pass
        scope.event("checkpoint", data={"step": 2})
        await llm.execute(
            "openai", _request(question, system), lambda r: chat_response("the answer", 20, 7, 0),
            model_name="gpt-4o-mini", codec=codec, response_codec=codec,
        )  # fmt: skip


def write_run(path: Path, questions: tuple[str, ...] = ("weather in Paris",), system: str = SYSTEM) -> Path:
    """Record one run per question (each its own root) into ``path``."""
    guardrails.register_tool_conditional_execution("no-rm", 1, lambda n, a: "no rm" if n == "shell" else None)
    try:
        with replay.record(path):
            for q in questions:
                token = nemo_flow._native._scope_var.set(None)  # a fresh root per run
                try:
                    asyncio.run(agent(q, system))
                finally:
                    nemo_flow._native._scope_var.reset(token)
    finally:
        guardrails.deregister_tool_conditional_execution("no-rm")
    return path
