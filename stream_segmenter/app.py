"""Wiring: builds every part from Settings in one place, for the CLI and the tests."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from stream_segmenter.admin import AdminServer, LoopHeartbeat
from stream_segmenter.cache import ResultCache
from stream_segmenter.config import Settings, resolve_thresholds
from stream_segmenter.errors import ConfigError
from stream_segmenter.governor.cleanup import Cleaner
from stream_segmenter.governor.probe import MemoryProbe
from stream_segmenter.governor.state import MemoryStateMachine
from stream_segmenter.governor.supervisor import Counters, MemoryLimit, MemorySupervisor
from stream_segmenter.kafka.at_least_once import AtLeastOnceLoop
from stream_segmenter.kafka.exactly_once import ExactlyOnceLoop
from stream_segmenter.kafka.loop import StreamLoop
from stream_segmenter.models.loader import check_pipeline_sources
from stream_segmenter.models.pool import ModelPool
from stream_segmenter.process import DocumentProcessor
from stream_segmenter.segment import Segmenter
from stream_segmenter.telemetry import TelemetryPublisher

if TYPE_CHECKING:
    from confluent_kafka import Producer

log = logging.getLogger(__name__)

# While elevated, a light cleanup runs at most this often (it is cheap, but not free).
LIGHT_CLEANUP_EVERY_SECONDS = 10.0


def build_segmenter(settings: Settings) -> Segmenter:
    check_pipeline_sources(settings.spacy_pipelines)
    pool = ModelPool(
        settings.spacy_pipelines,
        max_loaded=settings.max_loaded_models,
        idle_seconds=settings.model_idle_seconds,
        warmup_chars=settings.vocab_warmup_chars,
        recycle_lexemes=settings.vocab_recycle_lexemes,
    )
    cache = ResultCache(settings.max_cache_size, int(settings.max_cache_mb * 2**20))
    return Segmenter(pool, cache)


def build_document_processor(settings: Settings) -> DocumentProcessor:
    return DocumentProcessor(
        build_segmenter(settings), settings.default_lang, settings.max_text_chars
    )


@dataclass
class App:
    loop: StreamLoop
    supervisor: MemorySupervisor
    admin: AdminServer | None

    def run(self) -> Counters:
        if self.admin is not None:
            self.admin.start()
        try:
            return self.loop.run()
        finally:
            self.supervisor.publisher.flush()
            if self.admin is not None:
                self.admin.stop()


def build_clients(
    settings: Settings, message_limit: int | None = None
) -> tuple[Producer, Producer, dict[str, object]]:
    """(telemetry producer, output producer, consumer config), every KAFKA_* property
    checked by the clients themselves; a refused one raises ConfigError naming it.
    With `message_limit` the broker is not asked for the topics' (see producer_config)."""
    from confluent_kafka import Consumer, KafkaException, Producer

    from stream_segmenter.kafka.clients import (
        config_error,
        consumer_config,
        producer_config,
        telemetry_producer_config,
    )

    try:
        telemetry_producer = Producer(telemetry_producer_config(settings))
        producer = Producer(producer_config(settings, message_limit))
        consumer = consumer_config(settings)
        Consumer(consumer).close()  # librdkafka checks the consumer's properties here
    except (KafkaException, TypeError, ValueError) as exc:  # the Python client checks types
        raise config_error(exc, settings) from None
    return telemetry_producer, producer, consumer


def build_app(settings: Settings) -> App:
    """The processor with its governor, telemetry and admin server (not started yet)."""
    from confluent_kafka import KafkaException

    from stream_segmenter.kafka.clients import config_error

    probe = MemoryProbe()
    low, high, limit, source = resolve_thresholds(settings, probe.cgroup_limit_mb)
    processor = build_document_processor(settings)
    segmenter = processor.segmenter
    machine = MemoryStateMachine(
        low, high, light_every=LIGHT_CLEANUP_EVERY_SECONDS,
        retry_every=settings.critical_retry_seconds,
    )  # fmt: skip
    telemetry_producer, producer, consumer = build_clients(settings)
    publisher = TelemetryPublisher(
        telemetry_producer, settings.telemetry_topic, settings.instance_id
    )
    supervisor = MemorySupervisor(
        machine,
        Cleaner(segmenter.cache, segmenter.pool, probe.rss_mb),
        probe.rss_mb,
        MemoryLimit(limit, source),
        publisher,
        settings.instance_id,
        Counters(),
        telemetry_interval=settings.telemetry_interval,
        gc_interval=settings.gc_interval,
        critical_exit_seconds=settings.critical_exit_seconds,
    )
    heartbeat = LoopHeartbeat()
    loop_class = (
        ExactlyOnceLoop if settings.processing_guarantee == "exactly-once" else AtLeastOnceLoop
    )
    try:
        loop = loop_class(settings, consumer, processor, supervisor, heartbeat, producer=producer)
    except KafkaException as exc:  # e.g. init_transactions refused
        raise config_error(exc, settings) from None
    admin = None
    if settings.admin_host_port is not None:
        host, port = settings.admin_host_port
        token = settings.admin_token.get_secret_value() if settings.admin_token else None
        try:
            admin = AdminServer(
                host, port, publisher.latest, heartbeat, supervisor.request_cleanup, token
            )
        except OSError as exc:  # taken, or a host that does not resolve
            reason = exc.strerror or str(exc)
            raise ConfigError(
                f"invalid configuration: ADMIN_ADDRESS: cannot listen on {host}:{port}: {reason}"
            ) from None
    log.info(
        "memory: thresholds %.0f / %.0f MB, limit %s (%s), rss %.0f MB",
        low, high, f"{limit:.0f} MB" if limit else "none", source or "-", probe.rss_mb(),
    )  # fmt: skip
    return App(loop, supervisor, admin)
