"""Shared fixtures: the real Kafka broker, gold data paths, and fresh topics per test.

The broker is chosen once per run: KAFKA_BOOTSTRAP_SERVERS if set, else a
testcontainers Kafka container if a Docker engine answers, else the project's local
Apache Kafka broker (tools/local_kafka.py), started here and stopped at the end.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(os.environ.get("SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))
EWT_TEST = SHARED_DATA / "ud" / "UD_English-EWT" / "en_ewt-ud-test.conllu"
GOLDEN_RULES = SHARED_DATA / "golden_rules_en.jsonl"


def require(path: Path) -> Path:
    """The gold data file, or a skip; in CI (CI=true) a missing file fails instead."""
    if not path.exists():
        message = f"gold data not found at {path} (set SHARED_DATA)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def ewt_test() -> Path:
    return require(EWT_TEST)


def _docker_answers() -> bool:
    try:
        import docker

        docker.from_env(timeout=3).ping()
        return True
    except Exception:
        return False


class LocalBroker:
    """Stop and start the project's local broker (for fault tests); data survives."""

    tool: ClassVar[list[str]] = [sys.executable, str(REPO_ROOT / "tools" / "local_kafka.py")]

    def stop(self) -> None:
        subprocess.run([*self.tool, "stop"], check=True, capture_output=True)

    def start(self) -> None:
        subprocess.run([*self.tool, "start"], check=True, capture_output=True)


BROKER_MODE: dict[str, str] = {}


@pytest.fixture
def local_broker(kafka_bootstrap: str) -> LocalBroker:
    if BROKER_MODE.get("mode") != "local":
        pytest.skip("needs the project's local broker (not KAFKA_BOOTSTRAP_SERVERS or Docker)")
    return LocalBroker()


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    configured = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if configured:
        yield configured
        return
    if _docker_answers():
        from testcontainers.community.kafka import KafkaContainer

        with KafkaContainer("confluentinc/cp-kafka:7.6.0").with_kraft() as container:
            yield container.get_bootstrap_server()
        return
    tool = LocalBroker.tool
    if subprocess.run([*tool, "status"], capture_output=True).returncode == 0:
        # A local broker someone else started: use it and leave it running.
        yield f"127.0.0.1:{os.environ.get('LOCAL_KAFKA_PORT', '9092')}"
        return
    started = subprocess.run([*tool, "start"], check=True, stdout=subprocess.PIPE, text=True)
    BROKER_MODE["mode"] = "local"  # ours to stop and start again in fault tests
    try:
        yield started.stdout.strip().splitlines()[-1]
    finally:
        subprocess.run([*tool, "stop"], check=False)


@pytest.fixture
def topics(kafka_bootstrap: str) -> dict[str, str]:
    """Fresh topic names (input with 3 partitions) and group id for one test."""
    from stream_segmenter.kafka.clients import ensure_topics

    run = uuid.uuid4().hex[:10]
    names = {
        "INPUT_TOPIC": f"test-{run}.documents",
        "OUTPUT_TOPIC": f"test-{run}.segments",
        "DLQ_TOPIC": f"test-{run}.dlq",
        "TELEMETRY_TOPIC": f"test-{run}.telemetry",
        "GROUP_ID": f"test-{run}",
    }
    ensure_topics(kafka_bootstrap, [v for k, v in names.items() if k != "GROUP_ID"], partitions=3)
    return names
