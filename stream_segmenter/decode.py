"""Turn the raw bytes of a Kafka message into a validated DocumentEvent, or say why not.

Every failure raises InvalidMessage with a kind and a human-readable reason; the caller
sends the original bytes to the dead-letter topic. Nothing here ever raises anything else
for any input bytes.
"""

from __future__ import annotations

import json
import re

from pydantic import ValidationError

from stream_segmenter.errors import InvalidMessage
from stream_segmenter.events import DocumentEvent

# A JSON escape of a UTF-16 surrogate: only then can json.loads produce a lone surrogate,
# which would later fail to encode as UTF-8 on the way out.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def decode_document(value: bytes | None, max_text_chars: int) -> DocumentEvent:
    """Validate one message value; raise InvalidMessage for anything that is not a document."""
    if value is None:
        raise InvalidMessage("tombstone", "message value is null (tombstone); expected a document")
    try:
        source = value.decode("utf-8").removeprefix("\ufeff")  # RFC 8259 lets us ignore a BOM
    except UnicodeDecodeError as exc:
        raise InvalidMessage("invalid_utf8", f"value is not valid UTF-8: {exc}") from None
    try:
        payload = _DECODER.decode(source)
    except (ValueError, RecursionError) as exc:  # ValueError: also ints over 4,300 digits
        raise InvalidMessage("invalid_json", f"value is not valid JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise InvalidMessage(
            "not_an_object", f"expected a JSON object, got {type(payload).__name__}"
        )
    try:
        event = DocumentEvent.model_validate(payload)
    except ValidationError as exc:
        raise InvalidMessage("invalid_event", _describe(exc)) from None
    except RecursionError:
        raise InvalidMessage("invalid_event", "metadata is nested too deeply") from None
    if _SURROGATE_ESCAPE.search(source):
        _reject_lone_surrogates(event)
    if not event.text.strip():
        raise InvalidMessage("empty_text", "text is empty or only whitespace")
    if len(event.text) > max_text_chars:
        raise InvalidMessage(
            "text_too_long",
            f"text has {len(event.text)} characters, above MAX_TEXT_CHARS={max_text_chars}",
        )
    return event


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


# One decoder for every message: json.loads(..., parse_constant=...) builds a new one each call.
_DECODER = json.JSONDecoder(parse_constant=_reject_constant)


def _reject_lone_surrogates(event: DocumentEvent) -> None:
    """Only the fields we pass on matter; an ignored field may hold anything."""
    try:
        json.dumps(
            [event.doc_id, event.text, event.lang, event.metadata], ensure_ascii=False
        ).encode()
    except UnicodeEncodeError:
        raise InvalidMessage(
            "invalid_event", "a string contains a lone UTF-16 surrogate escape"
        ) from None


def _describe(exc: ValidationError) -> str:
    """One line per field problem, e.g. "doc_id: Field required"."""
    parts = []
    for error in exc.errors():
        field = ".".join(str(part) for part in error["loc"]) or "event"
        parts.append(f"{field}: {error['msg']}")
    return "; ".join(parts)
