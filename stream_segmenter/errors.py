"""Errors that the processor handles on purpose; anything else is a bug and surfaces."""

from __future__ import annotations

from typing import Literal

# Every reason a message can go to the dead-letter topic, as a closed set so that
# dashboards and alerts can rely on the header values.
ErrorKind = Literal[
    "tombstone",
    "invalid_utf8",
    "invalid_json",
    "not_an_object",
    "invalid_event",
    "empty_text",
    "text_too_long",
    "segmentation_failed",
    "processing_failed",
    "output_rejected",
]


class ConfigError(Exception):
    """A setting is missing or invalid; the message is one line naming the variable."""


class InvalidMessage(Exception):
    """A message that cannot be processed: it goes to the dead-letter topic, never retried."""

    def __init__(self, kind: ErrorKind, reason: str) -> None:
        super().__init__(f"{kind}: {reason}")
        self.kind: ErrorKind = kind
        self.reason = reason
