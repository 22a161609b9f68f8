"""Middleware: the 11 families (global and scope-local), the exact pipeline order, priority and
merge rules, execution intercept composition, and the error policy of every step."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import pytest

from nemo_flow import (
    GuardrailRejected,
    LLMRequest,
    MiddlewareError,
    NemoFlowError,
    RegistrationError,
    ScopeType,
    guardrails,
    intercepts,
    llm,
    scope,
    scope_local,
    subscribers,
    tools,
)


def request() -> LLMRequest:
    return LLMRequest({"h": "v"}, {"messages": [{"role": "user", "content": "hi"}]})


async def agen(_r: LLMRequest) -> AsyncIterator[Any]:
    yield {"chunk": 1}


async def run_tool() -> Any:
    return await tools.execute("tool", {"a": 1}, lambda args: {"r": 1})


async def run_llm() -> Any:
    return await llm.execute("model", request(), lambda r: {"text": "ok"})


async def run_stream() -> Any:
    s = await llm.stream_execute("model", request(), agen, lambda c: None, lambda: {"text": "ok"})
    return await s


# --- the 11 families ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Family:
    name: str
    break_chain: bool  # whether register takes a break_chain argument
    trigger: Callable[[], Any]
    make: Callable[[list[str], str], Callable[..., Any]]


def _tool_transform(log: list[str], tag: str) -> Callable[..., Any]:
    return lambda name, v: log.append(tag) or v


def _tool_cond(log: list[str], tag: str) -> Callable[..., Any]:
    return lambda name, args: log.append(tag)


def _llm_req_transform(log: list[str], tag: str) -> Callable[..., Any]:
    return lambda req: log.append(tag) or req


def _llm_resp_transform(log: list[str], tag: str) -> Callable[..., Any]:
    return lambda resp: log.append(tag) or resp


def _llm_cond(log: list[str], tag: str) -> Callable[..., Any]:
    return lambda req: log.append(tag)


def _llm_request(log: list[str], tag: str) -> Callable[..., Any]:
    return lambda name, req, ann: log.append(tag) or (req, ann)


def _exec(log: list[str], tag: str) -> Callable[..., Any]:
    def fn(name: str, value: Any, nxt: Any) -> Any:
        log.append(tag)
        return nxt(value)

    return fn


def _stream_exec(log: list[str], tag: str) -> Callable[..., Any]:
    def fn(req: LLMRequest, nxt: Any) -> Any:
        log.append(tag)
        return nxt(req)

    return fn


FAMILIES = [
    Family("tool_sanitize_request", False, run_tool, _tool_transform),
    Family("tool_sanitize_response", False, run_tool, _tool_transform),
    Family("tool_conditional_execution", False, run_tool, _tool_cond),
    Family("llm_sanitize_request", False, run_llm, _llm_req_transform),
    Family("llm_sanitize_response", False, run_llm, _llm_resp_transform),
    Family("llm_conditional_execution", False, run_llm, _llm_cond),
    Family("tool_request", True, run_tool, _tool_transform),
    Family("tool_execution", False, run_tool, _exec),
    Family("llm_request", True, run_llm, _llm_request),
    Family("llm_execution", False, run_llm, _exec),
    Family("llm_stream_execution", False, run_stream, _stream_exec),
]


def _global_fns(f: Family) -> tuple[Callable[..., Any], Callable[..., Any]]:
    mod = guardrails if ("sanitize" in f.name or "conditional" in f.name) else intercepts
    return getattr(mod, f"register_{f.name}"), getattr(mod, f"deregister_{f.name}")


def test_eleven_families_are_covered() -> None:
    assert len(FAMILIES) == 11
    assert len({f.name for f in FAMILIES}) == 11


@pytest.mark.parametrize("family", FAMILIES, ids=[f.name for f in FAMILIES])
async def test_family_register_deregister_global(events: list[Any], family: Family) -> None:
    register, deregister = _global_fns(family)
    log: list[str] = []
    args = (True,) if family.break_chain else ()
    register("mw", 1, *args, family.make(log, "mw"))
    with pytest.raises(RegistrationError):
        register("mw", 2, *args, family.make(log, "dup"))
    await family.trigger()
    assert log == ["mw"]
    assert deregister("mw") is True
    assert deregister("mw") is False
    await family.trigger()
    assert log == ["mw"]


@pytest.mark.parametrize("family", FAMILIES, ids=[f.name for f in FAMILIES])
async def test_family_register_deregister_scope_local(events: list[Any], family: Family) -> None:
    register = getattr(scope_local, f"register_{family.name}")
    deregister = getattr(scope_local, f"deregister_{family.name}")
    log: list[str] = []
    args = (False,) if family.break_chain else ()
    with scope.scope("s", ScopeType.Agent) as s:
        register(s, "local", 1, *args, family.make(log, "local"))
        with pytest.raises(RegistrationError):
            register(s, "local", 1, *args, family.make(log, "dup"))
        await family.trigger()
        assert log == ["local"]
        assert deregister(s, "local") is True
        assert deregister(s, "local") is False
        await family.trigger()
        assert log == ["local"]
        register(s, "again", 1, *args, family.make(log, "again"))
        with scope.scope("child", ScopeType.Function):
            await family.trigger()  # visible from nested scopes too
        assert log == ["local", "again"]
    # the registration vanished with the scope
    await family.trigger()
    assert log == ["local", "again"]
    assert deregister(s, "again") is False


async def test_scope_local_not_visible_outside_its_scope_subtree(events: list[Any]) -> None:
    log: list[str] = []
    with scope.scope("a", ScopeType.Agent) as a:
        scope_local.register_tool_request(a, "only-a", 1, False, _tool_transform(log, "a"))
    with scope.scope("b", ScopeType.Agent):
        await run_tool()
    assert log == []


def test_registration_argument_validation() -> None:
    with pytest.raises(TypeError):
        intercepts.register_tool_request("x", 1, False, "not callable")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        intercepts.register_tool_request("x", "high", False, lambda n, a: a)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        scope_local.register_tool_request(None, "x", 1, False, lambda n, a: a)  # type: ignore[arg-type]
    # nothing was registered by the failed calls
    assert intercepts.deregister_tool_request("x") is False


# --- exact pipeline order -----------------------------------------------------------------------


async def test_tool_pipeline_exact_order() -> None:
    log: list[str] = []

    def sub(ev: Any) -> None:
        if ev.kind == "scope" and ev.category == "tool":
            log.append(f"event:{ev.scope_category}")
        elif ev.kind == "scope" and ev.category == "guardrail":
            log.append(f"guardrail-event:{ev.scope_category}")

    subscribers.register("order", sub)
    guardrails.register_tool_conditional_execution("cond", 1, lambda n, a: log.append("conditional"))
    intercepts.register_tool_request("req", 1, False, lambda n, a: log.append("request") or {**a, "req": 1})
    guardrails.register_tool_sanitize_request("sreq", 1, lambda n, a: log.append("sanitize-request") or a)
    guardrails.register_tool_sanitize_response("sresp", 1, lambda n, r: log.append("sanitize-response") or r)

    def exec_intercept(tag: str) -> Callable[..., Any]:
        async def fn(name: str, args: Any, nxt: Any) -> Any:
            log.append(f"{tag}:before")
            r = await nxt(args)
            log.append(f"{tag}:after")
            return r

        return fn

    intercepts.register_tool_execution("inner", 10, exec_intercept("exec-inner"))
    intercepts.register_tool_execution("outer", 1, exec_intercept("exec-outer"))

    def func(args: Any) -> Any:
        log.append("callable")
        assert args == {"a": 1, "req": 1}
        return {"r": 1}

    assert await tools.execute("tool", {"a": 1}, func) == {"r": 1}
    assert log == [
        "guardrail-event:start",
        "conditional",
        "guardrail-event:end",
        "request",
        "sanitize-request",
        "event:start",
        "exec-outer:before",
        "exec-inner:before",
        "callable",
        "exec-inner:after",
        "exec-outer:after",
        "sanitize-response",
        "event:end",
    ]


async def test_tool_pipeline_rejection_order() -> None:
    log: list[str] = []

    def sub(ev: Any) -> None:
        log.append(f"{ev.kind}:{ev.name}:{getattr(ev, 'scope_category', '')}")

    subscribers.register("order", sub)
    guardrails.register_tool_conditional_execution("allow", 1, lambda n, a: log.append("allow"))
    guardrails.register_tool_conditional_execution("deny", 2, lambda n, a: log.append("deny") or "no")
    guardrails.register_tool_conditional_execution("never", 3, lambda n, a: log.append("never"))
    intercepts.register_tool_request("req", 1, False, lambda n, a: log.append("request") or a)
    with pytest.raises(GuardrailRejected):
        await tools.execute("tool", {}, lambda a: log.append("callable"))
    assert log == [
        "scope:allow:start",
        "allow",
        "scope:allow:end",
        "scope:deny:start",
        "deny",
        "scope:deny:end",
        "mark:tool:",
    ]


async def test_llm_pipeline_exact_order() -> None:
    log: list[str] = []

    def sub(ev: Any) -> None:
        if ev.kind == "scope" and ev.category == "llm":
            log.append(f"event:{ev.scope_category}")
        elif ev.kind == "scope" and ev.category == "guardrail":
            log.append(f"guardrail-event:{ev.scope_category}")

    subscribers.register("order", sub)
    guardrails.register_llm_conditional_execution("cond", 1, lambda r: log.append("conditional"))
    intercepts.register_llm_request("req", 1, False, lambda n, r, a: log.append("request") or (r, a))
    guardrails.register_llm_sanitize_request("sreq", 1, lambda r: log.append("sanitize-request") or r)
    guardrails.register_llm_sanitize_response("sresp", 1, lambda r: log.append("sanitize-response") or r)

    async def outer(name: str, req: LLMRequest, nxt: Any) -> Any:
        log.append("exec-outer:before")
        r = await nxt(req)
        log.append("exec-outer:after")
        return r

    def inner(name: str, req: LLMRequest, nxt: Any) -> Any:  # a sync intercept returning the awaitable
        log.append("exec-inner")
        return nxt(req)

    intercepts.register_llm_execution("outer", 1, outer)
    intercepts.register_llm_execution("inner", 2, inner)
    out = await llm.execute("model", request(), lambda r: log.append("callable") or {"text": "x"})
    assert out == {"text": "x"}
    assert log == [
        "guardrail-event:start",
        "conditional",
        "guardrail-event:end",
        "request",
        "sanitize-request",
        "event:start",
        "exec-outer:before",
        "exec-inner",
        "callable",
        "exec-outer:after",
        "sanitize-response",
        "event:end",
    ]


async def test_each_tool_step_sees_the_right_arguments(events: list[Any]) -> None:
    seen: dict[str, Any] = {}
    guardrails.register_tool_conditional_execution("c", 1, lambda n, a: seen.setdefault("conditional", a) and None)
    intercepts.register_tool_request("r", 1, False, lambda n, a: seen.setdefault("request", a) and {**a, "r": 1})
    guardrails.register_tool_sanitize_request("s", 1, lambda n, a: seen.setdefault("sanitize", a) and {**a, "s": 1})
    guardrails.register_tool_sanitize_response("sr", 1, lambda n, r: seen.setdefault("sanitize-response", r) and r)
    received: list[Any] = []

    def func(args: Any) -> Any:
        received.append(args)
        return {"out": 1}

    await tools.execute("t", {"a": 1}, func)
    assert seen == {
        "conditional": {"a": 1},
        "request": {"a": 1},
        "sanitize": {"a": 1, "r": 1},
        "sanitize-response": {"out": 1},
    }
    assert received == [{"a": 1, "r": 1}]  # the callable never sees the sanitized copy
    start = next(e for e in events if e.category == "tool")
    assert start.data == {"a": 1, "r": 1, "s": 1}


async def test_guardrail_events_parented_to_explicit_handle(events: list[Any]) -> None:
    guardrails.register_tool_conditional_execution("deny", 1, lambda n, a: "no")
    with scope.scope("outer", ScopeType.Agent) as outer, scope.scope("inner", ScopeType.Agent):
        with pytest.raises(GuardrailRejected):
            await tools.execute("t", {}, lambda a: 1, handle=outer)
    inner_events = [e for e in events if e.name in ("deny", "t")]
    assert len(inner_events) == 3
    assert all(e.parent_uuid == outer.uuid for e in inner_events)


def test_scope_local_registration_on_ended_scope_is_refused() -> None:
    with scope.scope("s", ScopeType.Agent) as s:
        pass
    with pytest.raises(NemoFlowError):
        scope_local.register_tool_request(s, "late", 1, False, lambda n, a: a)


# --- ordering -----------------------------------------------------------------------------------


async def test_priority_then_name_ordering(events: list[Any]) -> None:
    log: list[str] = []
    for name, prio in [("b", 5), ("a", 5), ("c", 1), ("d", 9)]:
        intercepts.register_tool_request(name, prio, False, _tool_transform(log, f"req-{name}"))
        guardrails.register_tool_conditional_execution(name, prio, _tool_cond(log, f"cond-{name}"))
        guardrails.register_tool_sanitize_request(name, prio, _tool_transform(log, f"san-{name}"))
    await run_tool()
    assert log == [
        "cond-c",
        "cond-a",
        "cond-b",
        "cond-d",
        "req-c",
        "req-a",
        "req-b",
        "req-d",
        "san-c",
        "san-a",
        "san-b",
        "san-d",
    ]
    guard_starts = [e.name for e in events if e.kind == "scope" and e.category == "guardrail"]
    assert guard_starts == ["c", "c", "a", "a", "b", "b", "d", "d"]


async def test_negative_priority_runs_first() -> None:
    log: list[str] = []
    intercepts.register_tool_request("zero", 0, False, _tool_transform(log, "zero"))
    intercepts.register_tool_request("neg", -5, False, _tool_transform(log, "neg"))
    await run_tool()
    assert log == ["neg", "zero"]


async def test_break_chain_stops_request_intercepts() -> None:
    log: list[str] = []
    intercepts.register_tool_request("first", 1, False, lambda n, a: log.append("first") or {**a, "f": 1})
    intercepts.register_tool_request("stop", 2, True, lambda n, a: log.append("stop") or {**a, "s": 1})
    intercepts.register_tool_request("skipped", 3, False, lambda n, a: log.append("skipped") or {**a, "x": 1})
    received: list[Any] = []
    await tools.execute("tool", {}, received.append)
    assert log == ["first", "stop"]
    assert received == [{"f": 1, "s": 1}]

    llm_log: list[str] = []
    intercepts.register_llm_request("stop", 1, True, lambda n, r, a: llm_log.append("stop") or (r, a))
    intercepts.register_llm_request("skipped", 2, False, lambda n, r, a: llm_log.append("skipped") or (r, a))
    await run_llm()
    assert llm_log == ["stop"]


async def test_merge_order_global_then_outer_then_inner_at_equal_priority() -> None:
    log: list[str] = []
    # names chosen so that sorting by name would give the opposite order
    intercepts.register_tool_request("z-global", 5, False, _tool_transform(log, "global"))
    with scope.scope("outer", ScopeType.Agent) as outer:
        scope_local.register_tool_request(outer, "y-outer", 5, False, _tool_transform(log, "outer"))
        with scope.scope("inner", ScopeType.Agent) as inner:
            scope_local.register_tool_request(inner, "x-inner", 5, False, _tool_transform(log, "inner"))
            scope_local.register_tool_request(inner, "early", 1, False, _tool_transform(log, "inner-early"))
            intercepts.register_tool_request("late", 20, False, _tool_transform(log, "global-late"))
            await run_tool()
    assert log == ["inner-early", "global", "outer", "inner", "global-late"]


async def test_execution_intercept_global_outermost_at_lower_priority() -> None:
    log: list[str] = []

    def wrap(tag: str) -> Callable[..., Any]:
        async def fn(name: str, args: Any, nxt: Any) -> Any:
            log.append(f"{tag}>")
            r = await nxt(args)
            log.append(f"<{tag}")
            return r

        return fn

    intercepts.register_tool_execution("global", 1, wrap("g1"))
    with scope.scope("s", ScopeType.Agent) as s:
        scope_local.register_tool_execution(s, "local", 5, wrap("l5"))
        scope_local.register_tool_execution(s, "local-eq", 1, wrap("l1"))
        await run_tool()
    assert log == ["g1>", "l1>", "l5>", "<l5", "<l1", "<g1"]


async def test_snapshot_is_taken_per_call(events: list[Any]) -> None:
    log: list[str] = []
    await run_tool()
    intercepts.register_tool_request("late", 1, False, _tool_transform(log, "late"))
    await run_tool()
    assert log == ["late"]


# --- execution intercept composition ------------------------------------------------------------


async def test_execution_intercept_short_circuit(events: list[Any]) -> None:
    called: list[int] = []

    def cache(name: str, args: Any, nxt: Any) -> Any:
        return {"cached": True}

    intercepts.register_tool_execution("cache", 1, cache)
    assert await tools.execute("tool", {}, lambda a: called.append(1)) == {"cached": True}
    assert called == []
    end = [e for e in events if e.name == "tool"][-1]
    assert end.data == {"cached": True}


async def test_execution_intercept_calls_next_once_with_new_args() -> None:
    async def rewrite(name: str, args: Any, nxt: Any) -> Any:
        out = await nxt({**args, "rewritten": True})
        return {"wrapped": out}

    intercepts.register_tool_execution("rewrite", 1, rewrite)
    assert await tools.execute("tool", {"a": 1}, lambda a: a) == {"wrapped": {"a": 1, "rewritten": True}}


async def test_execution_intercept_retry_three_times() -> None:
    attempts: list[int] = []

    async def flaky(args: Any) -> Any:
        attempts.append(1)
        if len(attempts) < 3:
            raise TimeoutError("try again")
        return {"attempts": len(attempts)}

    async def retry(name: str, args: Any, nxt: Any) -> Any:
        for _ in range(3):
            try:
                return await nxt(args)
            except TimeoutError:
                continue
        raise AssertionError("unreachable")

    intercepts.register_tool_execution("retry", 1, retry)
    assert await tools.execute("tool", {}, flaky) == {"attempts": 3}
    assert len(attempts) == 3


async def test_llm_execution_intercept_retry_and_short_circuit() -> None:
    calls: list[int] = []

    def func(req: LLMRequest) -> Any:
        calls.append(1)
        return {"n": len(calls)}

    async def thrice(name: str, req: LLMRequest, nxt: Any) -> Any:
        results = [await nxt(req) for _ in range(3)]
        return results[-1]

    intercepts.register_llm_execution("thrice", 1, thrice)
    assert await llm.execute("model", request(), func) == {"n": 3}
    intercepts.deregister_llm_execution("thrice")
    intercepts.register_llm_execution("short", 1, lambda name, req, nxt: {"short": True})
    assert await llm.execute("model", request(), func) == {"short": True}
    assert len(calls) == 3


async def test_sync_and_async_intercepts_mix() -> None:
    log: list[str] = []

    def sync_req(name: str, args: Any) -> Any:
        log.append("sync-request")
        return args

    def sync_exec(name: str, args: Any, nxt: Any) -> Any:
        log.append("sync-exec")
        return nxt(args)  # returns the awaitable; the driver awaits it

    async def async_exec(name: str, args: Any, nxt: Any) -> Any:
        log.append("async-exec")
        return await nxt(args)

    intercepts.register_tool_request("r", 1, False, sync_req)
    intercepts.register_tool_execution("s", 1, sync_exec)
    intercepts.register_tool_execution("a", 2, async_exec)

    async def func(args: Any) -> Any:
        return "done"

    assert await tools.execute("tool", {}, func) == "done"
    assert log == ["sync-request", "sync-exec", "async-exec"]


def test_reentrant_registration_from_callbacks_does_not_deadlock() -> None:
    script = textwrap.dedent(
        """
        import asyncio
        import nemo_flow as nf

        counter = [0]

        def fresh():
            counter[0] += 1
            return f"n{counter[0]}"

        def sub(ev):
            n = fresh()
            nf.subscribers.register(n, lambda e: None)
            nf.subscribers.deregister(n)

        def cond(name, args):
            n = fresh()
            nf.guardrails.register_tool_conditional_execution(n, 99, lambda a, b: None)
            nf.guardrails.deregister_tool_conditional_execution(n)
            return None

        def req(name, args):
            nf.intercepts.register_tool_request(fresh(), 99, False, lambda n, a: a)
            return args

        def san(name, args):
            nf.guardrails.register_tool_sanitize_request(fresh(), 99, lambda n, a: a)
            return args

        async def exe(name, args, nxt):
            nf.intercepts.register_tool_execution(fresh(), 99, lambda n, a, x: x(a))
            return await nxt(args)

        nf.subscribers.register("sub", sub)
        nf.guardrails.register_tool_conditional_execution("cond", 1, cond)
        nf.intercepts.register_tool_request("req", 1, False, req)
        nf.guardrails.register_tool_sanitize_request("san", 1, san)
        nf.intercepts.register_tool_execution("exe", 1, exe)

        async def main():
            with nf.scope.scope("s", nf.ScopeType.Agent) as s:
                def local(name, args):
                    nf.scope_local.register_tool_request(s, fresh(), 99, False, lambda n, a: a)
                    return args
                nf.scope_local.register_tool_request(s, "local", 2, False, local)
                for _ in range(3):
                    await nf.tools.execute("t", {"x": 1}, lambda a: a)
            print("ok")

        asyncio.run(main())
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"


# --- guardrail events and rejection -------------------------------------------------------------

ALLOWED_EXTRA_KEYS = {"root_uuid", "error"}  # DESIGN differences 7 and 2


def assert_shape(ev: Any, expected: dict[str, Any]) -> None:
    d = ev.to_dict()
    assert set(d) - set(expected) <= ALLOWED_EXTRA_KEYS | {"uuid", "timestamp"}, set(d) - set(expected)
    for k, v in expected.items():
        assert d[k] == v, (k, d[k], v)
    if "error" in d:
        assert d["error"] is None


async def test_guardrail_scope_pair_and_rejection_mark_shapes(events: list[Any]) -> None:
    guardrails.register_tool_conditional_execution("deny", 1, lambda name, args: "bad query")
    called: list[int] = []
    with scope.scope("agent", ScopeType.Agent) as agent:
        with pytest.raises(GuardrailRejected) as info:
            await tools.execute("search", {"q": "secret"}, lambda a: called.append(1), metadata={"tm": 1})
    assert str(info.value).startswith("guardrail rejected: ")
    assert "bad query" in str(info.value)
    assert isinstance(info.value, NemoFlowError) and isinstance(info.value, RuntimeError)
    assert called == []
    inner = [e for e in events if e.name != "agent"]
    assert len(inner) == 3
    g_start, g_end, mark = inner
    assert_shape(
        g_start,
        {
            "atof_version": "0.1",
            "attributes": [],
            "category": "guardrail",
            "category_profile": None,
            "data": {"kind": "tool_conditional_execution", "target_name": "search"},
            "data_schema": None,
            "kind": "scope",
            "metadata": {"tm": 1},
            "name": "deny",
            "parent_uuid": agent.uuid,
            "scope_category": "start",
        },
    )
    assert_shape(
        g_end,
        {
            "atof_version": "0.1",
            "attributes": [],
            "category": "guardrail",
            "category_profile": None,
            "data": {"allowed": False, "rejected": True, "rejection_reason": "bad query"},
            "data_schema": None,
            "kind": "scope",
            "metadata": {"tm": 1},
            "name": "deny",
            "parent_uuid": agent.uuid,
            "scope_category": "end",
        },
    )
    assert g_start.uuid == g_end.uuid
    assert_shape(
        mark,
        {
            "atof_version": "0.1",
            "category": None,
            "category_profile": None,
            "data": {"rejected": True, "rejection_reason": "bad query"},
            "data_schema": None,
            "kind": "mark",
            "metadata": {"tm": 1},
            "name": "search",
            "parent_uuid": agent.uuid,
        },
    )
    assert "secret" not in g_start.to_json()  # the raw arguments stay out of the guardrail event
    assert not any(e.kind == "scope" and e.category == "tool" for e in events)
    assert all(e.root_uuid == agent.root_uuid for e in events)


async def test_allowed_guardrail_pair_precedes_tool_start(events: list[Any]) -> None:
    guardrails.register_tool_conditional_execution("ok", 1, lambda name, args: None)
    await tools.execute("search", {}, lambda a: 1)
    assert [(e.category, e.scope_category) for e in events] == [
        ("guardrail", "start"),
        ("guardrail", "end"),
        ("tool", "start"),
        ("tool", "end"),
    ]
    assert events[1].data == {"allowed": True, "rejected": False}
    assert events[0].parent_uuid == events[2].parent_uuid


async def test_conditional_guardrail_must_return_str_or_none(events: list[Any]) -> None:
    guardrails.register_tool_conditional_execution("bad", 1, lambda name, args: 42)
    with pytest.raises(MiddlewareError) as info:
        await tools.execute("t", {}, lambda a: 1)
    assert isinstance(info.value.__cause__, TypeError)
    assert not any(e.category == "tool" for e in events if e.kind == "scope")


async def test_conditional_guardrail_raising_is_middleware_error(events: list[Any]) -> None:
    err = ValueError("guardrail crashed")

    def broken(name: str, args: Any) -> Any:
        raise err

    guardrails.register_tool_conditional_execution("broken", 1, broken)
    called: list[int] = []
    with pytest.raises(MiddlewareError) as info:
        await tools.execute("t", {}, lambda a: called.append(1))
    assert info.value.__cause__ is err
    assert isinstance(info.value, NemoFlowError) and isinstance(info.value, RuntimeError)
    assert called == []
    _g_start, g_end = events
    assert g_end.category == "guardrail" and g_end.scope_category == "end"
    assert g_end.data["allowed"] is False
    assert set(g_end.data) == {"allowed", "error"}
    assert "guardrail crashed" in g_end.data["error"]
    assert not any(e.kind == "mark" for e in events)


async def test_llm_conditional_guardrail_raising_is_middleware_error(events: list[Any]) -> None:
    err = KeyError("k")

    def broken(req: LLMRequest) -> Any:
        raise err

    guardrails.register_llm_conditional_execution("broken", 1, broken)
    with pytest.raises(MiddlewareError) as info:
        await run_llm()
    assert info.value.__cause__ is err
    assert events[-1].data["allowed"] is False and "error" in events[-1].data


async def test_request_intercept_raising_is_middleware_error_before_start(events: list[Any]) -> None:
    err = LookupError("intercept crashed")

    def broken(name: str, args: Any) -> Any:
        raise err

    intercepts.register_tool_request("broken", 1, False, broken)
    called: list[int] = []
    with pytest.raises(MiddlewareError) as info:
        await tools.execute("t", {}, lambda a: called.append(1))
    assert info.value.__cause__ is err
    assert "broken" in str(info.value)
    assert called == []
    assert events == []


async def test_llm_request_intercept_and_codec_errors_before_start(events: list[Any]) -> None:
    err = ValueError("bad")

    def broken(name: str, req: LLMRequest, ann: Any) -> Any:
        raise err

    intercepts.register_llm_request("broken", 1, False, broken)
    with pytest.raises(MiddlewareError) as info:
        await run_llm()
    assert info.value.__cause__ is err
    intercepts.deregister_llm_request("broken")

    class BadCodec:
        def decode(self, request: LLMRequest) -> Any:
            raise RuntimeError("decode failed")

        def encode(self, annotated: Any, original: LLMRequest) -> Any:
            return original

    intercepts.register_llm_request("noop", 1, False, lambda n, r, a: (r, a))
    with pytest.raises(MiddlewareError) as info:
        await llm.execute("model", request(), lambda r: 1, codec=BadCodec())
    assert isinstance(info.value.__cause__, RuntimeError)

    intercepts.deregister_llm_request("noop")
    intercepts.register_llm_request("bad-return", 1, False, lambda n, r, a: "nonsense")
    with pytest.raises(MiddlewareError):
        await run_llm()
    assert events == []


async def test_execution_intercept_raising_is_middleware_error_with_end_event(events: list[Any]) -> None:
    err = ZeroDivisionError("intercept bug")

    async def broken(name: str, args: Any, nxt: Any) -> Any:
        await nxt(args)
        raise err

    intercepts.register_tool_execution("broken", 1, broken)
    with pytest.raises(MiddlewareError) as info:
        await tools.execute("t", {}, lambda a: {"ok": 1}, data={"app": 1})
    assert info.value.__cause__ is err
    _start, end = events
    assert end.scope_category == "end"
    assert end.error is not None
    assert end.error["type"] == "MiddlewareError"
    assert "intercept bug" in end.error["message"]
    assert end.data == {"app": 1}


async def test_nested_execution_intercept_error_is_wrapped_once() -> None:
    err = ValueError("inner bug")

    def inner(name: str, args: Any, nxt: Any) -> Any:
        raise err

    async def outer(name: str, args: Any, nxt: Any) -> Any:
        return await nxt(args)

    intercepts.register_tool_execution("outer", 1, outer)
    intercepts.register_tool_execution("inner", 2, inner)
    with pytest.raises(MiddlewareError) as info:
        await tools.execute("t", {}, lambda a: 1)
    assert info.value.__cause__ is err
    assert "inner" in str(info.value)


async def test_callable_exception_passes_through_execution_intercepts_unchanged(events: list[Any]) -> None:
    class ToolFailure(Exception):
        pass

    err = ToolFailure("tool broke")

    async def func(args: Any) -> Any:
        raise err

    async def outer(name: str, args: Any, nxt: Any) -> Any:
        return await nxt(args)

    def inner(name: str, args: Any, nxt: Any) -> Any:
        return nxt(args)

    intercepts.register_tool_execution("outer", 1, outer)
    intercepts.register_tool_execution("inner", 2, inner)
    with pytest.raises(ToolFailure) as info:
        await tools.execute("t", {}, func)
    assert info.value is err
    assert type(info.value) is ToolFailure
    assert events[-1].error == {"type": "ToolFailure", "message": "tool broke"}


def test_callable_exception_passes_through_sync_intercepts_unchanged() -> None:
    err = OSError("disk")

    def func(args: Any) -> Any:
        raise err

    intercepts.register_tool_execution("w", 1, lambda name, args, nxt: nxt(args))
    with pytest.raises(OSError) as info:
        tools.execute_sync("t", {}, func)
    assert info.value is err


async def test_llm_callable_exception_passes_through_intercepts() -> None:
    err = ConnectionResetError("reset")

    async def func(req: LLMRequest) -> Any:
        raise err

    async def wrap(name: str, req: LLMRequest, nxt: Any) -> Any:
        return await nxt(req)

    intercepts.register_llm_execution("wrap", 1, wrap)
    with pytest.raises(ConnectionResetError) as info:
        await llm.execute("model", request(), func)
    assert info.value is err


async def test_intercept_may_translate_callable_exception_into_its_own() -> None:
    async def func(args: Any) -> Any:
        raise KeyError("x")

    async def translate(name: str, args: Any, nxt: Any) -> Any:
        try:
            return await nxt(args)
        except KeyError as e:
            raise ValueError("translated") from e

    intercepts.register_tool_execution("translate", 1, translate)
    with pytest.raises(MiddlewareError) as info:
        await tools.execute("t", {}, func)
    assert isinstance(info.value.__cause__, ValueError)


async def test_intercept_may_recover_from_callable_exception(events: list[Any]) -> None:
    async def func(args: Any) -> Any:
        raise KeyError("x")

    async def fallback(name: str, args: Any, nxt: Any) -> Any:
        try:
            return await nxt(args)
        except KeyError:
            return {"fallback": True}

    intercepts.register_tool_execution("fallback", 1, fallback)
    assert await tools.execute("t", {}, func) == {"fallback": True}
    assert events[-1].error is None
    assert events[-1].data == {"fallback": True}


# --- sanitizers -----------------------------------------------------------------------------------


async def test_sanitizers_change_events_not_the_call(events: list[Any]) -> None:
    guardrails.register_tool_sanitize_request("mask", 1, lambda n, a: {**a, "key": "***"})
    guardrails.register_tool_sanitize_response("mask", 1, lambda n, r: {**r, "token": "***"})
    received: list[Any] = []

    def func(args: Any) -> Any:
        received.append(args)
        return {"token": "t0k3n"}

    assert await tools.execute("t", {"key": "k3y"}, func) == {"token": "t0k3n"}
    assert received == [{"key": "k3y"}]
    start, end = events
    assert start.data == {"key": "***"}
    assert end.data == {"token": "***"}


async def test_scope_local_sanitizers_run_after_global_at_equal_priority(events: list[Any]) -> None:
    guardrails.register_tool_sanitize_request("g", 1, lambda n, a: {**a, "trail": [*a.get("trail", []), "g"]})
    with scope.scope("s", ScopeType.Agent) as s:
        scope_local.register_tool_sanitize_request(
            s, "a-local", 1, lambda n, a: {**a, "trail": [*a.get("trail", []), "l"]}
        )
        await tools.execute("t", {}, lambda a: 1)
    start = next(e for e in events if e.name == "t")
    assert start.data == {"trail": ["g", "l"]}
