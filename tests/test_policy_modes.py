"""Shadow mode, rate limits under threads and tasks, approvers, LLM policies with each
provider codec, and the policy.decision marks, all through the managed-call pipeline."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from policy_fixtures import SHELL_ALLOWLIST, ran

import nemo_flow
from nemo_flow import GuardrailRejected, LLMRequest, ScopeType, llm, policy, scope, tools
from nemo_flow.codecs import AnthropicMessagesCodec, OpenAIChatCodec, OpenAIResponsesCodec


@pytest.fixture(autouse=True)
def _deactivate() -> Iterator[None]:
    yield
    policy.deactivate()


def decisions(events: list[Any]) -> list[dict[str, Any]]:
    return [e.data for e in events if e.name == "policy.decision"]


async def test_shadow_component_records_would_deny_and_never_blocks(events: list[Any]) -> None:
    policy.activate({**SHELL_ALLOWLIST, "mode": "shadow"})
    assert await ran("run_shell", {"command": "rm -rf /"})
    assert decisions(events) == [
        {
            "policy_id": "shell-allowlist",
            "kind": "deny",
            "decision": "would_deny",
            "capability": "os.shell",
            "tool": "run_shell",
        }
    ]


async def test_policy_mode_overrides_component_and_enforced_policy_still_blocks(events: list[Any]) -> None:
    shadowed = {**SHELL_ALLOWLIST["policies"][0], "id": "shadowed", "mode": "shadow"}
    enforced = {
        "id": "no-sudo",
        "kind": "deny",
        "trigger": {"capability": "os.shell", "bind": {"c": "command"}},
        "condition": {"starts_with": [{"bound": "c"}, "sudo"]},
    }
    policy.activate({"tools": SHELL_ALLOWLIST["tools"], "emit": "all", "policies": [shadowed, enforced]})
    assert await ran("run_shell", {"command": "ls"})
    assert not await ran("run_shell", {"command": "sudo ls"})
    assert [(d["policy_id"], d["decision"]) for d in decisions(events)] == [
        ("shadowed", "would_deny"),
        ("no-sudo", "allowed"),
        ("shadowed", "would_deny"),
        ("no-sudo", "denied"),
    ]


async def test_marks_never_carry_argument_values(events: list[Any]) -> None:
    policy.activate({**SHELL_ALLOWLIST, "emit": "all"})
    await ran("run_shell", {"command": "rm -rf /very/secret/path"})
    marks = [e for e in events if e.name == "policy.decision"]
    assert marks and "very/secret" not in repr([m.data for m in marks])


def _rate(burst: int, key: Any = "tool") -> dict[str, Any]:
    return {
        "emit": "none",
        "policies": [
            {
                "id": "rl",
                "kind": "rate_limit",
                "trigger": {"tool": "t"},
                "rate": 1,
                "per": 3600,
                "burst": burst,
                "key": key,
            }
        ],
    }


async def test_rate_limit_allows_exactly_burst_across_200_tasks() -> None:
    policy.activate(_rate(37))
    results = await asyncio.gather(*(ran("t", {"i": i}) for i in range(200)))
    assert sum(results) == 37


def test_rate_limit_allows_exactly_burst_across_8_threads() -> None:
    policy.activate(_rate(53))
    allowed = 0
    lock = threading.Lock()
    start = threading.Barrier(8)

    def worker() -> None:
        nonlocal allowed
        start.wait()
        for i in range(40):
            try:
                tools.execute_sync("t", {"i": i}, lambda a: a)
            except GuardrailRejected:
                continue
            with lock:
                allowed += 1

    with ThreadPoolExecutor(8) as pool:
        for f in [pool.submit(worker) for _ in range(8)]:
            f.result()
    assert allowed == 53


async def test_rate_limit_message_says_when_to_retry_and_keys_by_bound_argument() -> None:
    cfg = _rate(1, key={"bound": "user"})
    cfg["policies"][0]["trigger"]["bind"] = {"user": "user"}
    policy.activate(cfg)
    assert await ran("t", {"user": "a"})
    assert await ran("t", {"user": "b"}), "a separate bucket per bound value"
    with pytest.raises(
        GuardrailRejected, match=r"rate limit of 1 calls per 3600s exceeded for tool 't'; retry in 3\d{3}\.\d\ds"
    ):
        await tools.execute("t", {"user": "a"}, lambda a: a)


async def test_rate_limit_keyed_by_run_separates_runs() -> None:
    policy.activate(_rate(1, key="run"))
    for _ in range(2):
        # Each run is its own scope stack, with its own root_uuid.
        nemo_flow.set_thread_scope_stack(nemo_flow.create_scope_stack())
        with scope.scope("run", ScopeType.Agent):
            assert await ran("t", {})
            assert not await ran("t", {})


# -- approvers -------------------------------------------------------------------------


def _confirm(approver: str = "a", on_error: str = "deny") -> dict[str, Any]:
    return {
        "on_error": on_error,
        "policies": [
            {
                "id": "confirm",
                "kind": "before",
                "trigger": {"tool": "write"},
                "requires": [{"capability": "user.confirm", "approver": approver}],
            }
        ],
    }


async def _reason() -> str | None:
    try:
        await tools.execute("write", {}, lambda a: a)
    except GuardrailRejected as e:
        return str(e)
    return None


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (True, None),
        (False, "policy 'confirm': user.confirm returned False, blocking 'write'"),
        ("yes", "policy 'confirm': evaluation error: approver 'a' returned str, expected a bool"),
        (1, "policy 'confirm': evaluation error: approver 'a' returned int, expected a bool"),
    ],
)
async def test_sync_approver_answers(answer: Any, expected: str | None) -> None:
    seen: list[str] = []

    def approve(message: str, context: dict[str, Any]) -> Any:
        seen.append(message)
        return answer

    policy.register_approver("a", approve)
    policy.activate(_confirm())
    got = await _reason()
    assert got == (None if expected is None else f"guardrail rejected: {expected}")
    assert seen == ["Allow policy-required call before write?"]


async def test_async_approver_runs_and_its_answer_counts() -> None:
    async def approve(message: str, context: dict[str, Any]) -> bool:
        await asyncio.sleep(0)
        return context["tool"] == "write"

    policy.register_approver("a", approve)
    policy.activate(_confirm())
    assert await _reason() is None


async def test_raising_approver_is_an_evaluation_error_that_on_error_decides(events: list[Any]) -> None:
    def approve(message: str, context: dict[str, Any]) -> bool:
        raise LookupError("no operator on duty")

    policy.register_approver("a", approve)
    policy.activate(_confirm())
    assert await _reason() == (
        "guardrail rejected: policy 'confirm': evaluation error: approver 'a' failed: LookupError: no operator on duty"
    )
    policy.deactivate()
    policy.activate(_confirm(on_error="allow"))
    assert await _reason() is None
    assert [d["decision"] for d in decisions(events)] == ["error", "error"]


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_approver_timeout_denies(kind: str) -> None:
    release = threading.Event()

    def slow(message: str, context: dict[str, Any]) -> bool:
        release.wait(10)
        return True

    async def slow_async(message: str, context: dict[str, Any]) -> bool:
        await asyncio.Event().wait()
        return True

    policy.register_approver("a", slow if kind == "sync" else slow_async, timeout=0.05)
    policy.activate(_confirm())
    try:
        assert await _reason() == "guardrail rejected: policy 'confirm': approver 'a' timed out, blocking 'write'"
    finally:
        release.set()


def test_unknown_approver_is_reported_at_activation_and_nothing_registered() -> None:
    with pytest.raises(policy.PolicyConfigError) as e:
        policy.activate(_confirm(approver="nobody"))
    assert [(d.code, d.field) for d in e.value.diagnostics] == [
        ("policy.unknown_approver", "policies[0].requires[0].approver")
    ]
    assert not policy.deactivate()


def test_register_approver_rejects_bad_arguments() -> None:
    with pytest.raises(TypeError, match="name: expected a non-empty string"):
        policy.register_approver("", lambda m, c: True)
    with pytest.raises(TypeError, match="fn: expected a callable"):
        policy.register_approver("x", "yes")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="timeout: expected a positive number"):
        policy.register_approver("x", lambda m, c: True, timeout=0)
    assert not policy.deregister_approver("x")


# -- LLM policies ----------------------------------------------------------------------

LLM_POLICIES: dict[str, Any] = {
    "emit": "all",
    "policies": [
        {
            "id": "model-allowlist",
            "kind": "deny",
            "trigger": {"llm": True, "bind": {"model": "model"}},
            "condition": {"not": {"in": [{"bound": "model"}, ["small-1", "small-2"]]}},
        },
        {
            "id": "token-cap",
            "kind": "deny",
            "trigger": {"llm": "prod-*", "bind": {"max": "params.max_tokens"}},
            "condition": {"kind": "compare", "op": "gt", "left": {"bound": "max"}, "right": 1000},
        },
        {
            "id": "no-shell-tool",
            "kind": "deny",
            "trigger": {"llm": True, "bind": {"names": "tool_names"}},
            "condition": {"contains": [{"bound": "names"}, "run_shell"]},
        },
    ],
}

CHAT_TOOLS = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]
BODIES: dict[str, tuple[Any, Any]] = {
    "openai_chat": (
        OpenAIChatCodec(),
        lambda model, mt: {
            "model": model,
            "messages": [{"role": "user", "content": "hi"}],
            "max_tokens": mt,
            "tools": CHAT_TOOLS,
        },
    ),
    "openai_responses": (
        OpenAIResponsesCodec(),
        lambda model, mt: {"model": model, "input": "hi", "max_output_tokens": mt},
    ),
    "anthropic": (
        AnthropicMessagesCodec(),
        lambda model, mt: {"model": model, "messages": [{"role": "user", "content": "hi"}], "max_tokens": mt},
    ),
}


@pytest.mark.parametrize("provider", sorted(BODIES))
async def test_llm_policies_bind_the_annotated_request_of_each_codec(provider: str, events: list[Any]) -> None:
    codec, body = BODIES[provider]
    policy.activate(LLM_POLICIES)
    called: list[str] = []

    async def run(name: str, model: str, max_tokens: int) -> str | None:
        try:
            await llm.execute(
                name, LLMRequest({}, body(model, max_tokens)), lambda r: called.append(name) or {}, codec=codec
            )
        except GuardrailRejected as e:
            return str(e)
        return None

    assert await run("prod-chat", "small-1", 500) is None
    assert await run("dev-chat", "small-2", 5000) is None, "the token cap only triggers on prod-*"
    assert (
        await run("prod-chat", "large-9", 10)
        == "guardrail rejected: policy 'model-allowlist' denied LLM call 'prod-chat'"
    )
    assert (
        await run("prod-chat", "small-1", 5000) == "guardrail rejected: policy 'token-cap' denied LLM call 'prod-chat'"
    )
    if provider == "openai_chat":
        tools_offered = {
            **body("small-1", 10),
            "tools": [*CHAT_TOOLS, {"type": "function", "function": {"name": "run_shell"}}],
        }
        with pytest.raises(GuardrailRejected, match="no-shell-tool"):
            await llm.execute("x", LLMRequest({}, tools_offered), lambda r: {}, codec=codec)
    assert called == ["prod-chat", "dev-chat"]
    assert {
        "policy_id": "token-cap",
        "kind": "deny",
        "decision": "denied",
        "capability": None,
        "tool": "prod-chat",
    } in decisions(events)


def test_llm_policy_without_codec_fails_closed_and_evaluate_llm_checks_a_request() -> None:
    policy.activate(LLM_POLICIES)
    with pytest.raises(GuardrailRejected, match="has no codec"):
        llm.execute_sync("prod-chat", LLMRequest({}, {"model": "small-1"}), lambda r: {})
    policy.deactivate()
    d = policy.evaluate_llm(
        LLM_POLICIES, "prod-chat", {"model": "small-1", "params": {"max_tokens": 2000}, "messages": []}
    )
    assert (d.allowed, [x.policy_id for x in d.decisions if x.decision == "denied"]) == (False, ["token-cap"])


async def test_inputs_from_scope_read_the_nearest_agent_scope_data(tmp_path: Any) -> None:
    inside, other = tmp_path / "inside", tmp_path / "other"
    cfg = {
        "inputs_from_scope": True,
        "inputs": {"workspace": {"type": "path", "value": str(other)}},
        "tools": {"read_file": {"capability": "fs.read"}},
        "policies": [
            {
                "id": "ws",
                "kind": "deny",
                "trigger": {"capability": "fs.read", "bind": {"path": "path"}},
                "condition": {"not": {"path_within": [{"bound": "path"}, {"input": "workspace"}]}},
            }
        ],
    }
    policy.activate(cfg)
    target = {"path": str(inside / "x")}
    assert not await ran("read_file", target), "outside a scope the config's value applies"
    with scope.scope("run", ScopeType.Agent, data={"workspace": str(inside)}):
        with scope.scope("step", ScopeType.Function):
            assert await ran("read_file", target)
