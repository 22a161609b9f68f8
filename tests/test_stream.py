"""Streaming LLM calls: chunk marks as the consumer receives chunks, collector/finalizer
contract, finishing exactly once (end, error, break, aclose/close, collector failure)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from nemo_flow import (
    AnnotatedLLMResponse,
    LLMAttributes,
    LLMRequest,
    MiddlewareError,
    ScopeType,
    intercepts,
    llm,
    scope,
)


def request() -> LLMRequest:
    return LLMRequest({}, {"messages": [{"role": "user", "content": "hi"}], "stream": True})


def llm_events(events: list[Any], name: str = "m") -> list[Any]:
    return [e for e in events if e.kind == "scope" and e.name == name]


def chunk_marks(events: list[Any]) -> list[Any]:
    return [e for e in events if e.kind == "mark" and e.name == "llm.chunk"]


class Recorder:
    """Collector and finalizer that count their calls."""

    def __init__(self, result: Any = None) -> None:
        self.chunks: list[Any] = []
        self.finalized = 0
        self.result = {"text": "done"} if result is None else result

    def collect(self, chunk: Any) -> None:
        self.chunks.append(chunk)

    def finalize(self) -> Any:
        self.finalized += 1
        return self.result


def make_agen(n: int, produced: list[int] | None = None, closed: list[bool] | None = None) -> Any:
    async def gen(_request: LLMRequest) -> AsyncIterator[Any]:
        try:
            for i in range(n):
                if produced is not None:
                    produced.append(i)
                yield {"i": i}
        finally:
            if closed is not None:
                closed.append(True)

    return gen


def make_gen(n: int, produced: list[int] | None = None, closed: list[bool] | None = None) -> Any:
    def gen(_request: LLMRequest) -> Iterator[Any]:
        try:
            for i in range(n):
                if produced is not None:
                    produced.append(i)
                yield {"i": i}
        finally:
            if closed is not None:
                closed.append(True)

    return gen


# --- async streams ------------------------------------------------------------------------------


async def test_one_mark_per_chunk_parented_to_llm_call(events: list[Any]) -> None:
    rec = Recorder()
    with scope.scope("agent", ScopeType.Agent) as agent:
        stream = await llm.stream_execute("m", request(), make_agen(3), rec.collect, rec.finalize, model_name="gpt")
        got = [c async for c in stream]
    assert got == [{"i": 0}, {"i": 1}, {"i": 2}]
    start, end = llm_events(events)
    assert start.parent_uuid == agent.uuid
    marks = chunk_marks(events)
    assert len(marks) == 3
    assert all(m.parent_uuid == start.uuid for m in marks)
    assert [m.data for m in marks] == [{"chunk_index": i, "provider": "unknown"} for i in range(3)]
    assert all(m.category is None and m.metadata is None for m in marks)
    assert rec.chunks == got
    assert rec.finalized == 1
    assert end.data == {"text": "done"}
    assert end.error is None
    assert end.category_profile == {"model_name": "gpt"}
    # order: start, the chunk marks, end, then the agent's end
    names = [(e.kind, e.name) for e in events]
    assert names.index(("scope", "m")) < names.index(("mark", "llm.chunk"))
    assert [e for e in events if e.name in ("m", "llm.chunk")][-1] is end


async def test_marks_emitted_as_consumer_receives_each_chunk_no_read_ahead(events: list[Any]) -> None:
    produced: list[int] = []
    rec = Recorder()
    stream = await llm.stream_execute("m", request(), make_agen(4, produced), rec.collect, rec.finalize)
    assert produced == []  # opening the stream pulls nothing
    assert chunk_marks(events) == []
    i = 0
    async for chunk in stream:
        assert chunk == {"i": i}
        marks = chunk_marks(events)
        assert len(marks) == i + 1, "the mark for chunk i is there, the one for chunk i+1 is not"
        assert marks[-1].data["chunk_index"] == i
        assert produced == list(range(i + 1)), "upstream was not read ahead"
        assert len(rec.chunks) == i + 1
        assert rec.finalized == 0
        await asyncio.sleep(0)
        assert len(chunk_marks(events)) == i + 1
        i += 1
    assert i == 4
    assert rec.finalized == 1


async def test_streaming_attribute_set_automatically(events: list[Any]) -> None:
    rec = Recorder()
    stream = await llm.stream_execute("m", request(), make_agen(1), rec.collect, rec.finalize)
    await stream
    start, end = llm_events(events)
    assert start.attributes == ["streaming"] == end.attributes
    events.clear()
    stream = await llm.stream_execute(
        "m", request(), make_agen(1), rec.collect, rec.finalize, attributes=LLMAttributes(LLMAttributes.STATEFUL)
    )
    await stream
    start, _ = llm_events(events)
    assert start.attributes == ["stateful", "streaming"]


async def test_awaiting_the_stream_returns_finalizer_result(events: list[Any]) -> None:
    rec = Recorder({"full": "response"})
    stream = await llm.stream_execute("m", request(), make_agen(3), rec.collect, rec.finalize)
    assert await stream == {"full": "response"}
    assert len(rec.chunks) == 3
    assert rec.finalized == 1
    assert len(chunk_marks(events)) == 3
    assert llm_events(events)[-1].data == {"full": "response"}


async def test_await_after_partial_iteration_drains_the_rest(events: list[Any]) -> None:
    rec = Recorder()
    stream = await llm.stream_execute("m", request(), make_agen(3), rec.collect, rec.finalize)
    it = stream.__aiter__()
    assert await it.__anext__() == {"i": 0}
    assert await stream == {"text": "done"}
    assert len(rec.chunks) == 3 and rec.finalized == 1
    assert len(llm_events(events)) == 2


async def test_upstream_error_propagates_unchanged_and_finalizes_once(events: list[Any]) -> None:
    err = ConnectionError("stream broke")

    async def gen(_r: LLMRequest) -> AsyncIterator[Any]:
        yield {"i": 0}
        raise err

    rec = Recorder()
    stream = await llm.stream_execute("m", request(), gen, rec.collect, rec.finalize)
    got = []
    with pytest.raises(ConnectionError) as info:
        async for c in stream:
            got.append(c)
    assert info.value is err
    assert got == [{"i": 0}]
    assert rec.finalized == 1
    _start, end = llm_events(events)
    assert end.error == {"type": "ConnectionError", "message": "stream broke"}
    assert len(chunk_marks(events)) == 1
    # the stream is finished: nothing more is emitted
    with pytest.raises(StopAsyncIteration):
        await stream.__anext__()
    assert rec.finalized == 1
    assert len(llm_events(events)) == 2


async def test_early_break_finalizes_immediately(events: list[Any]) -> None:
    produced: list[int] = []
    closed: list[bool] = []
    upstream_closed = asyncio.Event()
    rec = Recorder()

    async def upstream(_r: LLMRequest) -> AsyncIterator[Any]:
        try:
            for i in range(10):
                produced.append(i)
                yield {"i": i}
        finally:
            closed.append(True)
            upstream_closed.set()

    stream = await llm.stream_execute("m", request(), upstream, rec.collect, rec.finalize)
    async for _chunk in stream:
        break
    # no await between the loop and these checks
    assert rec.finalized == 1
    assert stream.done
    _start, end = llm_events(events)
    assert end.scope_category == "end" and end.error is None
    assert end.data == {"text": "done"}
    assert len(chunk_marks(events)) == 1
    assert produced == [0]
    # The upstream generator is closed by a task the abandoned iterator scheduled.
    await asyncio.wait_for(upstream_closed.wait(), timeout=10)
    assert closed == [True]
    assert rec.finalized == 1
    assert len(llm_events(events)) == 2


async def test_aclose_finalizes_once_and_closes_upstream(events: list[Any]) -> None:
    closed: list[bool] = []
    rec = Recorder()
    stream = await llm.stream_execute("m", request(), make_agen(10, None, closed), rec.collect, rec.finalize)
    it = stream.__aiter__()
    await it.__anext__()
    await stream.aclose()
    assert rec.finalized == 1
    assert closed == [True]
    assert len(llm_events(events)) == 2
    await stream.aclose()
    assert rec.finalized == 1
    assert len(llm_events(events)) == 2
    with pytest.raises(StopAsyncIteration):
        await it.__anext__()


async def test_collector_error_ends_stream_with_error_and_finalizes_once(events: list[Any]) -> None:
    finalized: list[int] = []
    err = KeyError("collector")

    def collector(chunk: Any) -> None:
        if chunk["i"] == 1:
            raise err

    stream = await llm.stream_execute("m", request(), make_agen(5), collector, lambda: finalized.append(1))
    got = []
    with pytest.raises(KeyError) as info:
        async for c in stream:
            got.append(c)
    assert info.value is err
    assert got == [{"i": 0}]
    assert finalized == [1]
    _, end = llm_events(events)
    assert end.error is not None and end.error["type"] == "KeyError"


async def test_finalizer_error_is_logged_and_end_records_no_response(
    events: list[Any], caplog: pytest.LogCaptureFixture
) -> None:
    def finalizer() -> Any:
        raise RuntimeError("finalizer broke")

    stream = await llm.stream_execute("m", request(), make_agen(1), lambda c: None, finalizer, data={"app": 1})
    assert await stream is None
    _, end = llm_events(events)
    assert end.data == {"app": 1}
    assert "finalizer" in caplog.text


async def test_func_returning_awaitable_of_iterator() -> None:
    async def func(r: LLMRequest) -> Any:
        return make_agen(2)(r)

    rec = Recorder()
    stream = await llm.stream_execute("m", request(), func, rec.collect, rec.finalize)
    assert [c async for c in stream] == [{"i": 0}, {"i": 1}]


async def test_func_not_returning_iterable_fails_with_end_event(events: list[Any]) -> None:
    with pytest.raises(TypeError):
        await llm.stream_execute("m", request(), lambda r: 42, lambda c: None, lambda: None)
    _, end = llm_events(events)
    assert end.error is not None and end.error["type"] == "TypeError"


async def test_collector_and_finalizer_must_be_callable() -> None:
    with pytest.raises(TypeError):
        llm.stream_execute("m", request(), make_agen(1), None, lambda: None)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        llm.stream_execute("m", request(), make_agen(1), lambda c: None, "nope")  # type: ignore[arg-type]


async def test_stream_execution_intercepts_wrap_the_iterator(events: list[Any]) -> None:
    log: list[str] = []

    def outer(req: LLMRequest, nxt: Any) -> Any:
        async def wrapped() -> AsyncIterator[Any]:
            log.append("outer-open")
            req.headers["x-outer"] = "1"
            inner = await nxt(req)
            async for c in inner:
                yield {**c, "outer": True}

        return wrapped()

    async def inner_intercept(req: LLMRequest, nxt: Any) -> Any:
        log.append("inner-open")
        upstream = await nxt(req)

        async def tagged() -> AsyncIterator[Any]:
            async for c in upstream:
                yield {**c, "inner": True}

        return tagged()

    seen_headers: list[Any] = []

    def func(req: LLMRequest) -> Any:
        seen_headers.append(dict(req.headers))
        return make_agen(2)(req)

    intercepts.register_llm_stream_execution("outer", 1, outer)
    intercepts.register_llm_stream_execution("inner", 5, inner_intercept)
    rec = Recorder()
    stream = await llm.stream_execute("m", request(), func, rec.collect, rec.finalize)
    got = [c async for c in stream]
    assert got == [{"i": 0, "inner": True, "outer": True}, {"i": 1, "inner": True, "outer": True}]
    assert log == ["outer-open", "inner-open"]
    assert seen_headers == [{"x-outer": "1"}]
    assert rec.chunks == got  # the collector sees what the consumer sees
    assert len(chunk_marks(events)) == 2


async def test_stream_intercept_short_circuit(events: list[Any]) -> None:
    async def canned(_req: LLMRequest, _nxt: Any) -> Any:
        async def g() -> AsyncIterator[Any]:
            yield {"cached": 1}

        return g()

    called: list[int] = []

    def func(req: LLMRequest) -> Any:
        called.append(1)
        return make_agen(1)(req)

    intercepts.register_llm_stream_execution("cache", 1, canned)
    rec = Recorder()
    stream = await llm.stream_execute("m", request(), func, rec.collect, rec.finalize)
    assert [c async for c in stream] == [{"cached": 1}]
    assert called == []


async def test_plain_execution_intercepts_do_not_wrap_streams() -> None:
    called: list[int] = []
    intercepts.register_llm_execution("plain", 1, lambda n, r, nxt: called.append(1) or nxt(r))
    rec = Recorder()
    stream = await llm.stream_execute("m", request(), make_agen(1), rec.collect, rec.finalize)
    await stream
    assert called == []


# --- chunk summaries ----------------------------------------------------------------------------


async def test_openai_chat_chunks_get_compact_summary_without_content(events: list[Any]) -> None:
    chunks = [
        {
            "object": "chat.completion.chunk",
            "choices": [{"index": 0, "delta": {"content": "TOP-SECRET-TEXT"}, "finish_reason": None}],
        },
        {
            "object": "chat.completion.chunk",
            "choices": [{"index": 0, "delta": {"content": "MORE-SECRET"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
        },
    ]

    async def gen(_r: LLMRequest) -> AsyncIterator[Any]:
        for c in chunks:
            yield c

    stream = await llm.stream_execute("m", request(), gen, lambda c: None, lambda: {"text": "x"})
    await stream
    marks = chunk_marks(events)
    assert marks[0].data == {
        "chunk_index": 0,
        "provider": "openai_chat_completions",
        "event_type": "chat.completion.chunk",
        "choice_indices": [0],
    }
    assert marks[1].data == {
        "chunk_index": 1,
        "provider": "openai_chat_completions",
        "event_type": "chat.completion.chunk",
        "choice_indices": [0],
        "finish_reasons": [{"choice_index": 0, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
    }
    for m in marks:
        assert "SECRET" not in m.to_json()


async def test_openai_chat_usage_cached_tokens_and_multiple_choices(events: list[Any]) -> None:
    chunk = {
        "object": "chat.completion.chunk",
        "choices": [
            {"index": 0, "delta": {"content": "a"}, "finish_reason": "length"},
            {"index": 1, "delta": {"content": "b"}, "finish_reason": None},
        ],
        "usage": {
            "prompt_tokens": 10,
            "completion_tokens": 4,
            "total_tokens": 14,
            "prompt_tokens_details": {"cached_tokens": 6},
        },
    }

    async def gen(_r: LLMRequest) -> AsyncIterator[Any]:
        yield chunk

    await (await llm.stream_execute("m", request(), gen, lambda c: None, lambda: None))
    (mark,) = chunk_marks(events)
    assert mark.data["choice_indices"] == [0, 1]
    assert mark.data["finish_reasons"] == [{"choice_index": 0, "finish_reason": "length"}]
    assert mark.data["usage"] == {
        "prompt_tokens": 10,
        "completion_tokens": 4,
        "total_tokens": 14,
        "cache_read_tokens": 6,
    }


@pytest.mark.parametrize(
    ("chunk", "provider"),
    [
        ({"type": "content_block_delta", "index": 0, "delta": {"text": "SECRET"}}, "anthropic_messages"),
        ({"type": "response.output_text.delta", "output_index": 0, "delta": "SECRET"}, "openai_responses"),
    ],
    ids=["anthropic", "responses"],
)
async def test_other_provider_summaries_never_carry_content(
    events: list[Any], chunk: dict[str, Any], provider: str
) -> None:
    async def gen(_r: LLMRequest) -> AsyncIterator[Any]:
        yield chunk

    await (await llm.stream_execute("m", request(), gen, lambda c: None, lambda: None))
    (mark,) = chunk_marks(events)
    assert mark.data["provider"] == provider
    assert mark.data["event_type"] == chunk["type"]
    assert mark.data["chunk_index"] == 0
    assert "SECRET" not in mark.to_json()


async def test_stream_response_codec_annotates_end_event(events: list[Any]) -> None:
    class Codec:
        def decode_response(self, response: Any) -> AnnotatedLLMResponse:
            return AnnotatedLLMResponse(message=response["text"])

    stream = await llm.stream_execute(
        "m", request(), make_agen(2), lambda c: None, lambda: {"text": "joined"}, response_codec=Codec()
    )
    assert await stream == {"text": "joined"}
    end = llm_events(events)[-1]
    assert end.category_profile == {"annotated_response": {"message": "joined"}}
    assert end.annotated_response.response_text() == "joined"


async def test_unknown_and_non_json_chunks(events: list[Any]) -> None:
    obj = object()

    async def gen(_r: LLMRequest) -> AsyncIterator[Any]:
        yield "plain text"
        yield {"some": "thing"}
        yield obj

    stream = await llm.stream_execute("m", request(), gen, lambda c: None, lambda: None)
    got = [c async for c in stream]
    assert got[2] is obj
    marks = chunk_marks(events)
    assert [m.data for m in marks] == [{"chunk_index": i, "provider": "unknown"} for i in range(3)]


# --- sync streams -------------------------------------------------------------------------------


def test_sync_stream_marks_without_read_ahead(events: list[Any]) -> None:
    produced: list[int] = []
    rec = Recorder()
    stream = llm.stream_execute_sync("m", request(), make_gen(3, produced), rec.collect, rec.finalize)
    assert produced == []
    for i, chunk in enumerate(stream):
        assert chunk == {"i": i}
        assert len(chunk_marks(events)) == i + 1
        assert produced == list(range(i + 1))
        assert rec.finalized == 0
    assert rec.finalized == 1
    start, end = llm_events(events)
    assert start.attributes == ["streaming"]
    assert end.data == {"text": "done"}
    assert all(m.parent_uuid == start.uuid for m in chunk_marks(events))


def test_sync_stream_result(events: list[Any]) -> None:
    rec = Recorder({"all": 1})
    stream = llm.stream_execute_sync("m", request(), make_gen(3), rec.collect, rec.finalize)
    assert stream.result() == {"all": 1}
    assert len(rec.chunks) == 3 and rec.finalized == 1
    assert len(llm_events(events)) == 2


def test_sync_stream_break_finalizes_immediately(events: list[Any]) -> None:
    closed: list[bool] = []
    rec = Recorder()
    stream = llm.stream_execute_sync("m", request(), make_gen(10, None, closed), rec.collect, rec.finalize)
    for _chunk in stream:
        break
    assert rec.finalized == 1
    assert closed == [True]
    assert stream.done
    assert len(llm_events(events)) == 2
    assert len(chunk_marks(events)) == 1


def test_sync_stream_close(events: list[Any]) -> None:
    closed: list[bool] = []
    rec = Recorder()
    stream = llm.stream_execute_sync("m", request(), make_gen(10, None, closed), rec.collect, rec.finalize)
    assert next(stream) == {"i": 0}
    stream.close()
    stream.close()
    assert rec.finalized == 1
    assert closed == [True]
    assert len(llm_events(events)) == 2
    with pytest.raises(StopIteration):
        next(stream)


def test_sync_stream_upstream_error(events: list[Any]) -> None:
    err = ValueError("broke")

    def gen(_r: LLMRequest) -> Iterator[Any]:
        yield {"i": 0}
        raise err

    rec = Recorder()
    stream = llm.stream_execute_sync("m", request(), gen, rec.collect, rec.finalize)
    with pytest.raises(ValueError) as info:
        list(stream)
    assert info.value is err
    assert rec.finalized == 1
    _, end = llm_events(events)
    assert end.error == {"type": "ValueError", "message": "broke"}


def test_sync_stream_collector_error(events: list[Any]) -> None:
    finalized: list[int] = []

    def collector(_c: Any) -> None:
        raise RuntimeError("collector broke")

    stream = llm.stream_execute_sync("m", request(), make_gen(3), collector, lambda: finalized.append(1))
    with pytest.raises(RuntimeError, match="collector broke"):
        next(stream)
    assert finalized == [1]
    _, end = llm_events(events)
    assert end.error is not None and end.error["message"] == "collector broke"


def test_sync_stream_execution_intercept() -> None:
    def upper(req: LLMRequest, nxt: Any) -> Any:
        return ({**c, "wrapped": True} for c in nxt(req))

    intercepts.register_llm_stream_execution("w", 1, upper)
    rec = Recorder()
    stream = llm.stream_execute_sync("m", request(), make_gen(2), rec.collect, rec.finalize)
    assert list(stream) == [{"i": 0, "wrapped": True}, {"i": 1, "wrapped": True}]


def test_sync_stream_rejects_non_iterable(events: list[Any]) -> None:
    with pytest.raises(TypeError):
        llm.stream_execute_sync("m", request(), lambda r: {"not": "a stream"}, lambda c: None, lambda: None)
    _, end = llm_events(events)
    assert end.error is not None


# --- stream execution intercept errors ----------------------------------------------------------


async def test_stream_intercept_raising_is_middleware_error_with_end_event(events: list[Any]) -> None:
    err = KeyError("intercept bug")

    def broken(req: LLMRequest, nxt: Any) -> Any:
        raise err

    intercepts.register_llm_stream_execution("broken", 1, broken)
    rec = Recorder()
    with pytest.raises(MiddlewareError) as info:
        await llm.stream_execute("m", request(), make_agen(2), rec.collect, rec.finalize, data={"app": 1})
    assert info.value.__cause__ is err
    assert "broken" in str(info.value)
    _start, end = llm_events(events)
    assert end.error is not None and end.error["type"] == "MiddlewareError"
    assert end.data == {"app": 1}
    assert chunk_marks(events) == []


async def test_stream_func_error_passes_through_stream_intercepts_unchanged(events: list[Any]) -> None:
    err = ConnectionRefusedError("no provider")

    def func(_r: LLMRequest) -> Any:
        raise err

    async def wrap(req: LLMRequest, nxt: Any) -> Any:
        return await nxt(req)

    intercepts.register_llm_stream_execution("wrap", 1, wrap)
    with pytest.raises(ConnectionRefusedError) as info:
        await llm.stream_execute("m", request(), func, lambda c: None, lambda: None)
    assert info.value is err
    _, end = llm_events(events)
    assert end.error == {"type": "ConnectionRefusedError", "message": "no provider"}


def test_sync_stream_intercept_errors() -> None:
    err = ValueError("sync intercept bug")

    def broken(req: LLMRequest, nxt: Any) -> Any:
        raise err

    intercepts.register_llm_stream_execution("broken", 1, broken)
    with pytest.raises(MiddlewareError) as info:
        llm.stream_execute_sync("m", request(), make_gen(1), lambda c: None, lambda: None)
    assert info.value.__cause__ is err
    intercepts.deregister_llm_stream_execution("broken")

    func_err = OSError("func")

    def func(_r: LLMRequest) -> Any:
        raise func_err

    intercepts.register_llm_stream_execution("wrap", 1, lambda req, nxt: nxt(req))
    with pytest.raises(OSError) as info2:
        llm.stream_execute_sync("m", request(), func, lambda c: None, lambda: None)
    assert info2.value is func_err
