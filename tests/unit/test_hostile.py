"""Hostile input through the decoder and the segmenter: never an exception out, every bad
payload named, every good one segmented with offsets that slice the text exactly."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stream_segmenter.app import build_document_processor
from stream_segmenter.config import Settings
from stream_segmenter.decode import decode_document
from stream_segmenter.errors import InvalidMessage
from stream_segmenter.events import SourceRef
from stream_segmenter.process import DocumentProcessor, Outcome, RawMessage
from stream_segmenter.segment import LONG_RUN_CHARS, tokenizable
from tests.hostile import OK, nasty_corpus

PROCESSOR: DocumentProcessor = build_document_processor(Settings())
SOURCE = SourceRef(topic="t", partition=0, offset=0)


def process_one(value: bytes | None) -> Outcome:
    [outcome] = PROCESSOR.process([RawMessage(b"k", value, SOURCE)])
    return outcome


def assert_exact(outcome: Outcome) -> None:
    assert outcome.output is not None
    event = json.loads(outcome.output)
    text = json.loads(outcome.message.value.decode("utf-8-sig"))["text"]
    previous = 0
    for index, segment in enumerate(event["segments"]):
        assert segment["index"] == index
        assert text[segment["start"] : segment["end"]] == segment["text"]
        assert segment["text"] and segment["text"] == segment["text"].strip()
        assert segment["start"] >= previous
        previous = segment["end"]
    covered = "".join(s["text"] for s in event["segments"])
    assert "".join(covered.split()) == "".join(text.split())  # only whitespace left out


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    nasty_corpus(),
    ids=[key.decode() for key, _, _ in nasty_corpus()],
)
def test_the_nasty_corpus(key, value, expected):
    outcome = process_one(value)
    if expected == OK:
        assert outcome.error is None, outcome.error
        assert_exact(outcome)
    else:
        assert outcome.error is not None and outcome.error.kind == expected
        assert outcome.error.reason


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300))
def test_any_bytes_either_decode_or_are_named(value):
    try:
        decode_document(value, 1000)
    except InvalidMessage as error:
        assert error.kind and error.reason


TEXT = st.text(
    alphabet=st.characters(codec="utf-8", categories=["L", "M", "N", "P", "S", "Z", "Cc", "Cf"]),
    max_size=400,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    text=TEXT,
    doc_id=st.text(min_size=1, max_size=20),
    lang=st.sampled_from(["en", "de", "tr", "zz", None]),
)
def test_any_text_is_segmented_exactly_or_named(text, doc_id, lang):
    event = {"doc_id": doc_id, "text": text, **({"lang": lang} if lang else {})}
    outcome = process_one(json.dumps(event).encode())
    if text.strip():
        assert outcome.error is None, outcome.error
        assert_exact(outcome)
    else:
        assert outcome.error is not None and outcome.error.kind == "empty_text"


@settings(max_examples=100, deadline=None)
@given(st.text(min_size=LONG_RUN_CHARS, max_size=3 * LONG_RUN_CHARS, alphabet="😀!?.a中。-/"))
def test_long_runs_are_tokenized_in_chunks_with_the_same_text(run):
    nlp = PROCESSOR.segmenter.pool.get("en").nlp
    doc = tokenizable(nlp, f"Before. {run} After.")
    assert not isinstance(doc, str) and doc.text == f"Before. {run} After."
    assert tokenizable(nlp, "Short words only. Fine.") == "Short words only. Fine."


def test_a_long_url_is_never_cut():
    url = "http://www.example.com/search?" + "&".join(f"k{i}=v{i}" for i in range(60))
    text = f"See {url} for details. Then stop."
    nlp = PROCESSOR.segmenter.pool.get("en").nlp
    assert len(url) > LONG_RUN_CHARS and tokenizable(nlp, text) == text
    outcome = process_one(json.dumps({"doc_id": "u", "text": text}).encode())
    assert [s["text"] for s in json.loads(outcome.output)["segments"]] == [
        f"See {url} for details.",
        "Then stop.",
    ]
