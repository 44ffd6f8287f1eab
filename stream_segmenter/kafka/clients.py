"""librdkafka client settings built from our Settings, and topic creation for set-up."""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Iterable

from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic, ResourceType

from stream_segmenter.config import SECRET_PROPERTY, Settings, aliases_of, variable_name
from stream_segmenter.errors import ConfigError

log = logging.getLogger(__name__)


_last_logged: dict[str, float] = {}
# The same client error (say, a broker that is down) is logged at most this often.
CLIENT_ERROR_LOG_EVERY_SECONDS = 30.0


def _log_client_error(error: object) -> None:
    text = str(error)
    now = time.monotonic()
    if now - _last_logged.get(text, float("-inf")) >= CLIENT_ERROR_LOG_EVERY_SECONDS:
        _last_logged[text] = now
        log.warning("kafka client: %s", text)


class _RepeatFilter(logging.Filter):
    """Lets a librdkafka line through once per interval; lines that differ only in
    numbers (timestamps, durations, client ids) count as the same line."""

    def __init__(self, every: float) -> None:
        super().__init__()
        self.every = every
        self.seen: dict[str, float] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        key = re.sub(r"\d+", "#", record.getMessage())
        now = time.monotonic()
        if now - self.seen.get(key, float("-inf")) < self.every:
            return False
        self.seen[key] = now
        return True


librdkafka_log = logging.getLogger("librdkafka")
librdkafka_log.addFilter(_RepeatFilter(CLIENT_ERROR_LOG_EVERY_SECONDS))


# Each way librdkafka and the Python client name the property they refuse.
_REFUSED_PROPERTY = re.compile(
    r'property:? "([a-z0-9_.]+)"|for "([a-z0-9_.]+)"|^Expected ([a-z0-9_.]+) to be'
)


def _variable_for(key: str, environ: dict[str, str] | os._Environ[str]) -> str:
    """The KAFKA_* variable that set `key`, under its own name or else an alias's."""
    for name in map(variable_name, (key, *aliases_of(key))):
        if name in environ:
            return name
    return variable_name(key)


def config_error(exc: Exception, settings: Settings) -> ConfigError:
    """One line naming the KAFKA_* variable librdkafka refused (it names the property)."""
    text = str(exc.args[0] if exc.args else exc)
    found = _REFUSED_PROPERTY.search(text)
    key = found and next(group for group in found.groups() if group)
    name = _variable_for(key, os.environ) if key else "KAFKA_*"
    reason = getattr(exc.args[0], "str", lambda: text)() if exc.args else text
    if key and SECRET_PROPERTY.search(key):
        reason = re.sub(r'value "[^"]*"', 'value "***"', reason)  # never echo a secret
    return ConfigError(f"invalid configuration: {name}: {reason}")


def base_config(settings: Settings) -> dict[str, object]:
    config: dict[str, object] = {
        "bootstrap.servers": settings.kafka_bootstrap_servers,
        "error_cb": _log_client_error,
        "logger": librdkafka_log,  # through Python logging, repeats filtered out
    }
    config.update(settings.librdkafka_overrides())
    return config


def consumer_config(settings: Settings) -> dict[str, object]:
    """Offsets are committed by us, only after the output is confirmed (at-least-once)."""
    config = {
        "group.id": settings.group_id,
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "auto.offset.reset": "earliest",
        # Queue fewer bytes per partition than librdkafka's 64 MB default: memory is ours to bound.
        "queued.max.messages.kbytes": 16384,
    }
    config.update(base_config(settings))
    return config


def producer_config(settings: Settings, message_limit: int | None = None) -> dict[str, object]:
    """Idempotent, acks=all: a retried send never duplicates or reorders within a partition.
    `message_limit` stands in for the topics' own (asked of the broker when None)."""
    config: dict[str, object] = {
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 5,
        "compression.type": "lz4",
        # The topics' own limit (see topic_message_limit), so that an output too large is
        # refused here, alone, and not in a batch with others at the broker.
        "message.max.bytes": message_limit or topic_message_limit(settings),
    }
    if settings.processing_guarantee == "exactly-once":
        config["transactional.id"] = settings.transactional_id or (
            f"{settings.group_id}-{settings.instance_id}"
        )
        config["transaction.timeout.ms"] = 30_000
    config.update(base_config(settings))
    return config


def telemetry_producer_config(settings: Settings) -> dict[str, object]:
    """A small, separate producer: telemetry must flow while output is paused or stuck."""
    config = {"linger.ms": 50, "queue.buffering.max.messages": 10_000}
    config.update(base_config(settings))
    return config


# librdkafka's default; used when the topics' limit cannot be read.
DEFAULT_MESSAGE_MAX_BYTES = 1_000_000


def topic_message_limit(settings: Settings) -> int:
    """The smallest max.message.bytes of the output and dead-letter topics, as the broker
    reports it (needs DescribeConfigs; falls back to librdkafka's 1,000,000 with a warning)."""
    names = [settings.output_topic, settings.dlq_topic]
    admin = AdminClient({k: v for k, v in base_config(settings).items() if k != "logger"})
    try:
        futures = admin.describe_configs([ConfigResource(ResourceType.TOPIC, n) for n in names])
        limits = [
            int(future.result(timeout=10)["max.message.bytes"].value) for future in futures.values()
        ]
    except Exception as exc:  # missing topic, no permission, broker down
        log.warning(
            "could not read max.message.bytes of %s (%s); using %d",
            names, exc, DEFAULT_MESSAGE_MAX_BYTES,
        )  # fmt: skip
        return DEFAULT_MESSAGE_MAX_BYTES
    return min(limits)


def ensure_topics(
    bootstrap_servers: str,
    topics: Iterable[str],
    partitions: int = 3,
    extra_config: dict[str, str] | None = None,
    topic_config: dict[str, str] | None = None,
) -> None:
    """Create the topics that do not exist yet (for set-up, demos and tests)."""
    admin = AdminClient({"bootstrap.servers": bootstrap_servers, **(extra_config or {})})
    existing = set(admin.list_topics(timeout=30).topics)
    wanted = [
        NewTopic(name, num_partitions=partitions, replication_factor=1, config=topic_config or {})
        for name in dict.fromkeys(topics)
        if name not in existing
    ]
    if not wanted:
        return
    for name, future in admin.create_topics(wanted, operation_timeout=30).items():
        try:
            future.result()
        except Exception as exc:  # already created by a concurrent caller is fine
            if "TOPIC_ALREADY_EXISTS" not in str(exc):
                raise
        log.info("created topic %s", name)
