"""Publish a corpus to the input topic, with a progress bar."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

from confluent_kafka import KafkaError, Message, Producer
from tqdm import tqdm

from stream_segmenter.corpus import read_events

log = logging.getLogger(__name__)


def publish(
    producer: Producer,
    topic: str,
    events: Iterable[tuple[bytes | None, bytes | None]],
    total: int | None = None,
    show_progress: bool = True,
) -> int:
    """Send every (key, value); return how many were delivered. Raises if any failed."""
    failures: list[str] = []
    delivered = 0

    def on_delivery(error: KafkaError | None, _: Message) -> None:
        nonlocal delivered
        if error is None:
            delivered += 1
        else:
            failures.append(str(error))

    with tqdm(
        total=total, unit="doc", desc=f"publishing to {topic}", disable=not show_progress
    ) as bar:
        for key, value in events:
            while True:
                try:
                    producer.produce(topic, key=key, value=value, on_delivery=on_delivery)
                    break
                except BufferError:
                    producer.poll(0.1)
            producer.poll(0)
            bar.update(1)
        producer.flush(60)
    if failures or len(producer):
        raise RuntimeError(
            f"{len(failures) or len(producer)} documents not delivered: {failures[:3]}"
        )
    return delivered


TEXT_SUFFIXES = {".txt", ".text", ".md", ".rst"}


def _document_name(relative: Path) -> str:
    """The file's path in its folder, without a text suffix: GFDL-1.2 and GFDL-1.3 (or
    Apache-2.0) keep their version numbers, which with_suffix("") cut off."""
    name = str(relative)
    return name.removesuffix(relative.suffix) if relative.suffix.lower() in TEXT_SUFFIXES else name


def corpus_events(
    paths: Iterable[Path], lang: str | None, limit: int | None
) -> list[tuple[bytes, bytes]]:
    """All events of the given files and folders (read up front so the progress bar knows
    the total). A text file found in a folder is named by its path in that folder, so
    a.txt and sub/a.txt stay two documents; files that are not UTF-8 are skipped."""
    events: list[tuple[bytes, bytes]] = []
    for path in paths:
        if path.is_dir():
            files = [(p, _document_name(p.relative_to(path))) for p in sorted(path.rglob("*"))]
        else:
            files = [(path, None)]
        for file, name in files:
            if not file.is_file():
                continue
            try:
                events.extend(read_events(file, lang, name))
            except UnicodeDecodeError:
                log.warning("skipped %s: not UTF-8 text", file)
            if limit is not None and len(events) >= limit:
                return events[:limit]
    return events
