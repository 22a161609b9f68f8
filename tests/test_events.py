"""Events: the ATOF 0.1 envelope plus root_uuid, properties, to_dict()/to_json(), marks, and
immutability of emitted events."""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from typing import Any

import pytest

import nemo_flow
from nemo_flow import MarkEvent, ScopeAttributes, ScopeEvent, ScopeType, scope

RFC3339_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{3}|\.\d{6}|\.\d{9})?\+00:00$")

SCOPE_KEYS = {
    "atof_version",
    "attributes",
    "category",
    "category_profile",
    "data",
    "data_schema",
    "error",
    "kind",
    "metadata",
    "name",
    "parent_uuid",
    "root_uuid",
    "scope_category",
    "timestamp",
    "uuid",
}
MARK_KEYS = {
    "atof_version",
    "category",
    "category_profile",
    "data",
    "data_schema",
    "kind",
    "metadata",
    "name",
    "parent_uuid",
    "root_uuid",
    "timestamp",
    "uuid",
}


def _sample(events: list[Any]) -> tuple[Any, Any, Any]:
    h = scope.push(
        "agent1",
        ScopeType.Agent,
        attributes=ScopeAttributes.PARALLEL,
        input={"in": 1},
        metadata={"m": 1},
    )
    scope.event("mymark", data={"x": 1}, metadata={"y": 2})
    scope.pop(h, output={"o": [1, 2.5, "s", None, True]})
    start, mark, end = events
    return start, mark, end


def test_scope_event_properties(events: list[Any]) -> None:
    root = scope.get_handle()
    start, _, end = _sample(events)
    for e, cat in ((start, "start"), (end, "end")):
        assert isinstance(e, ScopeEvent)
        assert e.kind == "scope"
        assert e.scope_category == cat
        assert e.atof_version == "0.1"
        assert e.name == "agent1"
        assert e.category == "agent"
        assert e.attributes == ["parallel"]
        assert e.category_profile is None
        assert e.data_schema is None
        assert e.metadata == {"m": 1}
        assert e.parent_uuid == root.uuid
        assert e.root_uuid == root.uuid
        assert e.annotated_request is None
        assert e.annotated_response is None
        assert e.error is None
    assert start.data == {"in": 1}
    assert end.data == {"o": [1, 2.5, "s", None, True]}
    assert start.uuid == end.uuid


def test_mark_event_properties(events: list[Any]) -> None:
    start, mark, _ = _sample(events)
    assert isinstance(mark, MarkEvent)
    assert mark.kind == "mark"
    assert mark.atof_version == "0.1"
    assert mark.name == "mymark"
    assert mark.data == {"x": 1}
    assert mark.metadata == {"y": 2}
    assert mark.category is None
    assert mark.category_profile is None
    assert mark.data_schema is None
    assert mark.parent_uuid == start.uuid
    assert mark.root_uuid == start.root_uuid
    assert mark.uuid != start.uuid
    assert not hasattr(mark, "scope_category")


def test_uuids_are_version_7_and_time_ordered(events: list[Any]) -> None:
    _sample(events)
    for e in events:
        assert uuid.UUID(e.uuid).version == 7
        assert uuid.UUID(e.parent_uuid).version == 7
        assert uuid.UUID(e.root_uuid).version == 7
    # v7 ids sort by creation time: the scope was created before the mark.
    assert events[0].uuid < events[1].uuid


def test_timestamps_are_rfc3339_utc_and_ordered(events: list[Any]) -> None:
    _sample(events)
    for e in events:
        assert RFC3339_UTC.match(e.timestamp), e.timestamp
    parsed = [dt.datetime.fromisoformat(e.timestamp) for e in events]
    assert parsed[0] <= parsed[1] <= parsed[2]
    assert parsed[0] < parsed[2]
    assert all(p.utcoffset() == dt.timedelta(0) for p in parsed)


def test_to_dict_matches_properties(events: list[Any]) -> None:
    start, mark, end = _sample(events)
    d = start.to_dict()
    assert set(d) == SCOPE_KEYS
    assert d == {
        "atof_version": "0.1",
        "attributes": ["parallel"],
        "category": "agent",
        "category_profile": None,
        "data": {"in": 1},
        "data_schema": None,
        "error": None,
        "kind": "scope",
        "metadata": {"m": 1},
        "name": "agent1",
        "parent_uuid": start.parent_uuid,
        "root_uuid": start.root_uuid,
        "scope_category": "start",
        "timestamp": start.timestamp,
        "uuid": start.uuid,
    }
    m = mark.to_dict()
    assert set(m) == MARK_KEYS
    assert m["kind"] == "mark"
    assert m["data"] == {"x": 1} and m["metadata"] == {"y": 2}
    assert m["parent_uuid"] == start.uuid
    assert end.to_dict()["scope_category"] == "end"


def _keys_sorted_everywhere(text: str) -> bool:
    ok = True

    def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        nonlocal ok
        keys = [k for k, _ in pairs]
        ok = ok and keys == sorted(keys)
        return dict(pairs)

    json.loads(text, object_pairs_hook=hook)
    return ok


def test_to_json_round_trips_and_sorts_keys(events: list[Any]) -> None:
    nested = {"z": {"b": 1, "a": 2}, "a": [{"y": 1, "x": 2}]}
    with scope.scope("s", ScopeType.Function, input=nested, metadata={"k2": 1, "k1": 2}):
        scope.event("m", data=nested)
    for e in events:
        text = e.to_json()
        assert json.loads(text) == e.to_dict()
        assert _keys_sorted_everywhere(text)
        assert "\n" not in text
    assert events[0].data == nested


def test_root_uuid_on_every_event(events: list[Any]) -> None:
    stack = nemo_flow.get_scope_stack()
    with scope.scope("a", ScopeType.Agent):
        nemo_flow.tools.execute_sync("t", {}, lambda a: a)
        nemo_flow.llm.execute_sync("m", nemo_flow.LLMRequest({}, {"messages": []}), lambda r: {"ok": True})
        scope.event("mk")
    assert len(events) == 7
    for e in events:
        assert e.root_uuid == stack.root_uuid
        assert e.to_dict()["root_uuid"] == stack.root_uuid


def test_start_and_end_share_uuid_for_scopes_tools_and_llm(events: list[Any]) -> None:
    with scope.scope("a", ScopeType.Agent):
        nemo_flow.tools.execute_sync("t", {}, lambda a: a)
        nemo_flow.llm.execute_sync("m", nemo_flow.LLMRequest({}, {}), lambda r: {})
    pairs: dict[str, list[str]] = {}
    for e in events:
        pairs.setdefault(e.uuid, []).append(e.scope_category)
    assert sorted(pairs.values()) == [["start", "end"]] * 3


def test_mark_with_handle_and_payloads(events: list[Any]) -> None:
    with scope.scope("outer", ScopeType.Agent) as outer, scope.scope("inner", ScopeType.Function):
        scope.event("to-outer", handle=outer, data=[1, 2], metadata={"why": "test"})
        scope.event("scalar", data="just text")
    marks = [e for e in events if e.kind == "mark"]
    assert [m.name for m in marks] == ["to-outer", "scalar"]
    assert marks[0].parent_uuid == outer.uuid
    assert marks[0].data == [1, 2]
    assert marks[0].metadata == {"why": "test"}
    assert marks[1].data == "just text"
    assert marks[1].metadata is None


def test_repr_mentions_kind_and_name(events: list[Any]) -> None:
    _sample(events)
    assert "ScopeEvent" in repr(events[0]) and "agent1" in repr(events[0])
    assert "MarkEvent" in repr(events[1]) and "mymark" in repr(events[1])


# --- immutability -------------------------------------------------------------------------


def test_mutating_args_after_the_call_does_not_change_events(events: list[Any]) -> None:
    args = {"q": "original", "nested": {"k": [1]}}
    result = nemo_flow.tools.execute_sync("t", args, lambda a: {"got": a["q"]})
    args["q"] = "changed"
    args["nested"]["k"].append(2)
    assert result == {"got": "original"}
    start = events[0]
    assert start.data == {"q": "original", "nested": {"k": [1]}}
    assert json.loads(start.to_json())["data"] == {"q": "original", "nested": {"k": [1]}}


def test_tool_mutating_its_args_does_not_change_the_start_event(events: list[Any]) -> None:
    def tool(a: dict[str, Any]) -> str:
        a["q"] = "mutated by tool"
        return "done"

    nemo_flow.tools.execute_sync("t", {"q": "original"}, tool)
    assert events[0].data == {"q": "original"}


def test_mutating_push_payloads_after_the_call_does_not_change_events(events: list[Any]) -> None:
    inp = {"i": [1]}
    meta = {"m": 1}
    data = {"d": 1}
    h = scope.push("s", ScopeType.Agent, input=inp, metadata=meta, data=data)
    inp["i"].append(2)
    meta["m"] = 2
    data["d"] = 2
    scope.pop(h)
    assert events[0].data == {"i": [1]}
    assert events[0].metadata == {"m": 1}
    assert events[1].metadata == {"m": 1}
    assert h.data == {"d": 1}


def test_mark_payload_mutation_after_the_call(events: list[Any]) -> None:
    payload = {"x": [1]}
    scope.event("m", data=payload)
    payload["x"].append(2)
    assert events[0].data == {"x": [1]}


def test_one_subscriber_mutating_its_view_does_not_affect_others() -> None:
    first: list[Any] = []
    second: list[Any] = []

    def vandal(e: Any) -> None:
        first.append(e)
        if isinstance(e.data, dict):
            e.data["injected"] = True

    nemo_flow.subscribers.register("vandal", vandal)
    nemo_flow.subscribers.register("reader", second.append)
    scope.event("m", data={"x": 1})
    assert second[0].data == {"x": 1}
    assert second[0].to_dict()["data"] == {"x": 1}
    assert first[0].to_dict()["data"] == {"x": 1}
    assert json.loads(first[0].to_json())["data"] == {"x": 1}


def test_to_dict_returns_a_fresh_dict(events: list[Any]) -> None:
    scope.event("m", data={"x": 1})
    d = events[0].to_dict()
    d["data"]["x"] = 99
    d["name"] = "changed"
    assert events[0].to_dict()["data"] == {"x": 1}
    assert events[0].name == "m"


def test_events_are_read_only(events: list[Any]) -> None:
    scope.event("m")
    with pytest.raises(AttributeError):
        events[0].name = "x"  # type: ignore[misc]


def test_failed_tool_end_event_records_error(events: list[Any]) -> None:
    def tool(a: Any) -> Any:
        raise KeyError("missing")

    with pytest.raises(KeyError):
        nemo_flow.tools.execute_sync("t", {"a": 1}, tool)
    start, end = events
    assert start.error is None
    assert end.error == {"type": "KeyError", "message": "'missing'"}
    assert json.loads(end.to_json())["error"] == end.error
