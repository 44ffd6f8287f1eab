"""`run --workers N`: what each worker is given, and what the parent reports."""

from __future__ import annotations

import signal

from stream_segmenter.config import Settings
from stream_segmenter.workers import exit_status, worker_environment


def test_each_worker_gets_its_own_ids(monkeypatch):
    """Two members with one group.instance.id fence each other, in any spelling."""
    monkeypatch.setenv("INSTANCE_ID", "pod-3")
    monkeypatch.setenv("TRANSACTIONAL_ID", "tx")
    monkeypatch.setenv("KAFKA_group_instance_id", "static")
    settings = Settings()  # type: ignore[call-arg]
    first, second = worker_environment(settings, 0), worker_environment(settings, 1)
    assert (first["INSTANCE_ID"], second["INSTANCE_ID"]) == ("pod-3-w0", "pod-3-w1")
    assert (first["TRANSACTIONAL_ID"], second["TRANSACTIONAL_ID"]) == ("tx-w0", "tx-w1")
    assert first["KAFKA_group_instance_id"] == "static-w0"
    assert second["KAFKA_group_instance_id"] == "static-w1"


def test_a_worker_killed_by_a_signal_is_reported_as_a_shell_would():
    """Found in review: a worker killed with SIGKILL made the parent exit 247 (-9 & 0xff)."""
    assert exit_status(-signal.SIGKILL) == 137
    assert exit_status(3) == 3 and exit_status(0) == 0
