"""nemo_flow.typed: codecs for application values and the typed managed-call wrappers. The
runtime (middleware and events) only ever sees JSON."""

from __future__ import annotations

import base64
import dataclasses
import pickle
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pydantic
import pytest

from nemo_flow import LLMRequest, intercepts, typed
from nemo_flow.codecs import OpenAIChatCodec
from nemo_flow.typed import BestEffortAnyCodec, Codec, DataclassCodec, JsonPassthrough, PydanticCodec


@dataclasses.dataclass
class Point:
    x: int
    y: int


@dataclasses.dataclass
class Query:
    text: str
    limit: int | None = None
    origin: Point | None = None
    tags: list[str] = dataclasses.field(default_factory=list)
    waypoints: list[Point] = dataclasses.field(default_factory=list)


class Answer(pydantic.BaseModel):
    text: str
    score: float


class Chunk(pydantic.BaseModel):
    delta: str


class Opaque:
    """Not JSON, not a dataclass, but picklable."""

    def __init__(self, v: set[int]) -> None:
        self.v = v

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Opaque) and other.v == self.v

    __hash__ = None  # type: ignore[assignment]


# --- value codecs ------------------------------------------------------------------------------


def test_codecs_satisfy_the_protocol() -> None:
    for c in [JsonPassthrough(), PydanticCodec(Answer), DataclassCodec(Query), BestEffortAnyCodec()]:
        assert isinstance(c, Codec)


def test_dataclass_codec_omits_none_and_rebuilds_nested_dataclasses() -> None:
    c = DataclassCodec(Query)
    q = Query("paris", origin=Point(1, 2), tags=["a"], waypoints=[Point(3, 4)])
    data = c.to_json(q)
    assert data == {"text": "paris", "origin": {"x": 1, "y": 2}, "tags": ["a"], "waypoints": [{"x": 3, "y": 4}]}
    assert c.from_json(data) == q
    with pytest.raises(TypeError, match=r"Query has no field\(s\) \['bogus'\]"):
        c.from_json({"text": "x", "bogus": 1})
    with pytest.raises(TypeError, match="expected a Query, got Point"):
        c.to_json(Point(1, 2))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="expected a dataclass type"):
        DataclassCodec(dict)


def test_pydantic_codec() -> None:
    c = PydanticCodec(Answer)
    assert c.to_json(Answer(text="hi", score=0.5)) == {"text": "hi", "score": 0.5}
    assert c.from_json({"text": "hi", "score": 1}) == Answer(text="hi", score=1.0)
    with pytest.raises(pydantic.ValidationError):
        c.from_json({"text": "hi"})
    with pytest.raises(TypeError, match="expected a pydantic model class"):
        PydanticCodec(Point)


def test_best_effort_codec_round_trips_each_kind() -> None:
    c = BestEffortAnyCodec()
    for value in [Answer(text="a", score=1.0), Point(1, 2), {"plain": [1, "x", None]}, 3, Opaque({1, 2}), (1, 2)]:
        data = c.to_json(value)
        assert c.from_json(data) == value
    assert set(c.to_json(Answer(text="a", score=1.0))) == {"__nv_pydantic__", "__nv_runtime_type__", "data"}
    assert "__nv_dataclass__" in c.to_json(Point(1, 2))  # type: ignore[operator]
    assert "__nv_pickle__" in c.to_json(Opaque({1}))  # type: ignore[operator]
    unpicklable = c.to_json(lambda: 1)
    assert isinstance(unpicklable, dict) and "__nv_fallback_str__" in unpicklable


def test_best_effort_codec_never_unpickles_what_it_did_not_sign() -> None:
    c = BestEffortAnyCodec()
    evil = base64.b64encode(pickle.dumps(Opaque({666}))).decode()
    with pytest.raises(ValueError, match="refusing to unpickle an unsigned payload"):
        c.from_json({"__nv_pickle__": "x.Opaque", "data": evil})
    with pytest.raises(ValueError, match="did not sign"):
        c.from_json({"__nv_pickle__": "x.Opaque", "data": evil, "signature": "0" * 64})
    # A genuine payload whose bytes were swapped keeps its signature but no longer verifies.
    genuine = c.to_json(Opaque({1}))
    assert isinstance(genuine, dict)
    with pytest.raises(ValueError, match="did not sign"):
        c.from_json({**genuine, "data": evil})


def test_best_effort_codec_resolves_only_known_types() -> None:
    c = BestEffortAnyCodec()
    with pytest.raises(ValueError, match="cannot resolve type"):
        c.from_json({"__nv_dataclass__": "not_imported_module_xyz.Thing", "data": {}})
    # Without the runtime token, a class from an already imported module is found by name.
    data = c.to_json(Point(5, 6))
    assert isinstance(data, dict)
    assert c.from_json({**data, "__nv_runtime_type__": "unknown"}) == Point(5, 6)


# --- typed managed calls -------------------------------------------------------------------------


async def test_tool_execute_with_dataclasses_and_pydantic(events: list[Any]) -> None:
    seen_by_middleware: list[Any] = []

    def intercept(name: str, args: Any) -> Any:
        seen_by_middleware.append(args)
        return {**args, "limit": 3}

    intercepts.register_tool_request("limit", 1, False, intercept)

    async def search(q: Query) -> Answer:
        assert isinstance(q, Query) and q.origin == Point(0, 0)
        return Answer(text=f"{q.text}:{q.limit}", score=0.9)

    out = await typed.tool_execute(
        "search", Query("paris", origin=Point(0, 0)), search, DataclassCodec(Query), PydanticCodec(Answer)
    )
    assert out == Answer(text="paris:3", score=0.9)
    assert seen_by_middleware == [{"text": "paris", "origin": {"x": 0, "y": 0}, "tags": [], "waypoints": []}]
    start, end = [e for e in events if e.name == "search"]
    assert start.data["text"] == "paris"
    assert end.data == {"text": "paris:3", "score": 0.9}


def test_tool_execute_sync_with_a_custom_codec(events: list[Any]) -> None:
    class Celsius:
        def to_json(self, value: float) -> Any:
            return {"c": value}

        def from_json(self, data: Any) -> float:
            return float(data["c"])

    out = typed.tool_execute_sync("convert", 20.0, lambda c: c * 9 / 5 + 32, Celsius(), Celsius())
    assert out == 68.0
    assert [e.data for e in events] == [{"c": 20.0}, {"c": 68.0}]


async def test_llm_execute_typed_response_with_a_provider_codec(events: list[Any]) -> None:
    async def model(req: LLMRequest) -> Answer:
        return Answer(text=req.content["messages"][-1]["content"], score=1.0)

    class AnswerAsChat:
        def to_json(self, value: Answer) -> Any:
            return {
                "choices": [
                    {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": value.text}}
                ]
            }

        def from_json(self, data: Any) -> Answer:
            return Answer(text=data["choices"][0]["message"]["content"], score=1.0)

    req = LLMRequest({}, {"model": "m", "messages": [{"role": "user", "content": "hello"}]})
    codec = OpenAIChatCodec()
    out = await typed.llm_execute("chat", req, model, AnswerAsChat(), codec=codec, response_codec=codec)
    assert out == Answer(text="hello", score=1.0)
    _, end = events
    assert end.annotated_response.response_text() == "hello"
    assert end.annotated_response.finish_reason == "complete"


def test_llm_execute_sync_with_best_effort(events: list[Any]) -> None:
    out = typed.llm_execute_sync("m", LLMRequest({}, {}), lambda r: Opaque({7}), BestEffortAnyCodec())
    assert out == Opaque({7})
    assert "__nv_pickle__" in events[-1].data  # the event holds JSON, never the object


async def test_llm_stream_execute_typed_chunks(events: list[Any]) -> None:
    async def gen(req: LLMRequest) -> AsyncIterator[Chunk]:
        for d in ["He", "llo"]:
            yield Chunk(delta=d)

    collected: list[Chunk] = []
    st = await typed.llm_stream_execute(
        "s",
        LLMRequest({}, {}),
        gen,
        collected.append,
        lambda: Answer(text="".join(c.delta for c in collected), score=1.0),
        PydanticCodec(Chunk),
        PydanticCodec(Answer),
    )
    chunks = [c async for c in st]
    assert chunks == [{"delta": "He"}, {"delta": "llo"}]  # the stream yields JSON
    assert collected == [Chunk(delta="He"), Chunk(delta="llo")]  # the collector sees typed chunks
    end = [e for e in events if e.kind == "scope"][-1]
    assert end.data == {"text": "Hello", "score": 1.0}


def test_llm_stream_execute_sync_typed_chunks(events: list[Any]) -> None:
    def gen(req: LLMRequest) -> Iterator[Point]:
        yield Point(1, 1)
        yield Point(2, 2)

    seen: list[Point] = []
    st = typed.llm_stream_execute_sync(
        "s", LLMRequest({}, {}), gen, seen.append, lambda: len(seen), DataclassCodec(Point), JsonPassthrough()
    )
    assert list(st) == [{"x": 1, "y": 1}, {"x": 2, "y": 2}]
    assert seen == [Point(1, 1), Point(2, 2)]
    assert [e for e in events if e.kind == "scope"][-1].data == 2


async def test_bad_codec_arguments_are_refused_before_any_event(events: list[Any]) -> None:
    with pytest.raises(TypeError, match=r"^result_codec: expected a codec with to_json\(\) and from_json\(\)"):
        await typed.tool_execute("t", 1, lambda a: a, JsonPassthrough(), object())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^response_json_codec"):
        typed.llm_execute_sync("m", LLMRequest({}, {}), lambda r: 1, None)  # type: ignore[arg-type]
    assert events == []


async def test_a_raising_typed_callable_keeps_its_exception(events: list[Any]) -> None:
    class Boom(Exception):
        pass

    def fail(q: Query) -> Answer:
        raise Boom("no")

    with pytest.raises(Boom):
        await typed.tool_execute("t", Query("x"), fail, DataclassCodec(Query), PydanticCodec(Answer))
    _, end = events
    assert end.error is not None and end.error["type"] == "Boom"
