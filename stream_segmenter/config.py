"""Configuration read from the environment once, at start-up.

Every setting is an environment variable with the name shown in the README table.
A bad value stops start-up with one line naming the variable (see `load_settings`),
so an operator never finds out about a typo from a crash an hour later.
"""

from __future__ import annotations

import os
import re
import socket
from typing import Annotated, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from stream_segmenter.errors import ConfigError

LANG_PATTERN = re.compile(r"^[a-z]{2,3}$")
# Never echoed in an error message or a log line.
SECRET_VARIABLES = {"ADMIN_TOKEN"}
SECRET_PROPERTY = re.compile(r"password|secret|token|key(?!tab)|credential", re.IGNORECASE)
THRESHOLD_PATTERN = re.compile(r"^\d+(\.\d+)?%?$")

# Variables that start with KAFKA_ but are not librdkafka properties: ours, those of
# Apache Kafka's own scripts, and Kubernetes service links of any Service whose name
# starts with "kafka" (kafka, kafka-bootstrap, ...: KAFKA_BOOTSTRAP_SERVICE_HOST,
# KAFKA_BOOTSTRAP_PORT_9092_TCP_ADDR).
_NOT_LIBRDKAFKA = re.compile(
    r"KAFKA_(BOOTSTRAP_SERVERS|HOME|OPTS|HEAP_OPTS|JVM_PERFORMANCE_OPTS|LOG4J_OPTS|JMX_OPTS"
    r"|GC_LOG_OPTS|DEBUG|VERSION"
    r"|(\w+_)?(PORT|PORT_\d+_(TCP|UDP|SCTP)(_PROTO|_PORT|_ADDR)?|SERVICE_HOST|SERVICE_PORT(_\w+)?))"
)


# librdkafka properties the processing guarantees rest on: a KAFKA_* variable that set one
# would win over ours and break them without a word (KAFKA_ENABLE_AUTO_COMMIT=true commits
# offsets whose outputs were never confirmed), so `run` and `demo` refuse it. Each has the
# values that are ours (accepted: a deployment may pin them) and why it is ours.
_CONFIRMED = "offsets are committed only once their outputs are confirmed"
_ALL_REPLICAS = "outputs count as confirmed only when every in-sync replica has them"
OWNED_PROPERTIES: dict[str, tuple[set[str], str]] = {
    "group.id": (set(), "set it with GROUP_ID"),
    "enable.auto.commit": ({"false"}, _CONFIRMED),
    "auto.commit.enable": ({"false"}, _CONFIRMED),  # the legacy consumer's name
    "enable.auto.offset.store": ({"false"}, _CONFIRMED),
    "enable.idempotence": ({"true"}, "the producer is idempotent: a retried send never repeats"),
    "acks": ({"all", "-1"}, _ALL_REPLICAS),
    "delivery.report.only.error": ({"false"}, "each delivery report moves the committable offset"),
    "transactional.id": (set(), "set it with TRANSACTIONAL_ID"),
    "isolation.level": (
        {"read_committed"}, "read_committed: input of aborted transactions is never processed"
    ),
}  # fmt: skip


# Two names librdkafka takes for one property. It names a refused property by one of
# them (KAFKA_LINGER_MS is refused as queue.buffering.max.ms), and an owned property
# may be set under either.
PROPERTY_ALIASES = [
    ("linger.ms", "queue.buffering.max.ms"), ("acks", "request.required.acks"),
    ("compression.type", "compression.codec"), ("retries", "message.send.max.retries"),
    ("max.in.flight", "max.in.flight.requests.per.connection"),
    ("bootstrap.servers", "metadata.broker.list"), ("delivery.timeout.ms", "message.timeout.ms"),
    ("sasl.mechanism", "sasl.mechanisms"),
]  # fmt: skip


def aliases_of(key: str) -> list[str]:
    """The other names of the librdkafka property `key`."""
    return [other for pair in PROPERTY_ALIASES if key in pair for other in pair if other != key]


# librdkafka reads these as booleans too.
_LIBRDKAFKA_BOOLS = {"t": "true", "1": "true", "f": "false", "0": "false"}


def refuse_owned_overrides(environ: dict[str, str] | os._Environ[str]) -> None:
    """Raise ConfigError naming the first KAFKA_* variable that would override one of the
    properties above with a value other than ours."""
    for name in sorted(environ):
        if not name.startswith("KAFKA_"):
            continue
        key = property_name(name)
        names = (key, *aliases_of(key))
        owned = next((OWNED_PROPERTIES[p] for p in names if p in OWNED_PROPERTIES), None)
        if owned is None:
            continue
        ours, reason = owned
        value = environ[name].strip().lower()
        if _LIBRDKAFKA_BOOLS.get(value, value) not in ours:
            raise ConfigError(f"invalid configuration: {name}: set by stream-segmenter ({reason})")


def _default_instance_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


class Settings(BaseSettings):
    """All settings of the processor. Frozen: read once, never changed at run time."""

    model_config = SettingsConfigDict(frozen=True, extra="ignore", case_sensitive=True)

    kafka_bootstrap_servers: str = Field("localhost:9092", alias="KAFKA_BOOTSTRAP_SERVERS")
    input_topic: str = Field("documents", alias="INPUT_TOPIC", min_length=1)
    output_topic: str = Field("segments", alias="OUTPUT_TOPIC", min_length=1)
    dlq_topic: str = Field("documents.dlq", alias="DLQ_TOPIC", min_length=1)
    telemetry_topic: str = Field("segmenter.telemetry", alias="TELEMETRY_TOPIC", min_length=1)
    group_id: str = Field("stream-segmenter", alias="GROUP_ID", min_length=1)
    processing_guarantee: Literal["at-least-once", "exactly-once"] = Field(
        "at-least-once", alias="PROCESSING_GUARANTEE"
    )
    # exactly-once: stable per replica, so a restart aborts its predecessor's open transaction.
    transactional_id: str | None = Field(None, alias="TRANSACTIONAL_ID", min_length=1)

    default_lang: str = Field("en", alias="DEFAULT_LANG")
    # "en=en_core_web_sm,de=/models/de_pipeline": a language → spaCy package or path.
    spacy_pipelines: Annotated[dict[str, str], NoDecode] = Field(
        default_factory=dict, alias="SPACY_PIPELINES"
    )
    max_text_chars: int = Field(1_000_000, alias="MAX_TEXT_CHARS", gt=0)
    max_cache_size: int = Field(10_000, alias="MAX_CACHE_SIZE", ge=0)

    max_cache_mb: float = Field(64.0, alias="MAX_CACHE_MB", ge=0)

    # Memory governor. Thresholds in MB ("800") or as a share of the memory limit ("70%").
    memory_threshold_mb: str = Field("1024", alias="MEMORY_THRESHOLD_MB")
    high_memory_threshold_mb: str = Field("1536", alias="HIGH_MEMORY_THRESHOLD_MB")
    memory_limit_mb: float | None = Field(None, alias="MEMORY_LIMIT_MB", gt=0)
    gc_interval: float = Field(300.0, alias="GC_INTERVAL", ge=0)
    model_idle_seconds: float = Field(900.0, alias="MODEL_IDLE_SECONDS", gt=0)
    max_loaded_models: int = Field(4, alias="MAX_LOADED_MODELS", ge=1)
    vocab_warmup_chars: int = Field(1_000_000, alias="VOCAB_WARMUP_CHARS", ge=0)
    vocab_recycle_lexemes: int = Field(200_000, alias="VOCAB_RECYCLE_LEXEMES", ge=0)
    telemetry_interval: float = Field(30.0, alias="TELEMETRY_INTERVAL", gt=0)
    critical_retry_seconds: float = Field(5.0, alias="CRITICAL_RETRY_SECONDS", gt=0)
    critical_exit_seconds: float = Field(600.0, alias="CRITICAL_EXIT_SECONDS", ge=0)
    admin_address: str = Field("127.0.0.1:8080", alias="ADMIN_ADDRESS")
    # When set, POST /optimize-memory needs "Authorization: Bearer <token>".
    admin_token: SecretStr | None = Field(None, alias="ADMIN_TOKEN", min_length=8)
    instance_id: str = Field(default_factory=_default_instance_id, alias="INSTANCE_ID")

    batch_size: int = Field(256, alias="BATCH_SIZE", gt=0, le=100_000)
    batch_max_bytes: int = Field(2_000_000, alias="BATCH_MAX_BYTES", gt=0)
    poll_timeout_seconds: float = Field(0.5, alias="POLL_TIMEOUT_SECONDS", gt=0)
    commit_interval_seconds: float = Field(1.0, alias="COMMIT_INTERVAL_SECONDS", ge=0)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO", alias="LOG_LEVEL")

    @field_validator("kafka_bootstrap_servers")
    @classmethod
    def _check_bootstrap(cls, value: str) -> str:
        if not value.strip():
            raise ValueError(f"expected brokers such as 'kafka:9092', got {value!r}")
        return value.strip()

    @field_validator("default_lang")
    @classmethod
    def _check_lang(cls, value: str) -> str:
        if not LANG_PATTERN.fullmatch(value):
            raise ValueError(f"expected a lowercase ISO 639 code such as 'en', got {value!r}")
        return value

    @field_validator("memory_threshold_mb", "high_memory_threshold_mb")
    @classmethod
    def _check_threshold(cls, value: str) -> str:
        if not THRESHOLD_PATTERN.fullmatch(value.strip()):
            raise ValueError(
                f"expected megabytes such as '800' or a share such as '70%', got {value!r}"
            )
        return value.strip()

    @field_validator("admin_address")
    @classmethod
    def _check_admin_address(cls, value: str) -> str:
        if value in {"", "off"}:
            return "off"
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit() or int(port) > 65535:
            raise ValueError(
                f"expected host:port (port 0 picks a free one) or 'off', got {value!r}"
            )
        return value

    @model_validator(mode="after")
    def _check_thresholds_order(self) -> Settings:
        low, high = self.memory_threshold_mb, self.high_memory_threshold_mb
        if low.endswith("%") == high.endswith("%") and float(low.rstrip("%")) >= float(
            high.rstrip("%")
        ):
            raise ValueError(
                f"HIGH_MEMORY_THRESHOLD_MB ({high}) must be above MEMORY_THRESHOLD_MB ({low})"
            )
        return self

    @property
    def admin_host_port(self) -> tuple[str, int] | None:
        if self.admin_address == "off":
            return None
        host, _, port = self.admin_address.rpartition(":")
        return host, int(port)

    @field_validator("spacy_pipelines", mode="before")
    @classmethod
    def _parse_pipelines(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        mapping: dict[str, str] = {}
        for item in filter(None, (part.strip() for part in value.split(","))):
            lang, sep, pipeline = item.partition("=")
            lang, pipeline = lang.strip(), pipeline.strip()
            if not sep or not LANG_PATTERN.fullmatch(lang) or not pipeline:
                raise ValueError(f"expected 'lang=package_or_path[,…]', got {item!r}")
            mapping[lang] = pipeline
        return mapping

    def librdkafka_overrides(self) -> dict[str, str]:
        """librdkafka properties from KAFKA_* variables (KAFKA_SASL_MECHANISM → sasl.mechanism)."""
        return kafka_passthrough(os.environ)


def kafka_passthrough(environ: dict[str, str] | os._Environ[str]) -> dict[str, str]:
    """Map every KAFKA_FOO_BAR variable (except our own) to the librdkafka key foo.bar."""
    return {
        property_name(name): value.strip()
        for name, value in environ.items()
        if name.startswith("KAFKA_") and len(name) > 6 and not _NOT_LIBRDKAFKA.fullmatch(name)
    }


def property_name(variable: str) -> str:
    return variable[len("KAFKA_") :].lower().replace("_", ".")


def variable_name(property: str) -> str:
    return "KAFKA_" + property.upper().replace(".", "_")


def load_settings() -> Settings:
    """Read and validate the environment; raise ConfigError with one line naming the variable."""
    try:
        return Settings()  # type: ignore[call-arg]
    except ValidationError as exc:
        first = exc.errors()[0]
        name = str(first["loc"][0]) if first["loc"] else "HIGH_MEMORY_THRESHOLD_MB"
        message = first["msg"].removeprefix("Value error, ")
        given = os.environ.get(name)
        secret = name in SECRET_VARIABLES
        shown = (
            f" (got {given!r})"
            if given is not None and "got " not in message and not secret
            else ""
        )
        raise ConfigError(f"invalid configuration: {name}: {message}{shown}") from None


def resolve_thresholds(
    settings: Settings, cgroup_limit_mb: float | None
) -> tuple[float, float, float | None, str | None]:
    """(low MB, high MB, limit MB, where the limit came from); percentages need a limit."""
    limit, source = (
        (settings.memory_limit_mb, "configured")
        if settings.memory_limit_mb is not None
        else (cgroup_limit_mb, "cgroup" if cgroup_limit_mb is not None else None)
    )
    resolved = []
    for name, value in (
        ("MEMORY_THRESHOLD_MB", settings.memory_threshold_mb),
        ("HIGH_MEMORY_THRESHOLD_MB", settings.high_memory_threshold_mb),
    ):
        if value.endswith("%"):
            if limit is None:
                raise ConfigError(
                    f"invalid configuration: {name}: {value} needs a memory limit, and no cgroup "
                    "limit was found; set MEMORY_LIMIT_MB or give megabytes"
                )
            resolved.append(limit * float(value[:-1]) / 100)
        else:
            resolved.append(float(value))
    low, high = resolved
    if low <= 0:
        raise ConfigError("invalid configuration: MEMORY_THRESHOLD_MB: must be above 0 MB")
    if not low < high:
        raise ConfigError(
            f"invalid configuration: HIGH_MEMORY_THRESHOLD_MB: {high:.0f} MB must be above "
            f"MEMORY_THRESHOLD_MB {low:.0f} MB"
        )
    if limit is not None and high >= limit:
        raise ConfigError(
            f"invalid configuration: HIGH_MEMORY_THRESHOLD_MB: {high:.0f} MB must be below the "
            f"memory limit ({limit:.0f} MB, {source}), or the governor acts only after an OOM kill"
        )
    return low, high, limit, source
