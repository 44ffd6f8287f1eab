from __future__ import annotations

import importlib.util
import logging
import subprocess
import sys

from stream_segmenter.kafka.clients import _RepeatFilter
from tests.conftest import REPO_ROOT


def record(message: str) -> logging.LogRecord:
    return logging.LogRecord("librdkafka", logging.ERROR, "", 0, message, None, None)


def test_repeats_differing_only_in_numbers_are_let_through_once_per_interval():
    repeats = _RepeatFilter(every=60)
    lines = [
        "FAIL [rdkafka#consumer-4]: Connect failed (after 0ms in state CONNECT)",
        "FAIL [rdkafka#consumer-4]: Connect failed (after 12ms in state CONNECT)",
        "FAIL [rdkafka#producer-2]: Connect failed (after 3ms in state CONNECT)",
    ]
    assert [repeats.filter(record(line)) for line in lines] == [True, False, True]


def test_local_broker_stop_never_kills_a_process_that_is_not_its_broker(tmp_path):
    spec = importlib.util.spec_from_file_location(
        "local_kafka", REPO_ROOT / "tools" / "local_kafka.py"
    )
    assert spec and spec.loader
    local_kafka = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(local_kafka)
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        local_kafka.STATE_DIR = tmp_path
        (tmp_path / "broker.pid").write_text(str(bystander.pid))
        assert local_kafka._pid() is None
        local_kafka.stop()
        assert bystander.poll() is None  # still alive
    finally:
        bystander.kill()
        bystander.wait()
