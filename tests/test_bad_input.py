"""Bad input: every public function refuses wrong types and non-JSON payloads with a clear
TypeError/ValueError naming the argument, and a refused call leaves the runtime intact: no
event emitted, no half-open scope, registries unchanged, and later calls work."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import nemo_flow
from nemo_flow import (
    LLMAttributes,
    LLMRequest,
    RegistrationError,
    ScopeAttributes,
    ScopeHandle,
    ScopeType,
    ToolAttributes,
    guardrails,
    intercepts,
    llm,
    scope,
    scope_local,
    subscribers,
    tools,
)


def _cycle_dict() -> dict[str, Any]:
    d: dict[str, Any] = {"ok": 1}
    d["self"] = d
    return d


def _cycle_list() -> list[Any]:
    lst: list[Any] = [1]
    lst.append(lst)
    return lst


def _deep(n: int) -> list[Any]:
    v: list[Any] = []
    for _ in range(n):
        v = [v]
    return v


def _echo(a: Any) -> Any:
    return a


def _cb(*args: Any) -> None:
    return None


def _keep_args(name: str, args: Any) -> Any:
    return args


NAIVE = dt.datetime(2020, 1, 1)
REQ = LLMRequest({"h": "v"}, {"messages": []})

# Payloads JSON cannot hold, the exception each must raise, and a fragment of its message.
NON_JSON: list[tuple[str, Callable[[], Any], type[Exception], str]] = [
    ("cycle-dict", _cycle_dict, ValueError, "cycle"),
    ("cycle-list", _cycle_list, ValueError, "cycle"),
    ("nan", lambda: {"x": float("nan")}, ValueError, "NaN"),
    ("inf", lambda: [float("inf")], ValueError, "inf"),
    ("bytes", lambda: {"b": b"raw"}, TypeError, "bytes"),
    ("non-str-key", lambda: {1: "one"}, TypeError, "key"),
    ("tuple-key", lambda: {(1, 2): "pair"}, TypeError, "key"),
    ("set", lambda: {1, 2}, TypeError, "set"),
    ("object", object, TypeError, "object"),
    ("huge-int", lambda: 2**70, ValueError, "64 bits"),
    ("too-deep", lambda: _deep(300), ValueError, "deep"),
]


@pytest.fixture
def outer(events: list[Any]) -> Iterator[ScopeHandle]:
    """A canary intercept and an open scope; every bad call runs inside it."""
    intercepts.register_tool_request("canary", 0, False, lambda n, a: {**a, "canary": True})
    h = scope.push("outer", ScopeType.Agent)
    events.clear()
    yield h
    if not h.ended:
        scope.pop(h)


def assert_intact(events: list[Any], outer: ScopeHandle) -> None:
    """Nothing was emitted, nothing is half-open, and the runtime still works."""
    assert [(e.name, getattr(e, "scope_category", "mark")) for e in events] == []
    assert scope.get_handle() == outer
    assert not outer.ended
    result = tools.execute_sync("good", {"x": 1}, _echo)
    assert result == {"x": 1, "canary": True}
    assert [(e.name, e.scope_category) for e in events] == [("good", "start"), ("good", "end")]
    assert all(e.parent_uuid == outer.uuid for e in events)
    with scope.scope("good-scope", ScopeType.Function) as h:
        scope.event("good-mark")
    assert events[-1].uuid == h.uuid and events[-2].parent_uuid == h.uuid
    assert scope.get_handle() == outer
    # The canary registration is still there (and only once).
    assert intercepts.deregister_tool_request("canary") is True
    assert intercepts.deregister_tool_request("canary") is False


# --- non-JSON payloads, argument by argument ----------------------------------------------

PAYLOAD_SITES: list[tuple[str, Callable[[Any, ScopeHandle], Any], str]] = [
    ("push.data", lambda v, o: scope.push("s", ScopeType.Agent, data=v), "data"),
    ("push.input", lambda v, o: scope.push("s", ScopeType.Agent, input=v), "input"),
    ("push.metadata", lambda v, o: scope.push("s", ScopeType.Agent, metadata=v), "metadata"),
    ("scope.input", lambda v, o: scope.scope("s", ScopeType.Agent, input=v), "input"),
    ("pop.output", lambda v, o: scope.pop(o, output=v), "output"),
    ("event.data", lambda v, o: scope.event("m", data=v), "data"),
    ("event.metadata", lambda v, o: scope.event("m", metadata=v), "metadata"),
    ("start_detached.input", lambda v, o: scope.start_detached("d", ScopeType.Function, input=v), "input"),
    ("tools.execute_sync.args", lambda v, o: tools.execute_sync("t", v, _echo), "args"),
    ("tools.execute_sync.metadata", lambda v, o: tools.execute_sync("t", {}, _echo, metadata=v), "metadata"),
    ("tools.execute_sync.data", lambda v, o: tools.execute_sync("t", {}, _echo, data=v), "data"),
    ("tools.call.args", lambda v, o: tools.call("t", v), "args"),
    ("tools.request_intercepts.args", lambda v, o: tools.request_intercepts("t", v), "args"),
    ("tools.conditional_execution.args", lambda v, o: tools.conditional_execution("t", v), "args"),
    (
        "llm.execute_sync.content",
        lambda v, o: llm.execute_sync("m", LLMRequest({}, {"c": v}), _echo),
        "request.content",
    ),
    (
        "llm.execute_sync.headers",
        lambda v, o: llm.execute_sync("m", LLMRequest({"h": v}, {}), _echo),
        "request.headers",
    ),
    ("llm.execute_sync.metadata", lambda v, o: llm.execute_sync("m", REQ, _echo, metadata=v), "metadata"),
    ("llm.call.content", lambda v, o: llm.call("m", LLMRequest({}, {"c": v})), "request.content"),
]


@pytest.mark.parametrize(("site", "call", "arg"), PAYLOAD_SITES, ids=[s[0] for s in PAYLOAD_SITES])
@pytest.mark.parametrize(("kind", "make", "exc", "fragment"), NON_JSON, ids=[n[0] for n in NON_JSON])
def test_non_json_payload_is_refused(
    events: list[Any],
    outer: ScopeHandle,
    site: str,
    call: Callable[[Any, ScopeHandle], Any],
    arg: str,
    kind: str,
    make: Callable[[], Any],
    exc: type[Exception],
    fragment: str,
) -> None:
    with pytest.raises(exc) as info:
        call(make(), outer)
    message = str(info.value)
    assert message.startswith(arg), message
    assert fragment in message, message
    assert_intact(events, outer)


def test_non_json_payload_is_refused_without_subscribers(outer: ScopeHandle) -> None:
    # Nothing reads the payload, and it is still refused.
    subscribers.deregister("test-events")
    for make in (_cycle_dict, lambda: float("nan"), lambda: b"x"):
        with pytest.raises((TypeError, ValueError), match=r"^args"):
            tools.execute_sync("t", make(), _echo)
        with pytest.raises((TypeError, ValueError), match=r"^data"):
            scope.event("m", data=make())
        with pytest.raises((TypeError, ValueError), match=r"^input"):
            scope.push("s", ScopeType.Agent, input=make())
    assert scope.get_handle() == outer


def test_error_names_the_path_inside_the_payload(outer: ScopeHandle) -> None:
    with pytest.raises(ValueError, match=r'^args\["outer"\]\[1\]\["x"\]: .*NaN'):
        tools.execute_sync("t", {"outer": [0, {"x": float("nan")}]}, _echo)


async def test_async_tool_execute_refuses_non_json_args(events: list[Any], outer: ScopeHandle) -> None:
    with pytest.raises(ValueError, match=r"^args.*cycle"):
        await tools.execute("t", _cycle_dict(), _echo)
    with pytest.raises(TypeError, match=r"^name"):
        tools.execute(1, {}, _echo)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^func"):
        tools.execute("t", {}, "not callable")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"^request\.content"):
        await llm.execute("m", LLMRequest({}, {"c": float("nan")}), _echo)
    assert_intact(events, outer)


def test_non_json_args_with_guardrails_registered_emit_nothing(events: list[Any], outer: ScopeHandle) -> None:
    guardrails.register_tool_conditional_execution("allow", 1, lambda n, a: None)
    guardrails.register_llm_conditional_execution("allow", 1, lambda r: None)
    with pytest.raises(ValueError, match=r"^args"):
        tools.execute_sync("t", _cycle_dict(), _echo)
    with pytest.raises(ValueError, match=r"^request\.content"):
        llm.execute_sync("m", LLMRequest({}, {"c": _cycle_list()}), _echo)
    # No guardrail scope was opened and left dangling.
    assert events == []
    assert guardrails.deregister_tool_conditional_execution("allow") is True
    assert guardrails.deregister_llm_conditional_execution("allow") is True
    assert_intact(events, outer)


# --- wrong types, function by function ----------------------------------------------------

WRONG_TYPES: list[tuple[str, Callable[[ScopeHandle], Any], type[Exception], str]] = [
    # scope
    ("push name int", lambda o: scope.push(1, ScopeType.Agent), TypeError, "name"),
    ("push name None", lambda o: scope.push(None, ScopeType.Agent), TypeError, "name"),
    ("push name empty", lambda o: scope.push("", ScopeType.Agent), ValueError, "name"),
    ("push unknown type", lambda o: scope.push("s", "robot"), ValueError, "scope_type"),
    ("push type int", lambda o: scope.push("s", 3), TypeError, "scope_type"),
    ("push type None", lambda o: scope.push("s", None), TypeError, "scope_type"),
    ("push handle str", lambda o: scope.push("s", ScopeType.Agent, handle="outer"), TypeError, "handle"),
    (
        "push handle stack",
        lambda o: scope.push("s", ScopeType.Agent, handle=nemo_flow.create_scope_stack()),
        TypeError,
        "handle",
    ),
    ("push attributes str", lambda o: scope.push("s", ScopeType.Agent, attributes="parallel"), TypeError, "attributes"),
    ("push attributes bool", lambda o: scope.push("s", ScopeType.Agent, attributes=True), TypeError, "attributes"),
    ("push attributes unknown bit", lambda o: scope.push("s", ScopeType.Agent, attributes=8), ValueError, "attributes"),
    ("push attributes negative", lambda o: scope.push("s", ScopeType.Agent, attributes=-1), ValueError, "attributes"),
    (
        "push attributes other class",
        lambda o: scope.push("s", ScopeType.Agent, attributes=ToolAttributes(1)),
        TypeError,
        "attributes",
    ),
    ("push timestamp naive", lambda o: scope.push("s", ScopeType.Agent, timestamp=NAIVE), ValueError, "timestamp"),
    ("push timestamp str", lambda o: scope.push("s", ScopeType.Agent, timestamp="2020-01-01"), TypeError, "timestamp"),
    ("push timestamp float", lambda o: scope.push("s", ScopeType.Agent, timestamp=0.0), TypeError, "timestamp"),
    (
        "push timestamp date",
        lambda o: scope.push("s", ScopeType.Agent, timestamp=dt.date(2020, 1, 1)),
        TypeError,
        "timestamp",
    ),
    ("scope name int", lambda o: scope.scope(1, ScopeType.Agent), TypeError, "name"),
    ("scope unknown type", lambda o: scope.scope("s", "robot"), ValueError, "scope_type"),
    ("scope handle", lambda o: scope.scope("s", ScopeType.Agent, handle=1), TypeError, "handle"),
    ("scope end_timestamp", lambda o: scope.scope("s", ScopeType.Agent, end_timestamp="x"), TypeError, "end_timestamp"),
    (
        "scope end_timestamp naive",
        lambda o: scope.scope("s", ScopeType.Agent, end_timestamp=NAIVE),
        ValueError,
        "end_timestamp",
    ),
    ("pop str", lambda o: scope.pop("outer"), TypeError, "handle"),
    ("pop None", lambda o: scope.pop(None), TypeError, "handle"),
    ("pop timestamp naive", lambda o: scope.pop(o, timestamp=NAIVE), ValueError, "timestamp"),
    ("event name None", lambda o: scope.event(None), TypeError, "name"),
    ("event name empty", lambda o: scope.event(""), ValueError, "name"),
    ("event handle int", lambda o: scope.event("m", handle=1), TypeError, "handle"),
    ("event timestamp naive", lambda o: scope.event("m", timestamp=NAIVE), ValueError, "timestamp"),
    ("start_detached name", lambda o: scope.start_detached(1, ScopeType.Function), TypeError, "name"),
    ("start_detached parent", lambda o: scope.start_detached("d", ScopeType.Function, parent="x"), TypeError, "parent"),
    ("start_detached type", lambda o: scope.start_detached("d", "robot"), ValueError, "scope_type"),
    ("end_detached handle", lambda o: scope.end_detached("x"), TypeError, "handle"),
    ("end_detached None", lambda o: scope.end_detached(None), TypeError, "handle"),
    ("set_thread_scope_stack", lambda o: nemo_flow.set_thread_scope_stack("stack"), TypeError, "stack"),
    ("set_thread_scope_stack handle", lambda o: nemo_flow.set_thread_scope_stack(o), TypeError, "stack"),
    # subscribers
    ("subscriber name int", lambda o: subscribers.register(1, _cb), TypeError, "name"),
    ("subscriber name empty", lambda o: subscribers.register("", _cb), ValueError, "name"),
    ("subscriber not callable", lambda o: subscribers.register("s", 3), TypeError, "callback"),
    ("subscriber None", lambda o: subscribers.register("s", None), TypeError, "callback"),
    ("subscriber deregister name", lambda o: subscribers.deregister(1), TypeError, "name"),
    ("flush negative", lambda o: subscribers.flush(-1), ValueError, "timeout"),
    ("flush nan", lambda o: subscribers.flush(float("nan")), ValueError, "timeout"),
    ("flush str", lambda o: subscribers.flush("soon"), TypeError, "timeout"),
    # guardrails and intercepts
    ("guardrail name int", lambda o: guardrails.register_tool_sanitize_request(1, 0, _cb), TypeError, "name"),
    (
        "guardrail priority bool",
        lambda o: guardrails.register_tool_sanitize_request("g", True, _cb),
        TypeError,
        "priority",
    ),
    (
        "guardrail priority float",
        lambda o: guardrails.register_tool_sanitize_request("g", 1.5, _cb),
        TypeError,
        "priority",
    ),
    (
        "guardrail priority str",
        lambda o: guardrails.register_llm_conditional_execution("g", "1", _cb),
        TypeError,
        "priority",
    ),
    (
        "guardrail priority huge",
        lambda o: guardrails.register_tool_conditional_execution("g", 2**40, _cb),
        TypeError,
        "priority",
    ),
    (
        "guardrail not callable",
        lambda o: guardrails.register_llm_sanitize_response("g", 0, "fn"),
        TypeError,
        "guardrail: expected a callable",
    ),
    (
        "intercept break_chain str",
        lambda o: intercepts.register_tool_request("i", 0, "yes", _cb),
        TypeError,
        "break_chain",
    ),
    (
        "intercept not callable",
        lambda o: intercepts.register_tool_execution("i", 0, None),
        TypeError,
        "fn: expected a callable",
    ),
    (
        "intercept priority bool",
        lambda o: intercepts.register_llm_request("i", False, False, _cb),
        TypeError,
        "priority",
    ),
    ("intercept deregister name", lambda o: intercepts.deregister_llm_execution(None), TypeError, "name"),
    # scope-local
    ("scope_local handle None", lambda o: scope_local.register_subscriber(None, "s", _cb), TypeError, "scope_handle"),
    (
        "scope_local handle str",
        lambda o: scope_local.register_tool_request("h", "s", 0, False, _cb),
        TypeError,
        "scope_handle",
    ),
    (
        "scope_local deregister handle",
        lambda o: scope_local.deregister_subscriber(None, "s"),
        TypeError,
        "scope_handle",
    ),
    ("scope_local name", lambda o: scope_local.register_subscriber(o, 5, _cb), TypeError, "name"),
    (
        "scope_local priority bool",
        lambda o: scope_local.register_tool_request(o, "s", True, False, _cb),
        TypeError,
        "priority",
    ),
    ("scope_local not callable", lambda o: scope_local.register_subscriber(o, "s", 42), TypeError, "callable"),
    # tools
    ("tools.execute_sync name", lambda o: tools.execute_sync(1, {}, _echo), TypeError, "name"),
    ("tools.execute_sync func", lambda o: tools.execute_sync("t", {}, 3), TypeError, "func"),
    ("tools.execute_sync handle", lambda o: tools.execute_sync("t", {}, _echo, handle="x"), TypeError, "handle"),
    (
        "tools.execute_sync attributes",
        lambda o: tools.execute_sync("t", {}, _echo, attributes="remote"),
        TypeError,
        "attributes",
    ),
    (
        "tools.execute_sync attributes other class",
        lambda o: tools.execute_sync("t", {}, _echo, attributes=ScopeAttributes(1)),
        TypeError,
        "attributes",
    ),
    ("tools.call name", lambda o: tools.call(None, {}), TypeError, "name"),
    ("tools.call tool_call_id", lambda o: tools.call("t", {}, tool_call_id=5), TypeError, "tool_call_id"),
    ("tools.call handle", lambda o: tools.call("t", {}, handle=5), TypeError, "handle"),
    ("tools.call timestamp", lambda o: tools.call("t", {}, timestamp=NAIVE), ValueError, "timestamp"),
    ("tools.call_end handle", lambda o: tools.call_end("x", {}), TypeError, "handle"),
    ("tools.call_end scope handle", lambda o: tools.call_end(o, {}), TypeError, "handle"),
    ("tools.request_intercepts name", lambda o: tools.request_intercepts(1, {}), TypeError, "name"),
    ("tools.conditional_execution name", lambda o: tools.conditional_execution(1, {}), TypeError, "name"),
    # llm
    ("LLMRequest content str", lambda o: LLMRequest({}, "hello"), TypeError, "content"),
    ("LLMRequest content list", lambda o: LLMRequest({}, [{"role": "user"}]), TypeError, "content"),
    ("LLMRequest content None", lambda o: LLMRequest({}, None), TypeError, "content"),
    ("LLMRequest headers", lambda o: LLMRequest(["h"], {}), TypeError, "headers"),
    ("llm.execute_sync name", lambda o: llm.execute_sync(1, REQ, _echo), TypeError, "name"),
    ("llm.execute_sync request dict", lambda o: llm.execute_sync("m", {"content": {}}, _echo), TypeError, "request"),
    ("llm.execute_sync func", lambda o: llm.execute_sync("m", REQ, None), TypeError, "func"),
    ("llm.execute_sync model_name", lambda o: llm.execute_sync("m", REQ, _echo, model_name=3), TypeError, "model_name"),
    ("llm.execute_sync codec", lambda o: llm.execute_sync("m", REQ, _echo, codec=3), TypeError, "codec"),
    (
        "llm.execute_sync attributes",
        lambda o: llm.execute_sync("m", REQ, _echo, attributes=ToolAttributes(1)),
        TypeError,
        "attributes",
    ),
    (
        "llm.execute_sync attributes bits",
        lambda o: llm.execute_sync("m", REQ, _echo, attributes=4),
        ValueError,
        "attributes",
    ),
    ("llm.call request", lambda o: llm.call("m", "prompt"), TypeError, "request"),
    ("llm.call handle", lambda o: llm.call("m", REQ, handle=object()), TypeError, "handle"),
    ("llm.call_end handle", lambda o: llm.call_end("x", {}), TypeError, "handle"),
    ("llm.request_intercepts request", lambda o: llm.request_intercepts("m", {}), TypeError, "request"),
    ("llm.conditional_execution request", lambda o: llm.conditional_execution(None), TypeError, "request"),
    # flags
    ("ScopeAttributes str", lambda o: ScopeAttributes("parallel"), TypeError, "attributes"),
    ("ScopeAttributes bits", lambda o: ScopeAttributes(4), ValueError, "attributes"),
    ("ScopeAttributes | str", lambda o: ScopeAttributes(1) | "x", TypeError, "attributes"),
    ("ScopeAttributes | ToolAttributes", lambda o: ScopeAttributes(1) | ToolAttributes(1), TypeError, "attributes"),
    ("LLMAttributes bits", lambda o: LLMAttributes(4), ValueError, "attributes"),
    ("ToolAttributes float", lambda o: ToolAttributes(1.0), TypeError, "attributes"),
    # utils
    ("run_sync not a coroutine", lambda o: nemo_flow.utils.run_sync(_echo), TypeError, "coro"),
]


@pytest.mark.parametrize(("case", "call", "exc", "arg"), WRONG_TYPES, ids=[w[0] for w in WRONG_TYPES])
def test_wrong_type_is_refused_naming_the_argument(
    events: list[Any],
    outer: ScopeHandle,
    case: str,
    call: Callable[[ScopeHandle], Any],
    exc: type[Exception],
    arg: str,
) -> None:
    import nemo_flow.utils  # noqa: F401  (utils is not imported eagerly)

    with pytest.raises(exc) as info:
        call(outer)
    assert type(info.value) is exc, repr(info.value)
    assert arg in str(info.value), str(info.value)
    assert_intact(events, outer)
    # Nothing half-registered under the names the bad calls used.
    assert subscribers.deregister("s") is False
    assert guardrails.deregister_tool_sanitize_request("g") is False
    assert intercepts.deregister_tool_request("i") is False


def test_scope_local_none_handle_does_not_register_globally(events: list[Any], outer: ScopeHandle) -> None:
    got: list[Any] = []
    with pytest.raises(TypeError, match="scope_handle"):
        scope_local.register_subscriber(None, "sneaky", got.append)
    scope.event("m")
    assert got == []
    assert subscribers.deregister("sneaky") is False


# --- duplicate registration ---------------------------------------------------------------

DUPLICATES: list[tuple[str, Callable[[ScopeHandle], Any]]] = [
    ("subscriber", lambda o: subscribers.register("dup", _cb)),
    ("tool sanitize", lambda o: guardrails.register_tool_sanitize_request("dup", 1, _keep_args)),
    ("llm conditional", lambda o: guardrails.register_llm_conditional_execution("dup", 1, _cb)),
    ("tool request", lambda o: intercepts.register_tool_request("dup", 1, False, _keep_args)),
    ("llm execution", lambda o: intercepts.register_llm_execution("dup", 1, _cb)),
    ("scope-local subscriber", lambda o: scope_local.register_subscriber(o, "dup", _cb)),
    ("scope-local tool request", lambda o: scope_local.register_tool_request(o, "dup", 1, False, _keep_args)),
]


@pytest.mark.parametrize(("family", "register"), DUPLICATES, ids=[d[0] for d in DUPLICATES])
def test_duplicate_name_raises_registration_error(
    events: list[Any], outer: ScopeHandle, family: str, register: Callable[[ScopeHandle], Any]
) -> None:
    register(outer)
    with pytest.raises(RegistrationError, match="dup"):
        register(outer)
    assert_intact(events, outer)


def test_duplicate_tool_request_keeps_the_first_registration(events: list[Any], outer: ScopeHandle) -> None:
    intercepts.register_tool_request("dup", 1, False, lambda n, a: {**a, "first": True})
    with pytest.raises(RegistrationError):
        intercepts.register_tool_request("dup", 1, False, lambda n, a: {**a, "second": True})
    assert tools.execute_sync("t", {}, _echo) == {"canary": True, "first": True}


# --- half-finished calls stay finishable --------------------------------------------------


def test_bad_tool_call_end_leaves_the_call_open(events: list[Any], outer: ScopeHandle) -> None:
    h = tools.call("manual", {"a": 1})
    with pytest.raises(ValueError, match=r"^result"):
        tools.call_end(h, _cycle_dict())
    with pytest.raises(ValueError, match=r"^metadata"):
        tools.call_end(h, {}, metadata={"x": float("nan")})
    with pytest.raises(ValueError, match=r"^timestamp"):
        tools.call_end(h, {}, timestamp=NAIVE)
    assert not h.ended
    tools.call_end(h, {"ok": True})
    assert h.ended
    assert [(e.name, e.scope_category) for e in events] == [("manual", "start"), ("manual", "end")]
    assert events[1].data == {"ok": True}


def test_bad_llm_call_end_leaves_the_call_open(events: list[Any], outer: ScopeHandle) -> None:
    h = llm.call("manual-llm", REQ)
    with pytest.raises(ValueError, match=r"^response"):
        llm.call_end(h, {"x": float("nan")})
    with pytest.raises(TypeError, match=r"^response_codec"):
        llm.call_end(h, {}, response_codec=5)
    assert not h.ended
    llm.call_end(h, {"ok": True})
    assert [(e.name, e.scope_category) for e in events] == [("manual-llm", "start"), ("manual-llm", "end")]


def test_bad_end_detached_leaves_the_scope_open(events: list[Any], outer: ScopeHandle) -> None:
    d = scope.start_detached("d", ScopeType.Function)
    with pytest.raises(TypeError, match=r"^error"):
        scope.end_detached(d, error="not an exception")
    with pytest.raises(ValueError, match=r"^output"):
        scope.end_detached(d, output=_cycle_list())
    assert not d.ended
    scope.end_detached(d, output={"ok": 1})
    assert [(e.name, e.scope_category) for e in events] == [("d", "start"), ("d", "end")]
    assert events[1].data == {"ok": 1}


def test_bad_pop_leaves_scope_on_top(events: list[Any], outer: ScopeHandle) -> None:
    h = scope.push("inner", ScopeType.Function)
    with pytest.raises(ValueError, match=r"^output"):
        scope.pop(h, output={"b": float("inf")})
    assert scope.get_handle() == h and not h.ended
    scope.pop(h, output={"b": 1})
    assert [(e.name, e.scope_category) for e in events] == [("inner", "start"), ("inner", "end")]
    assert events[1].data == {"b": 1}


def test_tuple_and_str_subclass_are_accepted(events: list[Any], outer: ScopeHandle) -> None:
    # Not bad input: tuples become arrays, str subclasses are strings.
    class Name(str):
        pass

    scope.event(Name("named"), data=(1, (2, 3)))
    assert events[0].name == "named"
    assert events[0].data == [1, [2, 3]]
