"""Publish a corpus to the input topic, with a progress bar."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from confluent_kafka import KafkaError, Message, Producer
from tqdm import tqdm

from stream_segmenter.corpus import read_events


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


def corpus_events(
    paths: Iterable[Path], lang: str | None, limit: int | None
) -> list[tuple[bytes, bytes]]:
    """All events of the given files (read up front so the progress bar knows the total)."""
    events: list[tuple[bytes, bytes]] = []
    for path in paths:
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for file in files:
            events.extend(read_events(file, lang))
            if limit is not None and len(events) >= limit:
                return events[:limit]
    return events
