"""The admin HTTP server: /memory-stats, /metrics, /healthz, /readyz, POST /optimize-memory.

It runs in a daemon thread and never touches the consumer or spaCy itself: it serves
the supervisor's latest snapshot, and a cleanup request is carried out by the loop.
Binds to loopback unless ADMIN_ADDRESS says otherwise.
"""

from __future__ import annotations

import hmac
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from stream_segmenter.governor.cleanup import CleanupReport

log = logging.getLogger(__name__)

# /healthz fails when the loop has not come round for this long (stuck, not just idle).
STALL_SECONDS = 120.0

Snapshot = Callable[[], dict[str, Any] | None]

_STATES = ("normal", "elevated", "critical")


class LoopHeartbeat:
    """The loop beats once per iteration; the admin server reads it for probes."""

    def __init__(self) -> None:
        self.last_beat: float | None = None
        self.stopping = False
        # Set when the consumer group first answers (an assignment, even an empty one):
        # until then the instance cannot be ready, e.g. with a mistyped bootstrap address.
        self.joined = False

    def beat(self) -> None:
        self.last_beat = time.monotonic()

    def alive(self) -> bool:
        return self.last_beat is not None and time.monotonic() - self.last_beat < STALL_SECONDS


class SnapshotCollector(Collector):
    """Prometheus gauges from the latest telemetry snapshot."""

    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        data = self.snapshot()
        if data is None:
            return

        def gauge(name: str, doc: str, value: float | None) -> Metric:
            metric = GaugeMetricFamily(f"segmenter_{name}", doc)
            if value is not None:
                metric.add_metric([], value)
            return metric

        yield gauge("rss_megabytes", "Resident set size of the process", data["rss_mb"])
        yield gauge("memory_limit_megabytes", "cgroup or configured limit", data["memory_limit_mb"])
        yield gauge("memory_threshold_megabytes", "Elevated above", data["thresholds"]["memory_mb"])
        yield gauge(
            "high_memory_threshold_megabytes",
            "Critical above",
            data["thresholds"]["high_memory_mb"],
        )
        state = GaugeMetricFamily(
            "segmenter_memory_state", "1 for the current state", labels=["state"]
        )
        for name in _STATES:
            state.add_metric([name], 1.0 if data["state"] == name else 0.0)
        yield state
        cache = data["cache"]
        for key in ("entries", "bytes", "hits", "misses", "evictions"):
            yield gauge(f"cache_{key}", f"Result cache {key}", cache[key])
        yield gauge("models_loaded", "Pipelines in the pool", len(data["models"]))
        yield gauge("partitions_assigned", "Partitions owned", len(data["partitions"]["assigned"]))
        yield gauge("partitions_paused", "Partitions paused", len(data["partitions"]["paused"]))
        yield gauge("documents_total", "Documents segmented and delivered", data["documents"])
        yield gauge("dead_letters_total", "Messages sent to the DLQ", data["dead_letters"])
        yield gauge("docs_per_second", "Throughput over the last interval", data["docs_per_second"])
        latency = GaugeMetricFamily(
            "segmenter_latency_milliseconds",
            "Input timestamp to output delivery",
            labels=["quantile"],
        )
        for quantile in ("p50", "p95", "p99"):
            if data["latency_ms"][quantile] is not None:
                latency.add_metric([quantile], data["latency_ms"][quantile])
        yield latency


class AdminServer:
    def __init__(
        self,
        host: str,
        port: int,
        snapshot: Snapshot,
        heartbeat: LoopHeartbeat,
        request_cleanup: Callable[[], CleanupReport | None],
        token: str | None = None,
    ) -> None:
        registry = CollectorRegistry()
        registry.register(SnapshotCollector(snapshot))
        handler = _handler(snapshot, heartbeat, request_cleanup, registry, token)
        self._server = ThreadingHTTPServer((host, port), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def address(self) -> str:
        host, port = self._server.server_address[:2]
        return f"{host}:{port}"

    def start(self) -> None:
        self._thread.start()
        log.info("admin endpoint on http://%s", self.address)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _handler(
    snapshot: Snapshot,
    heartbeat: LoopHeartbeat,
    request_cleanup: Callable[[], CleanupReport | None],
    registry: CollectorRegistry,
    token: str | None,
) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/memory-stats":
                data = snapshot()
                if data is None:
                    self._send(503, {"error": "no snapshot yet"})
                else:
                    self._send(200, data)
            elif self.path == "/metrics":
                self._send_raw(200, generate_latest(registry), "text/plain; version=0.0.4")
            elif self.path == "/healthz":
                alive = heartbeat.alive()
                self._send(200 if alive else 503, {"alive": alive})
            elif self.path == "/readyz":
                ready = heartbeat.alive() and heartbeat.joined and not heartbeat.stopping
                data = snapshot() or {}
                self._send(200 if ready else 503, {"ready": ready, "state": data.get("state")})
            else:
                self._send(404, {"error": f"no such endpoint: {self.path}"})

        def do_POST(self) -> None:
            if self.path != "/optimize-memory":
                self._send(404, {"error": f"no such endpoint: {self.path}"})
                return
            if token is not None and not hmac.compare_digest(
                self.headers.get("Authorization", ""), f"Bearer {token}"
            ):
                self._send(401, {"error": "POST /optimize-memory needs the ADMIN_TOKEN"})
                return
            report = request_cleanup()
            if report is None:
                self._send(503, {"error": "the processing loop did not run the cleanup in time"})
                return
            self._send(
                200,
                {
                    "kind": report.kind,
                    "rss_before_mb": round(report.rss_before_mb, 1),
                    "rss_after_mb": round(report.rss_after_mb, 1),
                    "freed_mb": round(report.freed_mb, 1),
                    "duration_ms": round(report.duration_ms, 1),
                    "actions": report.actions,
                },
            )

        def _send(self, status: int, body: dict[str, Any]) -> None:
            self._send_raw(status, json.dumps(body).encode(), "application/json")

        def _send_raw(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("admin: " + format, *args)

    return Handler
