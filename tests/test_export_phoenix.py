"""Integration with a real backend: an Arize Phoenix server on loopback, started by the test,
receives our OpenInference spans; read back through its client, they arrive with their kinds,
parents, statuses and token counts."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nemo_flow import LLMRequest, OpenInferenceConfig, OpenInferenceSubscriber, ScopeType, llm, scope, tools

pytestmark = pytest.mark.integration


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _healthy(url: str) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(f"{url}/healthz", timeout=1) as r:
            return bool(r.status == 200)
    except OSError:
        return False


@pytest.fixture(scope="module")
def phoenix_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    pytest.importorskip("phoenix.client")
    port, grpc_port = _free_port(), _free_port()
    workdir: Path = tmp_path_factory.mktemp("phoenix")
    env = {
        **os.environ,
        "PHOENIX_HOST": "127.0.0.1",
        "PHOENIX_PORT": str(port),
        "PHOENIX_GRPC_PORT": str(grpc_port),
        "PHOENIX_WORKING_DIR": str(workdir),
        "PHOENIX_TELEMETRY_ENABLED": "false",
    }
    log = (workdir / "server.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "phoenix.server.main", "serve"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=workdir,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while not _healthy(url):
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"Phoenix did not start: {(workdir / 'server.log').read_text()[-2000:]}")
            time.sleep(0.25)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        log.close()


def _spans(url: str, project: str, expected: int) -> list[dict[str, Any]]:
    from phoenix.client import Client

    client = Client(base_url=url)
    spans: list[dict[str, Any]] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            spans = list(client.spans.get_spans(project_identifier=project, limit=1000))
        except Exception:  # the project appears with its first span
            spans = []
        if len(spans) >= expected:
            break
        time.sleep(0.25)
    return spans


def test_spans_arrive_in_phoenix_with_kinds_parents_and_token_counts(phoenix_url: str) -> None:
    project = f"nemo-flow-{uuid.uuid4()}"
    config = OpenInferenceConfig()
    config.endpoint = f"{phoenix_url}/v1/traces"
    config.set_resource_attribute("openinference.project.name", project)
    sub = OpenInferenceSubscriber(config)
    sub.register("phoenix")

    def fail(args: Any) -> Any:
        raise TimeoutError("slow tool")

    try:
        with scope.scope("planner", ScopeType.Agent):
            request = LLMRequest({}, {"model": "gpt-x", "messages": [{"role": "user", "content": "find x"}]})
            response = {
                "choices": [{"message": {"role": "assistant", "content": "searching"}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15},
            }
            llm.execute_sync("openai", request, lambda r: response, model_name="gpt-x")
            tools.execute_sync("search", {"q": "x"}, lambda a: {"hits": 2})
            with pytest.raises(TimeoutError):
                tools.execute_sync("fetch", {"u": 1}, fail)
        assert sub.force_flush(timeout_millis=10_000) is True
    finally:
        sub.deregister("phoenix")
        sub.shutdown()

    spans = {s["name"]: s for s in _spans(phoenix_url, project, 4)}
    assert set(spans) == {"planner", "openai", "search", "fetch"}
    assert {n: s["span_kind"] for n, s in spans.items()} == {
        "planner": "AGENT",
        "openai": "LLM",
        "search": "TOOL",
        "fetch": "TOOL",
    }
    agent_id = spans["planner"]["context"]["span_id"]
    assert spans["planner"]["parent_id"] is None
    assert {spans[n]["parent_id"] for n in ("openai", "search", "fetch")} == {agent_id}
    assert len({s["context"]["trace_id"] for s in spans.values()}) == 1
    attrs = spans["openai"]["attributes"]
    assert (attrs["llm.token_count.prompt"], attrs["llm.token_count.completion"]) == (12, 3)
    assert attrs["llm.token_count.total"] == 15
    assert attrs["llm.model_name"] == "gpt-x"
    assert spans["fetch"]["status_code"] == "ERROR"
    assert spans["search"]["status_code"] != "ERROR"
