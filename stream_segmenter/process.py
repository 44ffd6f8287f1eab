"""The Kafka-free heart of the processor: raw messages in, output events or errors out.

Both `stream-segmenter run` (Kafka) and `stream-segmenter segment` (files, stdin) call
`DocumentProcessor.process`, so the two can never disagree about a document.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from stream_segmenter.decode import decode_document
from stream_segmenter.errors import InvalidMessage
from stream_segmenter.events import DocumentEvent, SegmentedDocument, SourceRef, utc_now
from stream_segmenter.segment import Segmenter, to_segments

log = logging.getLogger(__name__)


@dataclass(slots=True)
class RawMessage:
    """A message as read, with where it came from; key and value bytes are kept unchanged.

    Treated as immutable. Not frozen: a frozen dataclass's __init__ costs about 1 µs more
    per message, and this is built for every message consumed."""

    key: bytes | None
    value: bytes | None
    source: SourceRef
    headers: list[tuple[str, bytes]] = field(default_factory=list)
    timestamp_ms: int | None = None


@dataclass(slots=True)
class Outcome:
    """Exactly one of `output` (the serialized output event) or `error` is set (treated as
    immutable; not frozen, for the reason given on RawMessage)."""

    message: RawMessage
    doc_id: str | None = None
    output: bytes | None = None
    segment_count: int = 0
    cache_hit: bool = False
    error: InvalidMessage | None = None


class DocumentProcessor:
    """Decodes, segments and serializes a batch; bad input becomes an error Outcome."""

    def __init__(self, segmenter: Segmenter, default_lang: str, max_text_chars: int) -> None:
        self.segmenter = segmenter
        self.default_lang = default_lang
        self.max_text_chars = max_text_chars

    def process(self, batch: Sequence[RawMessage]) -> list[Outcome]:
        outcomes: dict[int, Outcome] = {}
        valid: list[tuple[int, DocumentEvent, str]] = []
        for position, message in enumerate(batch):
            try:
                event = decode_document(message.value, self.max_text_chars)
            except InvalidMessage as error:
                outcomes[position] = Outcome(message=message, error=error)
                continue
            except Exception as exc:  # a bug must not stop the stream: dead-letter, say it loudly
                log.exception("decoding failed unexpectedly at %s", message.source)
                error = InvalidMessage("processing_failed", f"decoding raised {exc!r}")
                outcomes[position] = Outcome(message=message, error=error)
                continue
            valid.append((position, event, event.lang or self.default_lang))
        for lang in dict.fromkeys(lang for _, _, lang in valid):
            group = [(position, event) for position, event, doc_lang in valid if doc_lang == lang]
            self._segment_group(lang, group, batch, outcomes)
        return [outcomes[position] for position in range(len(batch))]

    def _segment_group(
        self,
        lang: str,
        group: list[tuple[int, DocumentEvent]],
        batch: Sequence[RawMessage],
        outcomes: dict[int, Outcome],
    ) -> None:
        try:
            results = self.segmenter.segment([(lang, event.text) for _, event in group])
        except Exception as exc:  # one bad document or pipeline must not stop the stream
            if len(group) > 1:  # find the culprit: retry each document on its own
                for item in group:
                    self._segment_group(lang, [item], batch, outcomes)
                return
            log.exception("segmentation failed for lang=%s", lang)
            position = group[0][0]
            error = InvalidMessage("segmentation_failed", f"lang={lang!r}: {exc!r}")
            outcomes[position] = Outcome(message=batch[position], error=error)
            return
        now = utc_now()
        for (position, event), result in zip(group, results, strict=True):
            message = batch[position]
            output = SegmentedDocument(
                doc_id=event.doc_id,
                lang=lang,
                model=result.model,
                segments=to_segments(event.text, result.spans),
                source=message.source,
                metadata=event.metadata,
                cache_hit=result.cache_hit,
                processed_at=now,
            )
            try:
                serialized = output.model_dump_json().encode("utf-8")
            except Exception as exc:  # e.g. metadata nested deeper than the serializer allows
                error = InvalidMessage("invalid_event", f"output cannot be serialized: {exc}")
                outcomes[position] = Outcome(message=message, error=error)
                continue
            outcomes[position] = Outcome(
                message=message,
                doc_id=event.doc_id,
                output=serialized,
                segment_count=len(result.spans),
                cache_hit=result.cache_hit,
            )
