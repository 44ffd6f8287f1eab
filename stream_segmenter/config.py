"""Configuration read from the environment once, at start-up.

Every setting is an environment variable with the name shown in the README table.
A bad value stops start-up with one line naming the variable (see `load_settings`),
so an operator never finds out about a typo from a crash an hour later.
"""

from __future__ import annotations

import os
import re
from typing import Annotated, Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from stream_segmenter.errors import ConfigError

LANG_PATTERN = re.compile(r"^[a-z]{2,3}$")

# Variables that start with KAFKA_ but are ours, not librdkafka properties.
_OWN_KAFKA_VARS = {"KAFKA_BOOTSTRAP_SERVERS"}


class Settings(BaseSettings):
    """All settings of the processor. Frozen: read once, never changed at run time."""

    model_config = SettingsConfigDict(frozen=True, extra="ignore", case_sensitive=True)

    kafka_bootstrap_servers: str = Field("localhost:9092", alias="KAFKA_BOOTSTRAP_SERVERS")
    input_topic: str = Field("documents", alias="INPUT_TOPIC", min_length=1)
    output_topic: str = Field("segments", alias="OUTPUT_TOPIC", min_length=1)
    dlq_topic: str = Field("documents.dlq", alias="DLQ_TOPIC", min_length=1)
    telemetry_topic: str = Field("segmenter.telemetry", alias="TELEMETRY_TOPIC", min_length=1)
    group_id: str = Field("stream-segmenter", alias="GROUP_ID", min_length=1)
    processing_guarantee: Literal["at-least-once"] = Field(
        "at-least-once", alias="PROCESSING_GUARANTEE"
    )

    default_lang: str = Field("en", alias="DEFAULT_LANG")
    # "en=en_core_web_sm,de=/models/de_pipeline": a language → spaCy package or path.
    spacy_pipelines: Annotated[dict[str, str], NoDecode] = Field(
        default_factory=dict, alias="SPACY_PIPELINES"
    )
    max_text_chars: int = Field(1_000_000, alias="MAX_TEXT_CHARS", gt=0)
    max_cache_size: int = Field(10_000, alias="MAX_CACHE_SIZE", ge=0)

    batch_size: int = Field(256, alias="BATCH_SIZE", gt=0, le=100_000)
    poll_timeout_seconds: float = Field(0.5, alias="POLL_TIMEOUT_SECONDS", gt=0)
    commit_interval_seconds: float = Field(1.0, alias="COMMIT_INTERVAL_SECONDS", ge=0)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO", alias="LOG_LEVEL")

    @field_validator("default_lang")
    @classmethod
    def _check_lang(cls, value: str) -> str:
        if not LANG_PATTERN.match(value):
            raise ValueError(f"expected a lowercase ISO 639 code such as 'en', got {value!r}")
        return value

    @field_validator("spacy_pipelines", mode="before")
    @classmethod
    def _parse_pipelines(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        mapping: dict[str, str] = {}
        for item in filter(None, (part.strip() for part in value.split(","))):
            lang, sep, pipeline = item.partition("=")
            lang, pipeline = lang.strip(), pipeline.strip()
            if not sep or not LANG_PATTERN.match(lang) or not pipeline:
                raise ValueError(f"expected 'lang=package_or_path[,…]', got {item!r}")
            mapping[lang] = pipeline
        return mapping

    def librdkafka_overrides(self) -> dict[str, str]:
        """librdkafka properties from KAFKA_* variables (KAFKA_SASL_MECHANISM → sasl.mechanism)."""
        return kafka_passthrough(os.environ)


def kafka_passthrough(environ: dict[str, str] | os._Environ[str]) -> dict[str, str]:
    """Map every KAFKA_FOO_BAR variable (except our own) to the librdkafka key foo.bar."""
    return {
        name[len("KAFKA_") :].lower().replace("_", "."): value
        for name, value in environ.items()
        if name.startswith("KAFKA_") and name not in _OWN_KAFKA_VARS and len(name) > 6
    }


def load_settings() -> Settings:
    """Read and validate the environment; raise ConfigError with one line naming the variable."""
    try:
        return Settings()  # type: ignore[call-arg]
    except ValidationError as exc:
        first = exc.errors()[0]
        name = str(first["loc"][0]) if first["loc"] else "configuration"
        given = os.environ.get(name)
        shown = f" (got {given!r})" if given is not None else ""
        raise ConfigError(f"invalid configuration: {name}: {first['msg']}{shown}") from None
