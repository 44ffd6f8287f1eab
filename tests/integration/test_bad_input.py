"""Every kind of bad input goes to the dead-letter topic, bytes unchanged; the rest flows."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys

import pytest

from stream_segmenter.corpus import read_events
from tests.integration.helpers import ProcessorProcess, produce_all, read_topics

pytestmark = pytest.mark.integration

MAX_TEXT_CHARS = 20_000

# (key, value, expected error kind)
BAD_INPUT: list[tuple[bytes, bytes | None, str]] = [
    (b"bad-utf8", b'{"doc_id": "bad-utf8", "text": "caf\xe9 \xff"}', "invalid_utf8"),
    (b"bad-json", b'{"doc_id": "bad-json", "text": "unterminated', "invalid_json"),
    (b"bad-array", b'["doc_id", "text"]', "not_an_object"),
    (b"bad-string", b'"just a string"', "not_an_object"),
    (b"bad-number", b"42", "not_an_object"),
    (b"no-doc-id", b'{"text": "A text without an id."}', "invalid_event"),
    (b"no-text", b'{"doc_id": "no-text"}', "invalid_event"),
    (b"int-doc-id", b'{"doc_id": 7, "text": "Typed wrongly."}', "invalid_event"),
    (b"list-text", b'{"doc_id": "list-text", "text": ["a", "b"]}', "invalid_event"),
    (b"bad-meta", b'{"doc_id": "bad-meta", "text": "Hi.", "metadata": "x"}', "invalid_event"),
    (b"bad-lang", b'{"doc_id": "bad-lang", "text": "Hi.", "lang": "English"}', "invalid_event"),
    (b"surrogate", b'{"doc_id": "surrogate", "text": "lone \\ud800 half."}', "invalid_event"),
    (b"empty", b'{"doc_id": "empty", "text": ""}', "empty_text"),
    (b"blank", b'{"doc_id": "blank", "text": " \\n\\t "}', "empty_text"),
    (
        b"too-long",
        json.dumps({"doc_id": "too-long", "text": "word " * (MAX_TEXT_CHARS // 5 + 1)}).encode(),
        "text_too_long",
    ),
    (b"tombstone", None, "tombstone"),
    (
        b"huge-int",
        b'{"doc_id": "huge-int", "text": "Hi.", "n": ' + b"7" * 5000 + b"}",
        "invalid_json",
    ),
    (b"nan", b'{"doc_id": "nan", "text": "Hi.", "metadata": {"x": NaN}}', "invalid_json"),
]
# Valid to the decoder, but the output cannot be built: found after segmentation.
DEEP = 300
BAD_AT_OUTPUT: list[tuple[bytes, bytes | None, str]] = [
    (
        b"deep-metadata",
        b'{"doc_id": "deep-metadata", "text": "Hi.", "metadata": '
        + b'{"a": ' * DEEP
        + b"1"
        + b"}" * DEEP
        + b"}",
        "invalid_event",
    ),
]


def test_bad_input_is_dead_lettered_and_good_input_flows(kafka_bootstrap, topics, ewt_test):
    good = list(read_events(ewt_test))[:80]
    bad = BAD_INPUT + BAD_AT_OUTPUT
    # Output keys are doc_ids whatever the input key: one good document keyless, one misnamed.
    rekeyed = [(None, good[0][1]), (b"not-its-doc-id", good[1][1])]
    stream: list[tuple[bytes | None, bytes | None]] = [
        *good[2:],
        *rekeyed,
        *[(k, v) for k, v, _ in bad],
    ]
    random.Random(7).shuffle(stream)
    produce_all(kafka_bootstrap, topics["INPUT_TOPIC"], stream)

    with ProcessorProcess(kafka_bootstrap, topics, MAX_TEXT_CHARS=str(MAX_TEXT_CHARS)) as processor:
        records = read_topics(
            kafka_bootstrap,
            [topics["OUTPUT_TOPIC"], topics["DLQ_TOPIC"]],
            done=lambda got: len(got) >= len(stream),
            timeout=180,
            settle=2,
        )
        # Still running after every kind of bad input, and still processing: one more
        # good document after them all comes out too.
        assert processor.running(), processor.output()
        late_key, late_value = (  # output key = the doc_id "late-…"
            b"late-" + good[0][0],
            good[0][1].replace(b'"doc_id": "', b'"doc_id": "late-'),
        )
        produce_all(kafka_bootstrap, topics["INPUT_TOPIC"], [(late_key, late_value)])
        late = read_topics(
            kafka_bootstrap, [topics["OUTPUT_TOPIC"]],
            done=lambda got: any(r.key == late_key for r in got), timeout=60,
        )  # fmt: skip
        assert any(r.key == late_key for r in late)
        assert processor.stop() == 0, processor.output()

    dead = [r for r in records if r.topic == topics["DLQ_TOPIC"]]
    outputs = [r for r in records if r.topic == topics["OUTPUT_TOPIC"]]
    assert len(dead) == len(bad)
    dead_by_key = {r.key: r for r in dead}
    for key, value, kind in bad:
        letter = dead_by_key[key]
        assert letter.value == value, key  # the original bytes, unchanged
        assert letter.headers["error.kind"].decode() == kind, key
        assert letter.headers["error.reason"], key
        assert letter.headers["source.topic"].decode() == topics["INPUT_TOPIC"]
        assert int(letter.headers["source.partition"]) in range(3)
        assert int(letter.headers["source.offset"]) >= 0
    assert sorted(json.loads(r.value)["doc_id"] for r in outputs) == sorted(
        json.loads(v)["doc_id"] for _, v in good
    )
    assert all(r.key == json.loads(r.value)["doc_id"].encode() for r in outputs)

    # The operator's view of the same dead letters.
    shown = subprocess.run(
        [sys.executable, "-m", "stream_segmenter", "tail", "dlq", "--from-beginning",
         "--max", str(len(bad)), "--idle-exit", "20"],
        env={**os.environ, **topics, "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap},
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    for key, _, kind in bad:
        assert f"{key.decode()}  {kind}: " in shown.stdout
