"""AnnotatedLLMRequest's request options (every field of the reference model) and
AnnotatedLLMResponse built from Python."""

from __future__ import annotations

from typing import Any

import pytest

from nemo_flow import AnnotatedLLMRequest, AnnotatedLLMResponse

OPTIONS: dict[str, tuple[Any, Any]] = {
    # field: (a valid value, a value of the wrong type)
    "store": (True, "yes"),
    "previous_response_id": ("resp_1", 5),
    "truncation": ("auto", False),
    "reasoning": ({"effort": "low"}, object()),
    "include": (["file_search_call.results"], [1]),
    "user": ("u-1", 1.5),
    "metadata": ({"k": "v"}, ["k"]),
    "service_tier": ("priority", 1),
    "parallel_tool_calls": (False, "no"),
    "max_output_tokens": (512, -1),
    "max_tool_calls": (4, 1.5),
    "top_logprobs": (5, "5"),
    "stream": (True, 1),
}


@pytest.mark.parametrize("field", OPTIONS)
def test_every_request_option_has_a_getter_a_setter_and_a_keyword(field: str) -> None:
    good, bad = OPTIONS[field]
    a = AnnotatedLLMRequest([])
    assert getattr(a, field) is None
    setattr(a, field, good)
    assert getattr(a, field) == good
    assert a.to_dict()[field] == good
    assert AnnotatedLLMRequest([], **{field: good}) == a
    with pytest.raises((TypeError, ValueError), match=f"^{field}"):
        setattr(a, field, bad)
    assert getattr(a, field) == good  # a refused value changes nothing
    setattr(a, field, None)
    assert getattr(a, field) is None and field not in a.to_dict()


def test_options_are_separate_from_extra() -> None:
    a = AnnotatedLLMRequest([{"role": "user", "content": "hi"}], store=False, extra={"seed": 1})
    assert a.to_dict() == {"messages": [{"role": "user", "content": "hi"}], "store": False, "seed": 1}
    assert a.extra == {"seed": 1}


def test_annotated_response_from_python_with_every_field() -> None:
    r = AnnotatedLLMResponse(
        id="r1",
        model="m",
        message="hello",
        tool_calls=[{"id": "c", "name": "f", "arguments": {"x": 1}}],
        finish_reason="some_new_reason",
        usage={"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3, "cache_read_tokens": 0},
        api_specific={"api": "custom", "api_name": "x", "data": None},
        extra={"k": 1},
    )
    assert (r.id, r.model, r.message, r.finish_reason) == ("r1", "m", "hello", "some_new_reason")
    assert r.response_text() == "hello" and r.has_tool_calls()
    assert r.usage is not None and r.usage["total_tokens"] == 3
    assert r.to_dict()["k"] == 1
    assert AnnotatedLLMResponse(**{k: v for k, v in r.to_dict().items() if k != "k"}, extra={"k": 1}) == r


def test_native_codec_methods_check_their_arguments() -> None:
    from nemo_flow import LLMRequest
    from nemo_flow.codecs import OpenAIChatCodec, OpenAIChatStreamCollector

    c = OpenAIChatCodec()
    with pytest.raises(TypeError, match=r"^request: expected an LLMRequest, got dict"):
        c.decode({"messages": []})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^original: expected an LLMRequest"):
        c.encode(AnnotatedLLMRequest([]), None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r'^response\["x"\]: NaN'):
        c.decode_response({"x": float("nan")})
    with pytest.raises(TypeError, match=r"^chunk"):
        OpenAIChatStreamCollector().collect(object())
    # A dict annotation is accepted where an AnnotatedLLMRequest is expected.
    out = c.encode({"messages": [{"role": "user", "content": "x"}]}, LLMRequest({}, {"model": "m", "messages": []}))
    assert out.content == {"messages": [{"role": "user", "content": "x"}]}
