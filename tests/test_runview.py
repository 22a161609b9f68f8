"""Reading ATOF into call trees, stats, diff, and the `nemo-flow` command line."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from run_samples import write_run

import nemo_flow
from nemo_flow import cli
from nemo_flow._runview import diff, stats
from nemo_flow._runview.atof import parse_lines, parse_timestamp
from nemo_flow._runview.html import render
from nemo_flow._runview.tree import build_runs, load


def _ev(kind: str, uuid: str, name: str, t: int, parent: str | None = "root", **kw: Any) -> str:
    obj = {"kind": kind, "uuid": uuid, "name": name, "timestamp": t, "parent_uuid": parent, "root_uuid": "root", **kw}
    return json.dumps(obj)


def test_timestamps_keep_nanoseconds_and_accept_epoch_microseconds() -> None:
    a = parse_timestamp("2026-11-21T14:24:26.320998984+00:00")
    b = parse_timestamp("2026-11-21T14:24:26.320998985+00:00")
    assert b - a == 1
    assert parse_timestamp("2020-01-01T00:00:01+00:00") == 1577836801 * 10**9
    assert parse_timestamp("2020-01-01T02:00:01.5+02:00") == 1577836801 * 10**9 + 500_000_000
    assert parse_timestamp(1_000_000) == 10**9
    for bad in ("yesterday", "2020-01-01T00:00:01", True, None):
        with pytest.raises(ValueError, match="timestamp"):
            parse_timestamp(bad)


def test_bad_lines_are_named_and_the_rest_is_kept() -> None:
    lines = [
        _ev("scope", "a", "agent", 1, scope_category="start", category="agent"),
        "[1, 2]",
        '{"kind": "scope", "uuid": "x"}',
        _ev("scope", "t", "search", 2, parent="a", scope_category="start", category="tool", data={"q": 1}),
        _ev("weird", "w", "w", 3),
        _ev("scope", "t", "search", 4, parent="a", scope_category="end", category="tool", data={"r": 2}),
        _ev("scope", "a", "agent", 5, scope_category="end", category="agent"),
        '{"kind": "scope", "uuid": "z", "name": "tru',
    ]
    events, problems = parse_lines(lines, "run.jsonl")
    assert [(p.line, p.message.split(":")[0]) for p in problems] == [
        (2, "expected a JSON object (an ATOF event), got list"),
        (3, "not an ATOF event"),
        (5, "kind must be 'scope' or 'mark', got 'weird'"),
        (8, "truncated JSON (the file ends mid-event)"),
    ]
    assert "missing name, timestamp" in problems[1].message
    assert str(problems[0]).startswith("run.jsonl:2: ")
    runs, more = build_runs(events)
    assert more == []
    [run] = runs
    [agent] = run.roots
    [tool] = agent.children
    assert (tool.name, tool.input, tool.output, tool.duration_ns) == ("search", {"q": 1}, {"r": 2}, 2000)


def test_tree_nesting_runs_and_open_or_orphan_calls(tmp_path: Path) -> None:
    path = write_run(tmp_path / "two.jsonl", ("first", "second"))
    runs, problems = load(str(path))
    assert problems == []
    assert len(runs) == 2 and runs[0].root_uuid != runs[1].root_uuid
    assert [r.roots[0].input for r in runs] == [{"q": "first"}, {"q": "second"}]
    planner = runs[0].roots[0]
    assert [(c.kind, c.name) for c in planner.children] == [
        ("llm", "openai"),
        ("function", "research"),
        ("mark", "checkpoint"),
        ("llm", "openai"),
    ]
    research = planner.children[1]
    assert [(c.kind, c.name, c.failed) for c in research.children] == [
        ("guardrail", "no-rm", False),
        ("tool", "search", False),
        ("guardrail", "no-rm", False),
        ("tool", "calc", True),
        ("guardrail", "no-rm", True),
        ("mark", "shell", True),
    ]
    calc = research.children[3]
    assert calc.error == {"type": "ZeroDivisionError", "message": "division by zero"}
    first_llm = planner.children[0]
    assert first_llm.model == "gpt-4o-mini"
    assert first_llm.usage == {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17, "cache_read_tokens": 4}

    # Without root_uuid the parent that never appears is the root; an unfinished call stays open.
    lines = [
        _ev("scope", "a", "agent", 1, parent="r1", scope_category="start", category="agent"),
        _ev("scope", "b", "agent", 2, parent="r2", scope_category="start", category="agent"),
        _ev("scope", "c", "late", 3, parent="b", scope_category="end", category="tool"),
    ]
    no_root = [json.dumps({k: v for k, v in json.loads(x).items() if k != "root_uuid"}) for x in lines]
    events, _ = parse_lines(no_root, "f")
    runs, problems = build_runs(events, "f")
    assert [r.root_uuid for r in runs] == ["r1", "r2"]
    assert runs[0].roots[0].end_ns is None
    assert [p.message for p in problems] == ["end event for 'late' has no start event (uuid c)"]


def test_stats_per_tool_and_model(tmp_path: Path) -> None:
    runs, _ = load(str(write_run(tmp_path / "r.jsonl", ("a", "b"))))
    s = stats.compute(runs)
    assert {k: (v["count"], v["errors"]) for k, v in s["tools"].items()} == {"search": (2, 0), "calc": (2, 2)}
    model = s["models"]["gpt-4o-mini"]
    assert (model["count"], model["prompt_tokens"], model["completion_tokens"], model["cache_read_tokens"]) == (
        4,
        64,
        24,
        8,
    )
    assert 0 < model["p50_ms"] <= model["p90_ms"] <= model["p99_ms"] <= model["max_ms"]
    assert s["totals"] == {
        "runs": 2,
        "calls": 8,
        "errors": 2,
        "prompt_tokens": 64,
        "completion_tokens": 24,
        "total_tokens": 88,
        "cache_read_tokens": 8,
        "cache_write_tokens": 0,
    }
    assert stats.percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.0
    assert stats.percentile([1.0, 2.0, 3.0, 4.0], 99) == 4.0
    text = stats.format_text(s)
    assert "search" in text and "gpt-4o-mini" in text and "88 tokens" in text


def test_diff_of_identical_runs_reports_no_divergence(tmp_path: Path) -> None:
    a, _ = load(str(write_run(tmp_path / "a.jsonl")))
    b, _ = load(str(write_run(tmp_path / "b.jsonl")))
    d = diff.diff_runs(a, b)
    assert d.first is None
    assert "do not diverge" in diff.format_text(d)


def test_diff_of_a_changed_prompt_reports_exactly_that(tmp_path: Path) -> None:
    a, _ = load(str(write_run(tmp_path / "a.jsonl", system="You plan.\nBe brief.")))
    b, _ = load(str(write_run(tmp_path / "b.jsonl", system="You plan.\nBe thorough.")))
    d = diff.diff_runs(a, b)
    changed = d.divergences
    assert [(p.path, [x.what for x in p.differences]) for p in changed] == [
        ("planner > openai#1", ["prompt"]),
        ("planner > openai#2", ["prompt"]),
    ]
    assert d.first is changed[0]
    assert changed[0].differences[0].lines == [
        "  message 0 (system) changed:",
        "     You plan.",
        "    -Be brief.",
        "    +Be thorough.",
    ]
    text = diff.format_text(d, "a", "b")
    assert text.index("First divergence: llm planner > openai#1") < text.index("-Be brief.")
    assert "llm calls" in text
    page = diff.format_html(d, "a", "b")
    assert re.search(r'<span class="del">\s+-Be brief\.</span>', page)
    assert re.search(r'<span class="add">\s+\+Be thorough\.</span>', page)
    assert "http" not in page.replace("http-equiv", "")


def test_diff_aligns_inserted_and_removed_calls() -> None:
    def run(*names: str) -> list[str]:
        lines = [_ev("scope", "a", "agent", 1, scope_category="start", category="agent")]
        for i, n in enumerate(names):
            tool = {"parent": "a", "category": "tool"}
            lines.append(_ev("scope", f"t{i}", n, 2 + 2 * i, scope_category="start", data={}, **tool))
            lines.append(_ev("scope", f"t{i}", n, 3 + 2 * i, scope_category="end", data=i, **tool))
        return lines

    ea, _ = parse_lines(run("search", "fetch", "summarize"), "a")
    eb, _ = parse_lines(run("search", "extra", "fetch", "summarize"), "b")
    d = diff.diff_runs(build_runs(ea)[0], build_runs(eb)[0])
    assert [p.summary().split(" (")[0] for p in d.divergences] == [
        "only in B: tool agent > extra",
        "tool agent > fetch",
        "tool agent > summarize",
    ]
    # fetch and summarize moved one place: their recorded results (the index) differ.
    assert [x.what for x in d.divergences[1].differences] == ["result"]
    assert d.totals["tool calls"] == (3, 4)


def test_viewer_page_is_self_contained_and_escapes_payloads(tmp_path: Path) -> None:
    lines = [
        _ev("scope", "a", "agent</script><script>alert(1)</script>", 1, scope_category="start", category="agent"),
        _ev("scope", "a", "agent", 2, scope_category="end", category="agent", data="<img src=x onerror=alert(1)>"),
    ]
    events, _ = parse_lines(lines, "f")
    runs, _ = build_runs(events)
    page = render(runs, [], "t<b>")
    assert "</script><script>alert" not in page and "<img src=x" not in page
    assert "<title>t&lt;b&gt;</title>" in page
    assert "http://" not in page and "https://" not in page
    assert not re.search(r"<(script|link|img|iframe)[^>]*\s(src|href)=", page)


def _cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "nemo_flow", *args], capture_output=True, text=True, cwd=cwd)


def test_cli_help_for_every_command_and_version() -> None:
    for command in ("view", "diff", "stats", "replay", "record"):
        with pytest.raises(SystemExit) as exc:
            cli.main([command, "--help"])
        assert exc.value.code == 0
    r = _cli("--version")
    assert r.returncode == 0 and r.stdout.strip() == f"nemo-flow {nemo_flow.__version__}"


def test_cli_view_stats_diff(tmp_path: Path) -> None:
    run = write_run(tmp_path / "r.jsonl")
    r = _cli("view", str(run), "-o", str(tmp_path / "out.html"))
    assert r.returncode == 0, r.stderr
    assert "1 run(s), 11 rows" in r.stdout
    assert (tmp_path / "out.html").read_text().startswith("<!DOCTYPE html>")
    r = _cli("stats", str(run), "--json")
    assert json.loads(r.stdout)["totals"]["calls"] == 4
    other = write_run(tmp_path / "o.jsonl", ("another question",))
    r = _cli("diff", str(run), str(other), "--exit-code", "--html", str(tmp_path / "d.html"))
    assert r.returncode == 1
    assert "First divergence: agent planner" in r.stdout and "$.q" in r.stdout
    assert (tmp_path / "d.html").is_file()


def test_cli_bad_input_names_the_line_and_still_shows_the_rest(tmp_path: Path) -> None:
    run = write_run(tmp_path / "r.jsonl")
    text = run.read_text()
    broken = tmp_path / "broken.jsonl"
    broken.write_text("this is not json\n" + text[: len(text) - 40])
    r = _cli("view", str(broken))
    assert r.returncode == 0
    assert f"warning: {broken}:1: invalid JSON" in r.stderr
    last = len(text.splitlines()) + 1
    assert f"warning: {broken}:{last}: truncated JSON (the file ends mid-event)" in r.stderr
    assert "1 run(s), 11 rows" in r.stdout
    assert f"{broken}:{last}: truncated JSON" in broken.with_suffix(".html").read_text()
    r = _cli("stats", str(tmp_path / "missing.jsonl"))
    assert r.returncode == 1 and "cannot read" in r.stderr and "missing.jsonl" in r.stderr
    r = _cli("view")
    assert r.returncode == 2 and "RUN.jsonl" in r.stderr


def test_progress_is_reported_for_big_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    line = _ev("mark", "m", "tick", 1, data={"pad": "x" * 2000})
    big = tmp_path / "big.jsonl"
    big.write_text("\n".join(line.replace('"m"', f'"m{i}"') for i in range(2500)) + "\n")
    assert cli.main(["stats", str(big)]) == 0
    err = capsys.readouterr().err
    pcts = [int(x.split(": ")[1].rstrip("%")) for x in err.splitlines() if x.startswith("reading ")]
    assert pcts == sorted(pcts) and pcts[-1] == 100 and len(pcts) >= 5


def test_prompts_are_read_from_every_provider_shape() -> None:
    def llm_call(body: dict[str, Any]) -> Any:
        data = {"headers": {}, "content": body}
        events, _ = parse_lines([_ev("scope", "l", "m", 1, scope_category="start", category="llm", data=data)], "f")
        return build_runs(events)[0][0].roots[0]

    parts = [{"type": "text", "text": "hi"}, {"type": "text", "text": "you"}]
    chat = {"messages": [{"role": "user", "content": parts}]}
    responses = {"instructions": "be kind", "input": "hello"}
    anthropic = {"system": [{"type": "text", "text": "sys"}], "messages": [{"role": "user", "content": "q"}]}
    assert diff.messages_of(llm_call(chat)) == [("user", "hi\nyou")]
    assert diff.messages_of(llm_call(responses)) == [("system", "be kind"), ("user", "hello")]
    assert diff.messages_of(llm_call(anthropic)) == [("system", "sys"), ("user", "q")]
