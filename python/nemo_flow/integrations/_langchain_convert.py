"""LangChain objects to and from OpenAI-chat-shaped JSON, so the built-in OpenAIChatCodec
reads them and intercepts can edit them.

Every ``*_back`` function is only called when an intercept changed the JSON: the common case
hands LangChain its own objects back untouched (ids, metadata and all).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    ToolMessage,
    convert_to_messages,
    convert_to_openai_messages,
)
from langchain_core.outputs import ChatGeneration, ChatResult

_MODEL_NAME_ATTRS = ("model_name", "model", "model_id", "deployment_name")


def model_name_of(model: Any) -> str:
    """The model's own name, or its class name: never ``None``."""
    # Pydantic keeps fields in __dict__; getattr on a missing one raises inside pydantic (slow).
    fields = getattr(model, "__dict__", {})
    for attr in _MODEL_NAME_ATTRS:
        value = fields.get(attr)
        if isinstance(value, str) and value:
            return value
    return type(model).__name__


def is_json(value: Any, depth: int = 0) -> bool:
    """Whether ``value`` is plain JSON (what a payload may carry as is)."""
    if value is None or isinstance(value, (str, bool, int)):
        return True
    if isinstance(value, float):
        return value == value and value not in (float("inf"), float("-inf"))
    if depth > 32:
        return False
    if isinstance(value, (list, tuple)):
        return all(is_json(v, depth + 1) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and is_json(v, depth + 1) for k, v in value.items())
    return False


def to_json(value: Any, depth: int = 0) -> Any:
    """A JSON view of a LangChain value (graph state, chain input or output) for scope events:
    messages in OpenAI shape, pydantic models dumped, anything else by ``repr``."""
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        return value if is_json(value) else repr(value)
    if depth > 16:
        return repr(value)
    if isinstance(value, BaseMessage):
        return convert_to_openai_messages(value)
    if isinstance(value, Mapping):
        return {str(k): to_json(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(v, depth + 1) for v in value]
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        try:
            return to_json(dump(mode="json"), depth + 1)
        except Exception:
            pass
    return repr(value)


def dumps(value: Any) -> str:
    """A snapshot to detect edits (also edits made in place)."""
    return json.dumps(value, separators=(",", ":"), default=repr)


def _tool_json(tool: Any) -> Any:
    if isinstance(tool, dict) and (tool.get("type") == "function" or is_json(tool)):
        return tool
    from langchain_core.utils.function_calling import convert_to_openai_tool

    try:
        return convert_to_openai_tool(tool)
    except Exception:
        return {"type": "function", "function": {"name": getattr(tool, "name", repr(tool))}}


def request_content(model_name: str, messages: Sequence[BaseMessage], stop: Any, kwargs: Mapping[str, Any]) -> Any:
    """The OpenAI chat request body for a chat-model call: messages, tools, tool_choice, stop and
    every JSON call parameter (others stay out of the body and reach the model unchanged)."""
    content: dict[str, Any] = {"model": model_name, "messages": convert_to_openai_messages(list(messages))}
    if stop:
        content["stop"] = list(stop)
    for key, value in kwargs.items():
        if key == "tools" and isinstance(value, (list, tuple)):
            content["tools"] = [_tool_json(t) for t in value]
        elif is_json(value):
            content[key] = value
    return content


def apply_request(
    original: Mapping[str, Any],
    edited: Mapping[str, Any],
    messages: list[BaseMessage],
    stop: Any,
    kwargs: dict[str, Any],
) -> tuple[list[BaseMessage], Any, dict[str, Any]]:
    """Map an intercepted request body back onto the call's arguments, key by key: only what
    changed is replaced (``model`` cannot be switched from here)."""
    new_kwargs = dict(kwargs)
    if edited.get("messages") != original.get("messages"):
        messages = convert_to_messages(edited.get("messages") or [])
    if edited.get("stop") != original.get("stop"):
        stop = edited.get("stop")
    for key in set(original) | set(edited):
        if key in ("model", "messages", "stop"):
            continue
        if key not in edited:
            new_kwargs.pop(key, None)
        elif edited[key] != original.get(key):
            new_kwargs[key] = edited[key]
    return messages, stop, new_kwargs


def _usage(message: Any) -> Any:
    usage = getattr(message, "usage_metadata", None)
    if not usage:
        return None
    return {
        "prompt_tokens": usage.get("input_tokens", 0),
        "completion_tokens": usage.get("output_tokens", 0),
        "total_tokens": usage.get("total_tokens", 0),
    }


def _finish_reason(message: Any, info: Any) -> Any:
    reason = (info or {}).get("finish_reason") or (message.response_metadata or {}).get("finish_reason")
    if reason:
        return reason
    return "tool_calls" if getattr(message, "tool_calls", None) else "stop"


def result_json(model_name: str, result: ChatResult) -> dict[str, Any]:
    """A ``chat.completion`` body for a ChatResult."""
    choices = []
    usage = None
    for i, gen in enumerate(result.generations):
        msg = gen.message
        choices.append(
            {
                "index": i,
                "message": convert_to_openai_messages(msg),
                "finish_reason": _finish_reason(msg, gen.generation_info),
            }
        )
        usage = usage or _usage(msg)
    out: dict[str, Any] = {"object": "chat.completion", "model": model_name, "choices": choices}
    if result.generations and result.generations[0].message.id:
        out["id"] = result.generations[0].message.id
    if usage:
        out["usage"] = usage
    return out


def result_back(body: Any, original: ChatResult | None) -> ChatResult:
    """A ChatResult rebuilt from an intercepted ``chat.completion`` body."""
    if not isinstance(body, Mapping) or not isinstance(body.get("choices"), list):
        raise TypeError(
            f"langchain: an LLM execution intercept returned {type(body).__name__}, expected a chat.completion"
        )
    generations = []
    for choice in body["choices"]:
        (msg,) = convert_to_messages([choice.get("message") or {"role": "assistant", "content": ""}])
        if not isinstance(msg, AIMessage):
            msg = AIMessage(content=msg.content)
        info = {"finish_reason": choice["finish_reason"]} if choice.get("finish_reason") else None
        generations.append(ChatGeneration(message=msg, generation_info=info))
    return ChatResult(generations=generations, llm_output=original.llm_output if original else None)


def chunk_json(model_name: str, chunk: AIMessageChunk) -> dict[str, Any]:
    """A ``chat.completion.chunk`` for one streamed AIMessageChunk."""
    delta: dict[str, Any] = {"role": "assistant"}
    content = chunk.content
    if isinstance(content, str):
        delta["content"] = content
    else:
        delta["content"] = "".join(
            b if isinstance(b, str) else str(b.get("text", "")) for b in content if isinstance(b, (str, dict))
        )
    if chunk.tool_call_chunks:
        delta["tool_calls"] = [
            {
                "index": tc.get("index") if tc.get("index") is not None else i,
                "id": tc.get("id"),
                "type": "function",
                "function": {"name": tc.get("name"), "arguments": tc.get("args") or ""},
            }
            for i, tc in enumerate(chunk.tool_call_chunks)
        ]
    reason = (chunk.response_metadata or {}).get("finish_reason")
    out: dict[str, Any] = {
        "object": "chat.completion.chunk",
        "model": model_name,
        "choices": [{"index": 0, "delta": delta, "finish_reason": reason}],
    }
    if chunk.id:
        out["id"] = chunk.id
    usage = _usage(chunk)
    if usage:
        out["usage"] = usage
    return out


def chunk_back(body: Any, original: AIMessageChunk | None) -> AIMessageChunk:
    """An AIMessageChunk rebuilt from an intercepted chunk body."""
    if not isinstance(body, Mapping):
        raise TypeError(
            f"langchain: a stream intercept yielded {type(body).__name__}, expected a chat.completion.chunk"
        )
    choices = body.get("choices") or [{}]
    delta = choices[0].get("delta") or {}
    tool_chunks = [
        {
            "name": (tc.get("function") or {}).get("name"),
            "args": (tc.get("function") or {}).get("arguments"),
            "id": tc.get("id"),
            "index": tc.get("index"),
            "type": "tool_call_chunk",
        }
        for tc in delta.get("tool_calls") or []
    ]
    meta = {"finish_reason": choices[0]["finish_reason"]} if choices[0].get("finish_reason") else {}
    return AIMessageChunk(
        content=delta.get("content") or "",
        tool_call_chunks=tool_chunks,  # type: ignore[arg-type]
        response_metadata=meta,
        id=original.id if original is not None else body.get("id"),
    )


def split_tool_input(tool_input: Any) -> tuple[Any, dict[str, Any]]:
    """The JSON part of a tool's input (what the events and intercepts see) and the rest
    (injected state, runtime objects), kept aside and merged back unchanged."""
    if isinstance(tool_input, dict):
        args = {k: v for k, v in tool_input.items() if is_json(v)}
        held = {k: v for k, v in tool_input.items() if k not in args}
        return args, held
    if is_json(tool_input):
        return tool_input, {}
    return to_json(tool_input), {}


def tool_result_json(result: Any) -> Any:
    """A ToolMessage as ``{content, tool_call_id, status, artifact}``, JSON as is, else ``repr``."""
    if isinstance(result, ToolMessage):
        return {
            "content": result.content if is_json(result.content) else to_json(result.content),
            "tool_call_id": result.tool_call_id,
            "status": result.status,
            "artifact": to_json(result.artifact),
        }
    return result if is_json(result) else to_json(result)


def tool_result_back(body: Any, original: Any, tool_call_id: str | None, tool_name: str) -> Any:
    """A tool result rebuilt from an intercepted result body."""
    if not isinstance(original, ToolMessage) and not tool_call_id:
        return body
    if isinstance(body, Mapping) and "content" in body:
        content = body["content"]
        status = body.get("status") or "success"
    else:
        content, status = body, "success"
    if not isinstance(content, (str, list)):
        content = json.dumps(content)
    call_id = original.tool_call_id if isinstance(original, ToolMessage) else tool_call_id
    artifact = original.artifact if isinstance(original, ToolMessage) else None
    return ToolMessage(content=content, tool_call_id=call_id, name=tool_name, status=status, artifact=artifact)
