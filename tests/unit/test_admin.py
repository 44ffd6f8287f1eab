from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from stream_segmenter.admin import AdminServer, LoopHeartbeat
from stream_segmenter.governor.cleanup import CleanupReport
from tests.unit.test_supervisor import ScriptedMemory, make_supervisor


@pytest.fixture
def server():
    supervisor, _, _producer, _, _ = make_supervisor(ScriptedMemory(50))
    heartbeat = LoopHeartbeat()
    report = CleanupReport("manual", 300.0, 200.0, 12.5, ["cache_cleared:1"])
    admin = AdminServer("127.0.0.1", 0, supervisor.publisher.latest, heartbeat,
                        lambda: report, token="s3cret-token")  # fmt: skip
    admin.start()
    yield admin, supervisor, heartbeat
    admin.stop()


def call(admin: AdminServer, path: str, method: str = "GET", token: str | None = None):
    request = urllib.request.Request(f"http://{admin.address}{path}", method=method)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def test_probes_follow_the_loop(server):
    admin, supervisor, heartbeat = server
    assert call(admin, "/healthz")[0] == 503  # the loop has not turned yet
    assert call(admin, "/memory-stats")[0] == 503
    heartbeat.beat()
    supervisor.tick()
    assert call(admin, "/healthz") == (200, b'{"alive": true}')
    assert call(admin, "/readyz")[0] == 503  # alive, but no group has answered yet
    heartbeat.joined = True  # what the loop does on its first assignment
    status, body = call(admin, "/readyz")
    assert status == 200 and json.loads(body) == {"ready": True, "state": "normal"}
    heartbeat.stopping = True
    assert call(admin, "/readyz")[0] == 503
    assert call(admin, "/nope")[0] == 404


def test_stats_and_metrics_come_from_the_latest_snapshot(server):
    admin, supervisor, _heartbeat = server
    supervisor.tick()
    status, body = call(admin, "/memory-stats")
    stats = json.loads(body)
    assert status == 200 and stats["rss_mb"] == 50 and stats["thresholds"]["memory_mb"] == 100
    status, metrics = call(admin, "/metrics")
    text = metrics.decode()
    assert 'segmenter_memory_state{state="normal"} 1.0' in text
    assert "segmenter_rss_megabytes 50.0" in text
    assert "segmenter_documents_total 0.0" in text


def test_the_cleanup_action_needs_the_token(server):
    admin, _, _ = server
    assert call(admin, "/optimize-memory", "POST")[0] == 401
    assert call(admin, "/optimize-memory", "POST", token="wrong-token")[0] == 401
    status, body = call(admin, "/optimize-memory", "POST", token="s3cret-token")
    assert status == 200
    assert json.loads(body) == {
        "kind": "manual", "rss_before_mb": 300.0, "rss_after_mb": 200.0, "freed_mb": 100.0,
        "duration_ms": 12.5, "actions": ["cache_cleared:1"],
    }  # fmt: skip


def test_a_taken_port_is_an_os_error_that_app_turns_into_one_line(server):
    admin, supervisor, heartbeat = server
    host, port = admin.address.rsplit(":", 1)
    with pytest.raises(OSError):
        AdminServer(host, int(port), supervisor.publisher.latest, heartbeat, lambda: None)
