"""Exporter reliability figures: per-call latency with a dead backend against none, flush and
shutdown time against their timeout, a lossless burst to a live receiver (HTTP and gRPC) with
its throughput, and the accounting of a burst into a slow backend.
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


_COUNTING_RECEIVER = """
import sys, threading
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as pb, trace_service_pb2_grpc as pbg
lock = threading.Lock()
count = [0]
def add(req):
    n = sum(len(ss.spans) for rs in req.resource_spans for ss in rs.scope_spans)
    with lock:
        count[0] += n
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        add(pb.ExportTraceServiceRequest.FromString(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()
    def do_GET(self):
        body = str(count[0]).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
class S(pbg.TraceServiceServicer):
    def Export(self, request, context):
        add(request)
        return pb.ExportTraceServiceResponse()
import grpc
g = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
pbg.add_TraceServiceServicer_to_server(S(), g)
gport = g.add_insecure_port("127.0.0.1:0")
g.start()
srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
print(srv.server_address[1], gport, flush=True)
srv.serve_forever()
"""


@contextlib.contextmanager
def _counting_receiver() -> Iterator[tuple[str, str, Any]]:
    """A loopback OTLP receiver (HTTP and gRPC) in its own process that counts spans; yields
    the HTTP URL, the gRPC URL and a function returning the count so far."""
    import urllib.request

    proc = subprocess.Popen([sys.executable, "-c", _COUNTING_RECEIVER], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        http_port, grpc_port = proc.stdout.readline().split()
        base = f"http://127.0.0.1:{http_port}"

        def count() -> int:
            with urllib.request.urlopen(base + "/count", timeout=10) as r:
                return int(r.read())

        yield f"{base}/v1/traces", f"http://127.0.0.1:{grpc_port}", count
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _lossless_burst(events: int) -> None:
    """A burst from a tight loop with default settings: how much arrives, and how fast."""
    for transport in ("http_binary", "grpc"):
        with _counting_receiver() as (http_url, grpc_url, count):
            c = nf.OpenTelemetryConfig()
            c.transport = transport
            c.endpoint = http_url if transport == "http_binary" else grpc_url
            sub = nf.OpenTelemetrySubscriber(c)
            sub.register("burst")
            t0 = time.perf_counter()
            for i in range(events // 2):
                nf.tools.execute_sync("t", {"i": i}, lambda a: a)
            loop = time.perf_counter() - t0
            ok = sub.force_flush(timeout_millis=120_000)
            total = time.perf_counter() - t0
            received = count()
            sub.deregister("burst")
            sub.shutdown()
            print(
                f"  {transport:<12} sent {sub.emitted_events} events ({events // 2} spans) in {loop:.2f} s;"
                f" received {received} spans; dropped {sub.dropped_events}, failed {sub.failed_events};"
                f" flush ok={ok}; {received / total:,.0f} spans/s end to end"
            )


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
    print("burst of 100,000 events from a tight loop, default settings, live loopback receiver:")
    _lossless_burst(100_000)
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
