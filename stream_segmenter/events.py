"""The events on the wire, as pydantic models. schemas/*.json are generated from these."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_VERSION = 1


class DocumentEvent(BaseModel):
    """One input document, key = doc_id. Strict: a number where a string belongs is an error."""

    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)

    doc_id: str = Field(min_length=1, description="Identifier of the document; also the key.")
    text: str = Field(description="The text to split into sentences.")
    lang: str | None = Field(
        None,
        pattern=r"^[a-z]{2,3}$",
        description="ISO 639-1 language code; the configured DEFAULT_LANG when absent.",
    )
    metadata: dict[str, Any] | None = Field(
        None, description="Any JSON object; passed through to the output unchanged."
    )


class Segment(BaseModel):
    """One sentence: `text == document_text[start:end]`, offsets in Unicode code points."""

    index: int = Field(ge=0)
    text: str
    start: int = Field(ge=0)
    end: int = Field(ge=0)


class ModelInfo(BaseModel):
    """Which spaCy pipeline produced the segments."""

    name: str
    version: str


class SourceRef(BaseModel):
    """Where the input document was read from."""

    topic: str
    partition: int
    offset: int


class SegmentedDocument(BaseModel):
    """One output event per input document, key = doc_id."""

    doc_id: str
    lang: str
    model: ModelInfo
    segments: list[Segment]
    source: SourceRef
    metadata: dict[str, Any] | None = None
    cache_hit: bool
    processed_at: datetime = Field(description="UTC time the document was segmented.")
    schema_version: int = SCHEMA_VERSION


def utc_now() -> datetime:
    return datetime.now(UTC)
