"""The ``nemo-flow`` command: look at, compare and replay recorded runs (ATOF JSONL files).

::

    nemo-flow view RUN.jsonl [-o run.html] [--open]
    nemo-flow diff A.jsonl B.jsonl [--html diff.html]
    nemo-flow stats RUN.jsonl [--json]
    nemo-flow replay RUN.jsonl [--lenient] -- python agent.py
    nemo-flow record RUN.jsonl -- python agent.py

``python -m nemo_flow`` is the same command. :func:`main` runs it in-process; a recorded
run's statistics:

    >>> import tempfile
    >>> from pathlib import Path
    >>> from nemo_flow import cli, replay, tools
    >>> path = Path(tempfile.mkdtemp()) / "run.jsonl"
    >>> with replay.record(path):
    ...     tools.execute_sync("lookup", {"q": 1}, lambda args: "ok")
    'ok'
    >>> cli.main(["stats", str(path)])
    tool    count  errors  p50_ms  p90_ms  p99_ms  max_ms
    lookup      1       0 ...
    <BLANKLINE>
    no model calls
    <BLANKLINE>
    1 run(s), 1 tool/LLM calls, 0 failed, 0 tokens ...
    0
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import webbrowser
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from ._runview import diff as _diff
from ._runview import html as _html
from ._runview import stats as _stats
from ._runview.atof import Problem
from ._runview.tree import Run, load

_PROGRESS_MIN_BYTES = 4 << 20


def _version() -> str:
    from . import __version__

    return __version__


class _Progress:
    """Reports reading progress of big files on stderr, at most once per 10 %."""

    def __init__(self, path: str, out: TextIO) -> None:
        self.path = path
        self.out = out
        self.next_pct = 10

    def __call__(self, done: int, total: int) -> None:
        if total < _PROGRESS_MIN_BYTES:
            return
        pct = done * 100 // total
        if pct >= self.next_pct:
            print(f"reading {self.path}: {pct}%", file=self.out, flush=True)
            self.next_pct = (pct // 10 + 1) * 10


def _load(path: str) -> tuple[list[Run], list[Problem]]:
    try:
        runs, problems = load(path, _Progress(path, sys.stderr))
    except OSError as exc:
        raise SystemExit(f"nemo-flow: cannot read {path}: {exc.strerror or exc}") from None
    for p in problems[:20]:
        print(f"warning: {p}", file=sys.stderr)
    if len(problems) > 20:
        print(f"warning: {len(problems) - 20} more problems in {path}", file=sys.stderr)
    return runs, problems


def _view(args: argparse.Namespace) -> int:
    t0 = time.perf_counter()
    runs, problems = _load(args.run)
    out = Path(args.output or Path(args.run).with_suffix(".html"))
    page = _html.render(runs, problems, args.title or Path(args.run).name)
    out.write_text(page, encoding="utf-8")
    calls = sum(1 for r in runs for _ in r.calls())
    took = time.perf_counter() - t0
    print(f"wrote {out} ({len(runs)} run(s), {calls} rows, {len(page) / 1e6:.1f} MB, {took:.2f} s)")
    if args.open:
        webbrowser.open(out.resolve().as_uri())
    return 0


def _diff_cmd(args: argparse.Namespace) -> int:
    runs_a, _ = _load(args.a)
    runs_b, _ = _load(args.b)
    d = _diff.diff_runs(runs_a, runs_b)
    sys.stdout.write(_diff.format_text(d, args.a, args.b))
    if args.html:
        Path(args.html).write_text(_diff.format_html(d, args.a, args.b), encoding="utf-8")
        print(f"wrote {args.html}")
    return 1 if d.first is not None and args.exit_code else 0


def _stats_cmd(args: argparse.Namespace) -> int:
    runs, _ = _load(args.run)
    s = _stats.compute(runs)
    sys.stdout.write(json.dumps(s, indent=2) + "\n" if args.json else _stats.format_text(s))
    return 0


def _run_with_env(command: list[str], env: dict[str, str]) -> int:
    if not command:
        raise SystemExit("nemo-flow: give the command to run after `--`, e.g. `-- python agent.py`")
    try:
        return subprocess.call(command, env={**os.environ, **env})
    except OSError as exc:
        raise SystemExit(f"nemo-flow: cannot run {command[0]!r}: {exc.strerror or exc}") from None


def _replay_cmd(args: argparse.Namespace) -> int:
    from .replay import REPLAY_ENV, REPLAY_MODE_ENV

    if not Path(args.run).is_file():
        raise SystemExit(f"nemo-flow: no recorded run at {args.run}")
    env = {REPLAY_ENV: str(Path(args.run).resolve()), REPLAY_MODE_ENV: "lenient" if args.lenient else "strict"}
    return _run_with_env(args.command, env)


def _record_cmd(args: argparse.Namespace) -> int:
    from .replay import RECORD_ENV

    return _run_with_env(args.command, {RECORD_ENV: str(Path(args.run).resolve())})


def parser() -> argparse.ArgumentParser:
    """The ``nemo-flow`` argument parser (``view``, ``diff``, ``stats``, ``replay``, ``record``
    subcommands and ``--version``); ``python -m nemo_flow`` runs it."""
    p = argparse.ArgumentParser(prog="nemo-flow", description="See, compare and replay nemo_flow runs (ATOF files).")
    p.add_argument("--version", action="version", version=f"nemo-flow {_version()}")
    sub = p.add_subparsers(dest="command_name", required=True, metavar="COMMAND")

    v = sub.add_parser("view", help="write a self-contained HTML waterfall of a run")
    v.description = "Write one self-contained HTML file (no network) showing each run in RUN as a waterfall."
    v.add_argument("run", metavar="RUN.jsonl", help="ATOF file written by AtofExporter or nemo_flow.replay.record")
    v.add_argument("-o", "--output", metavar="HTML", help="output file (default: RUN with .html)")
    v.add_argument("--title", help="page title (default: the file name)")
    v.add_argument("--open", action="store_true", help="open the page in the default browser")
    v.set_defaults(func=_view)

    d = sub.add_parser("diff", help="compare two runs call by call")
    d.description = (
        "Align the call trees of two runs and report the first divergence, per-call differences "
        "(arguments, prompts message by message, results, model, tokens) and totals."
    )
    d.add_argument("a", metavar="A.jsonl")
    d.add_argument("b", metavar="B.jsonl")
    d.add_argument("--html", metavar="HTML", help="also write the report as an HTML page")
    d.add_argument("--exit-code", action="store_true", help="exit with status 1 when the runs diverge")
    d.set_defaults(func=_diff_cmd)

    s = sub.add_parser("stats", help="per tool and per model counts, latency percentiles, errors, tokens")
    s.description = "Per tool and per model: calls, failures, latency p50/p90/p99/max (ms) and tokens."
    s.add_argument("run", metavar="RUN.jsonl")
    s.add_argument("--json", action="store_true", help="print JSON instead of tables")
    s.set_defaults(func=_stats_cmd)

    r = sub.add_parser("replay", help="run a command with its tool and LLM calls answered from a recording")
    r.description = (
        "Run COMMAND with NEMO_FLOW_REPLAY set: when it imports nemo_flow, managed tool and LLM calls "
        "are answered from RUN instead of being executed. Strict by default: an unmatched call fails."
    )
    r.add_argument("run", metavar="RUN.jsonl")
    r.add_argument("--lenient", action="store_true", help="run unmatched calls for real instead of failing")
    r.add_argument("command", nargs="*", metavar="-- COMMAND", help="the program to run, after `--`")
    r.set_defaults(func=_replay_cmd)

    c = sub.add_parser("record", help="run a command and record its run for replay")
    c.description = "Run COMMAND with NEMO_FLOW_RECORD set: its run (events and stream chunks) is written to RUN."
    c.add_argument("run", metavar="RUN.jsonl")
    c.add_argument("command", nargs="*", metavar="-- COMMAND", help="the program to run, after `--`")
    c.set_defaults(func=_record_cmd)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``nemo-flow`` console script and ``python -m nemo_flow``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    # Everything after the first `--` is the program to run, options included.
    command = argv[argv.index("--") + 1 :] if "--" in argv else None
    if command is not None:
        argv = argv[: argv.index("--")]
    args = parser().parse_args(argv)
    if command is not None:
        args.command = command
    code: int = args.func(args)
    return code
