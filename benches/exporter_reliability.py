"""Exporter reliability figures: per-call latency with a dead backend against none, flush and
shutdown time against their timeout, and the accounting of a burst into a slow backend.
Loopback only; every loop is bounded. Prints a small report.

    python benches/exporter_reliability.py [--calls 20000]
"""

from __future__ import annotations

import argparse
import contextlib
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import nemo_flow as nf


def _p(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=1000)[int(q * 1000) - 1]


def _latencies(calls: int) -> list[float]:
    out = []
    for i in range(calls):
        t = time.perf_counter()
        nf.tools.execute_sync("t", {"i": i}, lambda a: a)
        out.append((time.perf_counter() - t) * 1e6)
    return out


@contextlib.contextmanager
def _blackhole() -> Iterator[str]:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1024)
    try:
        yield f"http://127.0.0.1:{s.getsockname()[1]}/v1/traces"
    finally:
        s.close()


def _refused() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}/v1/traces"


_RECEIVER = """
import sys, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
delay = float(sys.argv[1])
class H(BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        time.sleep(delay)
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *a):
        pass
srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
print(srv.server_address[1], flush=True)
srv.serve_forever()
"""


@contextlib.contextmanager
def _slow_receiver(delay: float) -> Iterator[str]:
    """A loopback OTLP/HTTP sink in its own process (so it does not compete for our GIL)."""
    proc = subprocess.Popen([sys.executable, "-c", _RECEIVER, str(delay)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        yield f"http://127.0.0.1:{port}/v1/traces"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _sub(endpoint: str, **fields: int) -> nf.OpenTelemetrySubscriber:
    c = nf.OpenTelemetryConfig()
    c.endpoint = endpoint
    for k, v in fields.items():
        setattr(c, k, v)
    return nf.OpenTelemetrySubscriber(c)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=20000)
    n = ap.parse_args().calls

    _latencies(2000)  # warm-up
    base = _latencies(n)
    print(f"tools.execute_sync, {n} calls (µs)        p50      p99      max")
    print(f"  no exporter                      {_p(base, 0.5):8.1f} {_p(base, 0.99):8.1f} {max(base):8.1f}")
    cases: list[tuple[str, Any]] = [
        ("live backend", lambda: _slow_receiver(0.0)),
        ("blackhole backend", _blackhole),
        ("refused backend", contextlib.nullcontext),
    ]
    for label, make in cases:
        with make() as url:
            sub = _sub(url or _refused(), timeout_millis=3000)
            sub.register("rel")
            lat = _latencies(n)
            sub.deregister("rel")
            t = time.perf_counter()
            ok = sub.force_flush(timeout_millis=1000)
            flush_ms = (time.perf_counter() - t) * 1e3
            t = time.perf_counter()
            ok2 = sub.shutdown(timeout_millis=1000)
            shut_ms = (time.perf_counter() - t) * 1e3
            print(f"  OTel, {label:<26} {_p(lat, 0.5):8.1f} {_p(lat, 0.99):8.1f} {max(lat):8.1f}")
            print(
                f"      force_flush(1000 ms) -> {ok} in {flush_ms:.0f} ms;"
                f" shutdown(1000 ms) -> {ok2} in {shut_ms:.0f} ms;"
                f" dropped {sub.dropped_events} of {sub.emitted_events}"
            )
    with _slow_receiver(0.05) as url:
        sub = _sub(url, max_queue_size=2048, max_export_batch_size=512)
        sub.register("rel")
        burst = 100_000
        for i in range(burst // 2):
            nf.tools.execute_sync("t", {"i": i}, lambda a: a)
        sub.deregister("rel")
        ok = sub.shutdown(timeout_millis=60_000)
        e, d, x, f = sub.emitted_events, sub.dropped_events, sub.exported_events, sub.failed_events
        print(f"burst of {burst} events into a 50 ms/batch backend, queue 2048: shutdown ok={ok}")
        print(f"  emitted {e} = exported {x} + dropped {d} + failed {f}: {e == x + d + f}")


if __name__ == "__main__":
    main()
