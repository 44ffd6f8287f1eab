"""`stream-segmenter run --workers N`: N processor processes in one consumer group.

Each worker is a whole processor (its own consumer, governor, cache and pipelines), so
N workers use N cores; Kafka shares the partitions between them. The parent only
forwards SIGTERM/SIGINT and waits. If a worker dies on its own, the parent stops the
others and exits with that worker's code, so the orchestrator restarts the whole unit.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from typing import TYPE_CHECKING

from stream_segmenter.config import Settings, property_name

if TYPE_CHECKING:
    from stream_segmenter.cli import StopSignals

log = logging.getLogger(__name__)


def worker_environment(settings: Settings, index: int) -> dict[str, str]:
    """Each worker gets its own instance id, transactional id, static group member id
    (two members with one `group.instance.id` fence each other) and, when the admin port
    is fixed, port + index."""
    env = {**os.environ, "INSTANCE_ID": f"{settings.instance_id}-w{index}"}
    if settings.transactional_id:
        env["TRANSACTIONAL_ID"] = f"{settings.transactional_id}-w{index}"
    for name, value in os.environ.items():
        if name.startswith("KAFKA_") and property_name(name) == "group.instance.id" and value:
            env[name] = f"{value}-w{index}"
    address = settings.admin_host_port
    if address is not None and address[1] != 0:
        env["ADMIN_ADDRESS"] = f"{address[0]}:{address[1] + index}"
    return env


def run_workers(settings: Settings, count: int, signals: StopSignals) -> int:
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "stream_segmenter", "run"],
            env=worker_environment(settings, index),
        )
        for index in range(count)
    ]

    def forward() -> None:
        log.info("stopping %d workers", count)
        for worker in workers:
            if worker.poll() is None:
                worker.send_signal(signal.SIGTERM)

    signals.on_stop.append(forward)
    if signals.received:
        forward()
    log.info("started %d workers: pids %s", count, ", ".join(str(w.pid) for w in workers))
    failed = 0
    while any(worker.poll() is None for worker in workers):
        for worker in workers:
            code = worker.poll()
            if code not in (None, 0) and not signals.received and not failed:
                log.error("worker %d exited with %d: stopping the others", worker.pid, code)
                failed = exit_status(code)
                forward()
        time.sleep(0.2)
    codes = [exit_status(worker.wait()) for worker in workers]
    return failed or next((code for code in codes if code != 0), 0)


def exit_status(code: int) -> int:
    """A worker killed by signal N (Popen: -N) makes the parent exit 128 + N, as a shell
    reports it; -9 as an exit code would come out as 247."""
    return 128 - code if code < 0 else code
