#!/usr/bin/env python3
"""A single-node Apache Kafka broker (KRaft) on loopback, for the demo and the tests.

    python tools/local_kafka.py start [--port 9092] [--fresh]   # prints the bootstrap address
    python tools/local_kafka.py stop | status | fetch

The broker's jars come from Maven Central at a pinned version through Maven, once, into
~/.cache/stream-segmenter/kafka-<version>/ (cached after the first time). Storage is
formatted on the first start (or with --fresh) under .local-kafka/ in the repository.
Needs Java 17+ and Maven on PATH. `status` and `start` exit non-zero when the broker
does not answer.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

KAFKA_VERSION = "4.1.1"
LOG4J_VERSION = "2.24.3"
REPO_ROOT = Path(__file__).resolve().parent.parent
STATE_DIR = Path(os.environ.get("LOCAL_KAFKA_DIR", REPO_ROOT / ".local-kafka"))
CACHE_DIR = (
    Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    / "stream-segmenter"
    / f"kafka-{KAFKA_VERSION}"
)
DEFAULT_PORT = int(os.environ.get("LOCAL_KAFKA_PORT", "9092"))
START_TIMEOUT_SECONDS = 120
STOP_TIMEOUT_SECONDS = 60

POM = f"""<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.stream-segmenter</groupId>
  <artifactId>kafka-broker-jars</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId>
      <version>{KAFKA_VERSION}</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j-impl</artifactId>
      <version>{LOG4J_VERSION}</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-core</artifactId>
      <version>{LOG4J_VERSION}</version></dependency>
  </dependencies>
</project>
"""

SERVER_PROPERTIES = """process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:{controller_port}
listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}
advertised.listeners=PLAINTEXT://127.0.0.1:{port}
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs={data_dir}
num.partitions=3
auto.create.topics.enable=true
offsets.topic.replication.factor=1
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
log.retention.hours=24
"""

LOG4J2_PROPERTIES = """status = warn
appender.file.type = File
appender.file.name = file
appender.file.fileName = {log_file}
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = file
logger.kafka.name = kafka
logger.kafka.level = INFO
logger.state.name = state.change.logger
logger.state.level = WARN
"""


def say(message: str) -> None:
    print(f"[local-kafka] {message}", file=sys.stderr, flush=True)


def fetch() -> Path:
    """Copy the broker jars from Maven Central into the cache once; return the jar folder."""
    libs = CACHE_DIR / "libs"
    done = CACHE_DIR / ".complete"
    if done.exists():
        return libs
    for tool in ("java", "mvn"):
        if shutil.which(tool) is None:
            sys.exit(f"[local-kafka] {tool} not found on PATH: install Java 17+ and Maven")
    say(f"fetching Apache Kafka {KAFKA_VERSION} broker jars from Maven Central (first time only)")
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    (CACHE_DIR / "pom.xml").write_text(POM)
    shutil.rmtree(libs, ignore_errors=True)
    subprocess.run(
        [
            "mvn", "-q", "-B", "-f", str(CACHE_DIR / "pom.xml"),
            "dependency:copy-dependencies",
            f"-DoutputDirectory={libs}", "-DincludeScope=runtime",
        ],
        check=True,
    )  # fmt: skip
    done.write_text(KAFKA_VERSION)
    return libs


# What Kafka's own kafka-server-start.sh runs a broker with (KAFKA_HEAP_OPTS and
# KAFKA_JVM_PERFORMANCE_OPTS). G1's default pause goal is 200 ms; the broker shares two
# cores with the processor and its pauses land in the latency benchmark's tail.
JVM_OPTIONS = (
    "-Xms1g", "-Xmx1g", "-server", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20",
    "-XX:InitiatingHeapOccupancyPercent=35", "-XX:+ExplicitGCInvokesConcurrent",
    "-XX:MaxInlineLevel=15", "-Djava.awt.headless=true",
)  # fmt: skip


def _java(libs: Path, main: str, *args: str, **popen: object) -> subprocess.Popen[bytes]:
    command = [
        "java", *JVM_OPTIONS,
        f"-Xlog:gc:file={STATE_DIR / 'gc.log'}:uptime:filecount=2,filesize=10M",
        f"-Dlog4j2.configurationFile={STATE_DIR / 'log4j2.properties'}",
        "-cp", f"{libs}/*", main, *args,
    ]  # fmt: skip
    return subprocess.Popen(command, **popen)  # type: ignore[call-overload]


def _answers(port: int, timeout: float = 2.0) -> bool:
    """True when the broker serves metadata (not merely accepts TCP connections)."""
    try:
        from confluent_kafka.admin import AdminClient
    except ImportError:  # before the venv exists: a TCP connect is the best we can do
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=timeout):
                return True
        except OSError:
            return False
    admin = AdminClient({"bootstrap.servers": f"127.0.0.1:{port}", "log_level": 0})
    try:
        return bool(admin.list_topics(timeout=timeout).brokers)
    except Exception:
        return False


def _pid() -> int | None:
    """The broker's pid, only if that process is still our broker (pids get reused)."""
    try:
        pid = int((STATE_DIR / "broker.pid").read_text())
        command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (OSError, ValueError):
        return None
    ours = str(STATE_DIR / "server.properties").encode()
    return pid if b"kafka.Kafka" in command and ours in command else None


def start(port: int, fresh: bool) -> None:
    if _pid() is not None and _answers(port):
        say(f"already running on 127.0.0.1:{port}")
        print(f"127.0.0.1:{port}")
        return
    if _answers(port):
        sys.exit(f"[local-kafka] port {port} already serves a Kafka broker we did not start")
    libs = fetch()
    data_dir = STATE_DIR / "data"
    if fresh:
        shutil.rmtree(data_dir, ignore_errors=True)
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    log_file = STATE_DIR / "server.log"
    (STATE_DIR / "log4j2.properties").write_text(LOG4J2_PROPERTIES.format(log_file=log_file))
    properties = STATE_DIR / "server.properties"
    properties.write_text(
        SERVER_PROPERTIES.format(port=port, controller_port=port + 1, data_dir=data_dir)
    )
    if not (data_dir / "meta.properties").exists():
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        formatter = _java(
            libs, "kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(properties),
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        if formatter.wait() != 0:
            sys.exit("[local-kafka] formatting KRaft storage failed")
    say(f"starting Apache Kafka {KAFKA_VERSION} (KRaft) on 127.0.0.1:{port}")
    with (STATE_DIR / "stdout.log").open("ab") as out:
        broker = _java(
            libs, "kafka.Kafka", str(properties),
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    (STATE_DIR / "broker.pid").write_text(str(broker.pid))
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if broker.poll() is not None:
            _show_log_tail()
            sys.exit(f"[local-kafka] broker exited with code {broker.returncode}")
        if _answers(port):
            say(f"broker answers on 127.0.0.1:{port} (logs: {log_file})")
            print(f"127.0.0.1:{port}")
            return
        time.sleep(0.5)
    _show_log_tail()
    stop()
    sys.exit(f"[local-kafka] broker did not answer within {START_TIMEOUT_SECONDS}s")


def stop() -> None:
    pid = _pid()
    if pid is None:
        say("not running")
        return
    say(f"stopping broker (pid {pid})")
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except OSError:
            break
        _reap(pid)
        time.sleep(0.2)
    else:
        say("broker did not stop in time; killing it")
        os.kill(pid, signal.SIGKILL)
    (STATE_DIR / "broker.pid").unlink(missing_ok=True)
    say("stopped")


def _reap(pid: int) -> None:
    """Collect the exit status when the broker is our own child (else it stays a zombie)."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def _show_log_tail(lines: int = 30) -> None:
    for name in ("stdout.log", "server.log"):
        path = STATE_DIR / name
        if path.exists():
            tail = path.read_text(errors="replace").splitlines()[-lines:]
            say(f"last lines of {path}:\n" + "\n".join(tail))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    start_cmd = commands.add_parser("start", help="start (fetching jars first if needed)")
    start_cmd.add_argument("--port", type=int, default=DEFAULT_PORT)
    start_cmd.add_argument("--fresh", action="store_true", help="wipe topics and offsets first")
    commands.add_parser("stop", help="stop the broker cleanly")
    status_cmd = commands.add_parser("status", help="exit 0 if the broker answers")
    status_cmd.add_argument("--port", type=int, default=DEFAULT_PORT)
    commands.add_parser("fetch", help="download the broker jars into the cache")
    args = parser.parse_args()
    if args.command == "start":
        start(args.port, args.fresh)
    elif args.command == "stop":
        stop()
    elif args.command == "status":
        up = _answers(args.port)
        say(f"127.0.0.1:{args.port} {'answers' if up else 'does not answer'}")
        sys.exit(0 if up else 1)
    else:
        say(f"jars in {fetch()}")


if __name__ == "__main__":
    main()
