"""`stream-segmenter tail`: the output, telemetry or dead-letter topic in readable form."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from typing import Any

from confluent_kafka import Consumer

from stream_segmenter.kafka.dlq import header_dict

SEGMENT_PREVIEW_CHARS = 100


def format_output(value: bytes, **_: Any) -> str:
    event = json.loads(value)
    source = event["source"]
    head = (
        f"{event['doc_id']}  lang={event['lang']} model={event['model']['name']} "
        f"{len(event['segments'])} segments{' (cache hit)' if event['cache_hit'] else ''} "
        f"from {source['topic']}[{source['partition']}]@{source['offset']}"
    )
    lines = [head]
    for segment in event["segments"]:
        text = segment["text"].replace("\n", "⏎")
        if len(text) > SEGMENT_PREVIEW_CHARS:
            text = text[: SEGMENT_PREVIEW_CHARS - 1] + "…"
        lines.append(f"  [{segment['index']}] {segment['start']}:{segment['end']}  {text}")
    return "\n".join(lines)


def format_telemetry(value: bytes, **_: Any) -> str:
    event = json.loads(value)
    cache, partitions, latency = event["cache"], event["partitions"], event["latency_ms"]
    line = (
        f"{event['at'][11:19]} {event['instance_id']} {event['type']:<12} "
        f"state={event['state']} rss={event['rss_mb']:.0f}MB "
        f"(low {event['thresholds']['memory_mb']:.0f} / high "
        f"{event['thresholds']['high_memory_mb']:.0f}) "
        f"cache={cache['entries']}/{cache['max_entries']} hits={cache['hits']} "
        f"models={','.join(m['lang'] for m in event['models']) or '-'} "
        f"paused={len(partitions['paused'])}/{len(partitions['assigned'])} "
        f"docs={event['documents']} docs/s={event['docs_per_second']:.0f} "
        f"p99={latency['p99'] if latency['p99'] is not None else '-'}ms dlq={event['dead_letters']}"
    )
    if event.get("reason"):
        line += f"  — {event['reason']}"
    cleanup = event.get("cleanup")
    if cleanup:
        line += (
            f"\n    {cleanup['kind']} cleanup: {cleanup['rss_before_mb']:.0f} → "
            f"{cleanup['rss_after_mb']:.0f} MB ({cleanup['freed_mb']:+.0f} freed) in "
            f"{cleanup['duration_ms']:.0f} ms: {', '.join(cleanup['actions'])}"
        )
    if event.get("still_above_high"):
        line += "\n    still above the high threshold after cleanup: partitions stay paused"
    return line


def format_dead_letter(value: bytes | None, key: bytes | None = None, headers: Any = None) -> str:
    info = header_dict(headers)
    shown = (value or b"")[:SEGMENT_PREVIEW_CHARS]
    return (
        f"{(key or b'').decode('utf-8', 'replace')}  {info.get('error.kind')}: "
        f"{info.get('error.reason')}  from {info.get('source.topic')}"
        f"[{info.get('source.partition')}]@{info.get('source.offset')}\n    value: {shown!r}"
        f"{'…' if value and len(value) > SEGMENT_PREVIEW_CHARS else ''}"
    )


FORMATTERS: dict[str, Callable[..., str]] = {
    "output": format_output,
    "telemetry": format_telemetry,
    "dlq": format_dead_letter,
}


def tail(
    bootstrap_config: dict[str, object],
    topic: str,
    kind: str,
    from_beginning: bool,
    max_messages: int | None,
    raw: bool,
    idle_exit_seconds: float | None = None,
) -> int:
    """Print messages until interrupted, `max_messages`, or `idle_exit_seconds` of silence."""
    consumer = Consumer(
        {
            **bootstrap_config,
            "group.id": f"stream-segmenter-tail-{uuid.uuid4().hex[:8]}",
            "auto.offset.reset": "earliest" if from_beginning else "latest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    formatter = FORMATTERS[kind]
    shown = 0
    last_message = time.monotonic()
    try:
        while max_messages is None or shown < max_messages:
            message = consumer.poll(0.5)
            if message is None:
                if idle_exit_seconds and time.monotonic() - last_message > idle_exit_seconds:
                    break
                continue
            if message.error():
                continue
            last_message = time.monotonic()
            value = message.value()
            if raw:
                print((value or b"").decode("utf-8", "replace"), flush=True)
            else:
                try:
                    text = formatter(value, key=message.key(), headers=message.headers())
                except (ValueError, KeyError, TypeError) as exc:
                    text = f"(unreadable {kind} message at offset {message.offset()}: {exc})"
                print(text, flush=True)
            shown += 1
    except KeyboardInterrupt:
        pass
    finally:
        consumer.close()
    return shown
