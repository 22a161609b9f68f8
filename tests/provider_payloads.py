"""Recorded-shape provider payloads shared by the codec tests: stream chunk sequences as the
providers send them (text deltas, tool-call arguments split over many chunks, usage last)."""

from __future__ import annotations

from typing import Any

WEATHER_ARGS = '{"city": "Paris", "unit": "celsius"}'


def _split(s: str, size: int) -> list[str]:
    return [s[i : i + size] for i in range(0, len(s), size)]


def chat_chunks(model: str = "gpt-4o-mini") -> list[dict[str, Any]]:
    """Text, then two tool calls whose arguments arrive 3 characters at a time, interleaved,
    then the finish reason, then a usage-only chunk (stream_options.include_usage)."""

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {
            "id": "chatcmpl-9",
            "object": "chat.completion.chunk",
            "created": 1700000000,
            "model": model,
            "system_fingerprint": "fp_1",
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
            "usage": None,
        }

    out = [chunk({"role": "assistant", "content": ""})]
    out += [chunk({"content": t}) for t in ["Let ", "me ", "check."]]
    out.append(
        chunk(
            {
                "tool_calls": [
                    {"index": 0, "id": "call_a", "type": "function", "function": {"name": "weather", "arguments": ""}}
                ]
            }
        )
    )
    out.append(
        chunk(
            {
                "tool_calls": [
                    {"index": 1, "id": "call_b", "type": "function", "function": {"name": "time", "arguments": ""}}
                ]
            }
        )
    )
    for i, frag in enumerate(_split(WEATHER_ARGS, 3)):
        out.append(chunk({"tool_calls": [{"index": 0, "function": {"arguments": frag}}]}))
        if i == 2:
            out.append(chunk({"tool_calls": [{"index": 1, "function": {"arguments": '{"tz": "CET"}'}}]}))
    out.append(chunk({}, "tool_calls"))
    out.append(
        {
            "id": "chatcmpl-9",
            "object": "chat.completion.chunk",
            "created": 1700000000,
            "model": model,
            "choices": [],
            "usage": {
                "prompt_tokens": 31,
                "completion_tokens": 24,
                "total_tokens": 55,
                "prompt_tokens_details": {"cached_tokens": 16},
            },
        }
    )
    return out


def responses_events() -> list[dict[str, Any]]:
    """A Responses stream: a message whose text arrives in deltas and a function call whose
    arguments arrive 4 characters at a time; the terminal event is incomplete (token cap)."""
    base = {"id": "resp_7", "object": "response", "model": "gpt-5", "output": [], "status": "in_progress"}
    ev: list[dict[str, Any]] = [
        {"type": "response.created", "sequence_number": 0, "response": base},
        {"type": "response.in_progress", "sequence_number": 1, "response": base},
        {
            "type": "response.output_item.added",
            "output_index": 0,
            "item": {"type": "message", "id": "msg_1", "role": "assistant", "status": "in_progress", "content": []},
        },
        {
            "type": "response.content_part.added",
            "output_index": 0,
            "content_index": 0,
            "item_id": "msg_1",
            "part": {"type": "output_text", "text": "", "annotations": []},
        },
    ]
    for t in ["Checking ", "the ", "weather"]:
        ev.append(
            {
                "type": "response.output_text.delta",
                "output_index": 0,
                "content_index": 0,
                "item_id": "msg_1",
                "delta": t,
            }
        )
    ev.append(
        {
            "type": "response.output_item.added",
            "output_index": 1,
            "item": {"type": "function_call", "id": "fc_1", "call_id": "call_w", "name": "weather", "arguments": ""},
        }
    )
    for frag in _split(WEATHER_ARGS, 4):
        ev.append(
            {"type": "response.function_call_arguments.delta", "output_index": 1, "item_id": "fc_1", "delta": frag}
        )
    ev.append(
        {
            "type": "response.incomplete",
            "response": {
                **base,
                "status": "incomplete",
                "incomplete_details": {"reason": "max_output_tokens"},
                "usage": {
                    "input_tokens": 40,
                    "output_tokens": 16,
                    "total_tokens": 56,
                    "input_tokens_details": {"cached_tokens": 2},
                    "output_tokens_details": {"reasoning_tokens": 0},
                },
            },
        }
    )
    return ev


def anthropic_events() -> list[dict[str, Any]]:
    """An Anthropic stream: thinking, text, and a tool_use whose input JSON arrives in many
    input_json_delta fragments; stop reason and final usage in message_delta."""
    ev: list[dict[str, Any]] = [
        {
            "type": "message_start",
            "message": {
                "id": "msg_01",
                "type": "message",
                "role": "assistant",
                "model": "claude-sonnet-4-5",
                "content": [],
                "stop_reason": None,
                "stop_sequence": None,
                "usage": {
                    "input_tokens": 120,
                    "output_tokens": 1,
                    "cache_read_input_tokens": 100,
                    "cache_creation_input_tokens": 0,
                },
            },
        },
        {
            "type": "content_block_start",
            "index": 0,
            "content_block": {"type": "thinking", "thinking": "", "signature": ""},
        },
        {"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "User wants "}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "weather."}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "signature_delta", "signature": "sig=="}},
        {"type": "content_block_stop", "index": 0},
        {"type": "ping"},
        {"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": "Looking "}},
        {"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": "it up."}},
        {"type": "content_block_stop", "index": 1},
        {
            "type": "content_block_start",
            "index": 2,
            "content_block": {"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {}},
        },
    ]
    for frag in ["", *_split(WEATHER_ARGS, 5)]:
        ev.append(
            {"type": "content_block_delta", "index": 2, "delta": {"type": "input_json_delta", "partial_json": frag}}
        )
    ev += [
        {"type": "content_block_stop", "index": 2},
        {
            "type": "message_delta",
            "delta": {"stop_reason": "tool_use", "stop_sequence": None},
            "usage": {"output_tokens": 57},
        },
        {"type": "message_stop"},
    ]
    return ev
