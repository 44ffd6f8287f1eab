"""A small trained pipeline for the benchmarks: spaCy's `senter` (tok2vec + tagger-style
model) trained for a few epochs on UD English EWT dev, saved once under the cache.

No pretrained model can be downloaded here, and the benchmark needs a pipeline with real
weights to measure what reloading and memory zones cost for trained pipelines.
"""

from __future__ import annotations

import random
import time
from pathlib import Path

import spacy
from spacy.training import Example

from stream_segmenter.corpus import read_conllu

EPOCHS = 3


def gold_examples(nlp: spacy.Language, conllu: Path) -> list[Example]:
    examples = []
    for document in read_conllu(conllu):
        text = " ".join(document.sentences)
        starts, position = set(), 0
        for sentence in document.sentences:
            starts.add(text.index(sentence, position))
            position = text.index(sentence, position) + len(sentence)
        doc = nlp.make_doc(text)
        sent_starts = [1 if token.idx in starts else 0 for token in doc]
        sent_starts[0] = 1
        examples.append(Example.from_dict(doc, {"sent_starts": sent_starts}))
    return examples


def build_trained_pipeline(conllu: Path, directory: Path) -> Path:
    """Train (once) and save; return the directory to load with SPACY_PIPELINES."""
    if (directory / "config.cfg").exists():
        return directory
    started = time.perf_counter()
    nlp = spacy.blank("en")
    nlp.add_pipe("senter")
    examples = gold_examples(nlp, conllu)
    optimizer = nlp.initialize(lambda: examples)
    rng = random.Random(0)
    for epoch in range(EPOCHS):
        rng.shuffle(examples)
        losses: dict[str, float] = {}
        for start in range(0, len(examples), 16):
            nlp.update(examples[start : start + 16], sgd=optimizer, losses=losses)
        print(
            f"  trained senter epoch {epoch + 1}/{EPOCHS}: loss {losses['senter']:.1f}", flush=True
        )
    nlp.meta["name"] = "senter_ewt_bench"
    nlp.meta["version"] = "0.1.0"
    directory.parent.mkdir(parents=True, exist_ok=True)
    nlp.to_disk(directory)
    print(f"  saved {directory} in {time.perf_counter() - started:.0f}s", flush=True)
    return directory
