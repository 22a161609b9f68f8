"""Provider replies the integration tests queue on the stub, in the providers' wire shapes."""

from __future__ import annotations

from typing import Any


def completion(text: str = "Hello there", model: str = "gpt-4o-mini") -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1700000000,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text, "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12},
    }


def chat_stream(words: list[str], model: str = "gpt-4o-mini", usage: bool = False) -> list[dict[str, Any]]:
    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {
            "id": "chatcmpl-2",
            "object": "chat.completion.chunk",
            "created": 1700000000,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }

    out = [chunk({"role": "assistant", "content": ""})]
    out += [chunk({"content": w}) for w in words]
    out.append(chunk({}, "stop"))
    if usage:
        last = chunk({})
        last["choices"] = []
        last["usage"] = {"prompt_tokens": 5, "completion_tokens": len(words), "total_tokens": 5 + len(words)}
        out.append(last)
    return out


def response(text: str = "Hi from responses", status: str = "completed") -> dict[str, Any]:
    return {
        "id": "resp_1",
        "object": "response",
        "created_at": 1700000000,
        "model": "gpt-4o-mini",
        "status": status,
        "output": [
            {
                "type": "message",
                "id": "msg_1",
                "role": "assistant",
                "status": "completed",
                "content": [{"type": "output_text", "text": text, "annotations": []}],
            }
        ],
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "usage": {
            "input_tokens": 4,
            "output_tokens": 3,
            "total_tokens": 7,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens_details": {"reasoning_tokens": 0},
        },
    }


def responses_stream(words: list[str]) -> list[dict[str, Any]]:
    """The full event sequence the SDK's ``responses.stream()`` helper insists on."""
    text = "".join(words)
    empty = {**response(), "status": "in_progress", "output": [], "usage": None}
    item = {"type": "message", "id": "msg_1", "role": "assistant", "status": "in_progress", "content": []}
    part = {"type": "output_text", "text": "", "annotations": []}
    ev: list[dict[str, Any]] = [
        {"type": "response.created", "sequence_number": 0, "response": empty},
        {"type": "response.output_item.added", "sequence_number": 1, "output_index": 0, "item": item},
        {
            "type": "response.content_part.added",
            "sequence_number": 2,
            "item_id": "msg_1",
            "output_index": 0,
            "content_index": 0,
            "part": part,
        },
    ]
    for w in words:
        ev.append(
            {
                "type": "response.output_text.delta",
                "sequence_number": len(ev),
                "item_id": "msg_1",
                "output_index": 0,
                "content_index": 0,
                "delta": w,
                "logprobs": [],
            }
        )
    done_item = {**item, "status": "completed", "content": [{**part, "text": text}]}
    ev += [
        {
            "type": "response.output_text.done",
            "sequence_number": len(ev),
            "item_id": "msg_1",
            "output_index": 0,
            "content_index": 0,
            "text": text,
            "logprobs": [],
        },
        {"type": "response.output_item.done", "sequence_number": len(ev) + 1, "output_index": 0, "item": done_item},
        {"type": "response.completed", "sequence_number": len(ev) + 2, "response": response(text)},
    ]
    return ev


def message(text: str = "Hello from Claude") -> dict[str, Any]:
    return {
        "id": "msg_01",
        "type": "message",
        "role": "assistant",
        "model": "claude-x",
        "content": [{"type": "text", "text": text}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 10, "output_tokens": 4},
    }


def message_stream(words: list[str]) -> list[dict[str, Any]]:
    start = {**message(""), "content": [], "stop_reason": None, "usage": {"input_tokens": 10, "output_tokens": 1}}
    ev: list[dict[str, Any]] = [
        {"type": "message_start", "message": start},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
    ]
    ev += [{"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": w}} for w in words]
    ev += [
        {"type": "content_block_stop", "index": 0},
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn", "stop_sequence": None},
            "usage": {"output_tokens": len(words)},
        },
        {"type": "message_stop"},
    ]
    return ev
