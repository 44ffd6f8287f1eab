from __future__ import annotations

import json

import pytest

from stream_segmenter.decode import decode_document
from stream_segmenter.errors import InvalidMessage
from tests.integration.test_bad_input import BAD_INPUT, MAX_TEXT_CHARS


@pytest.mark.parametrize(
    ("key", "value", "kind"), BAD_INPUT, ids=[k.decode() for k, _, _ in BAD_INPUT]
)
def test_each_kind_of_bad_input_is_named(key, value, kind):
    with pytest.raises(InvalidMessage) as caught:
        decode_document(value, MAX_TEXT_CHARS)
    assert caught.value.kind == kind
    assert caught.value.reason


def test_a_good_document_keeps_its_fields():
    value = json.dumps(
        {"doc_id": "d1", "text": "Grüße. Zwei.", "lang": "de", "metadata": {"a": [1]}, "x": 1}
    ).encode()
    event = decode_document(value, 100)
    assert (event.doc_id, event.text, event.lang, event.metadata) == (
        "d1", "Grüße. Zwei.", "de", {"a": [1]},
    )  # fmt: skip


def test_text_at_the_limit_passes_and_one_more_character_does_not():
    at_limit = json.dumps({"doc_id": "d", "text": "a" * 10}).encode()
    assert decode_document(at_limit, 10).text == "a" * 10
    with pytest.raises(InvalidMessage, match="11 characters"):
        decode_document(json.dumps({"doc_id": "d", "text": "a" * 11}).encode(), 10)


def test_a_valid_surrogate_pair_escape_is_fine():
    event = decode_document(b'{"doc_id": "e", "text": "smile \\ud83d\\ude00."}', 100)
    assert event.text == "smile \U0001f600."


def test_deeply_nested_json_is_invalid_not_a_crash():
    with pytest.raises(InvalidMessage) as caught:
        decode_document(b"[" * 100_000 + b"]" * 100_000, 100)
    assert caught.value.kind == "invalid_json"


def test_a_lone_surrogate_in_an_ignored_field_does_not_matter():
    event = decode_document(b'{"doc_id": "x", "text": "Fine.", "note": "\\ud800"}', 100)
    assert event.text == "Fine."


def test_metadata_too_deep_to_serialize_is_a_dead_letter_not_a_crash():
    from stream_segmenter.app import build_document_processor
    from stream_segmenter.config import Settings
    from stream_segmenter.events import SourceRef
    from stream_segmenter.process import RawMessage
    from tests.integration.test_bad_input import BAD_AT_OUTPUT

    [(key, value, kind)] = BAD_AT_OUTPUT
    good = json.dumps({"doc_id": "ok", "text": "Fine. Really."}).encode()
    source = SourceRef(topic="t", partition=0, offset=0)
    outcomes = build_document_processor(Settings()).process(
        [RawMessage(key, value, source), RawMessage(b"ok", good, source)]
    )
    assert outcomes[0].error is not None and outcomes[0].error.kind == kind
    assert outcomes[1].error is None and outcomes[1].segment_count == 2
