"""The naive baseline, in the same harness: consume, `nlp(text)` per message, an unbounded
dict as a cache, no memory zone, publish, commit. What this product exists to replace.

    python -m benchmarks.naive_consumer   (same environment variables as `run`)
"""

from __future__ import annotations

import json
import os
import signal

from confluent_kafka import Consumer, Producer

from stream_segmenter.models.loader import load_pipeline


def main() -> None:
    bootstrap = os.environ["KAFKA_BOOTSTRAP_SERVERS"]
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": os.environ["GROUP_ID"],
                         "auto.offset.reset": "earliest", "enable.auto.commit": True})  # fmt: skip
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    consumer.subscribe([os.environ["INPUT_TOPIC"]])
    nlp = load_pipeline("en", None).nlp  # the same pipeline as ours, run the plain way
    cache: dict[str, list[tuple[int, int]]] = {}
    running = True

    def stop(*_: object) -> None:
        nonlocal running
        running = False

    signal.signal(signal.SIGTERM, stop)
    while running:
        message = consumer.poll(0.5)
        if message is None or message.error():
            continue
        event = json.loads(message.value())
        text = event["text"]
        if text not in cache:
            cache[text] = [(s.start_char, s.end_char) for s in nlp(text).sents]
        segments = [{"start": a, "end": b, "text": text[a:b]} for a, b in cache[text]]
        output = {
            "doc_id": event["doc_id"],
            "segments": segments,
            "metadata": event.get("metadata"),
        }
        producer.produce(os.environ["OUTPUT_TOPIC"], key=message.key(), value=json.dumps(output))
        producer.poll(0)
    producer.flush(30)
    consumer.close()


if __name__ == "__main__":
    main()
