"""Benchmark input made of real text: UD English EWT documents, and a stream of unique
documents built from EWT sentences, the worst case for caches and vocabularies."""

from __future__ import annotations

import json
import random
import string
from collections.abc import Iterator
from pathlib import Path

from stream_segmenter.corpus import read_conllu

EWT = Path("ud/UD_English-EWT")
# Words per document given a few new letters, like the names, typos and ids of real text.
NOVEL_WORDS_PER_DOCUMENT = 4


def ewt_documents(data: Path) -> list[str]:
    return [d.text for d in read_conllu(data / EWT / "en_ewt-ud-test.conllu")]


def english_sentences(data: Path) -> list[str]:
    sentences = []
    for name in ("en_ewt-ud-test.conllu", "en_ewt-ud-dev.conllu"):
        for document in read_conllu(data / EWT / name):
            sentences.extend(document.sentences)
    return sentences


def unique_documents(sentences: list[str], count: int, seed: int) -> Iterator[str]:
    """3-8 random real sentences a document, a few words made new, and a unique ticket id:
    no two documents are alike, and the vocabulary keeps growing as it does in real streams."""
    rng = random.Random(seed)
    letters = string.ascii_lowercase
    for number in range(count):
        words = " ".join(rng.choice(sentences) for _ in range(rng.randint(3, 8))).split(" ")
        for _ in range(NOVEL_WORDS_PER_DOCUMENT):
            position = rng.randrange(len(words))
            if words[position].isalpha():
                words[position] += "".join(rng.choices(letters, k=3))
        yield " ".join(words) + f" Ticket {seed}-{number:07d}-{rng.getrandbits(24):06x}."


def as_events(texts: list[str], prefix: str, stamp: bool = False) -> list[tuple[bytes, bytes]]:
    """(key, value) document events; `stamp` leaves room for a send time in metadata."""
    events = []
    for number, text in enumerate(texts):
        doc_id = f"{prefix}-{number}"
        event: dict[str, object] = {"doc_id": doc_id, "text": text}
        if stamp:
            event["metadata"] = {"sent_ms": 0}
        events.append((doc_id.encode(), json.dumps(event).encode()))
    return events
