"""Dead letters: the original key, value and headers, plus headers that say why and whence."""

from __future__ import annotations

from stream_segmenter.errors import InvalidMessage
from stream_segmenter.events import SourceRef

MAX_REASON_BYTES = 2000


def dead_letter_headers(
    error: InvalidMessage, source: SourceRef, original: list[tuple[str, bytes]]
) -> list[tuple[str, bytes]]:
    reason = error.reason.encode("utf-8", "backslashreplace")[:MAX_REASON_BYTES]
    return [
        *original,
        ("error.kind", error.kind.encode()),
        ("error.reason", reason),
        ("source.topic", source.topic.encode()),
        ("source.partition", str(source.partition).encode()),
        ("source.offset", str(source.offset).encode()),
    ]


def header_dict(headers: list[tuple[str, bytes | None]] | None) -> dict[str, str]:
    """Headers as text, for readers of the dead-letter topic (last value of a name wins)."""
    return {name: (value or b"").decode("utf-8", "replace") for name, value in (headers or [])}
