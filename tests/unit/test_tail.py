from __future__ import annotations

import json

from stream_segmenter.app import build_document_processor
from stream_segmenter.config import Settings
from stream_segmenter.errors import InvalidMessage
from stream_segmenter.events import SourceRef
from stream_segmenter.kafka.dlq import dead_letter_headers
from stream_segmenter.process import RawMessage
from stream_segmenter.tail import format_dead_letter, format_output, format_telemetry
from tests.unit.test_supervisor import ScriptedMemory, make_supervisor


def test_output_shows_each_segment_with_its_offsets():
    processor = build_document_processor(Settings())
    value = json.dumps({"doc_id": "d1", "text": "First one.\nSecond one!"}).encode()
    [outcome] = processor.process(
        [RawMessage(b"d1", value, SourceRef(topic="in", partition=2, offset=7))]
    )
    assert format_output(outcome.output).splitlines() == [
        "d1  lang=en model=blank_en 2 segments from in[2]@7",
        "  [0] 0:10  First one.",
        "  [1] 11:22  Second one!",
    ]


def test_telemetry_cleanup_line_says_what_was_freed():
    supervisor, _, producer, _, _ = make_supervisor(ScriptedMemory(250, 250, 90))
    supervisor.tick()
    lines = [format_telemetry(json.dumps(e).encode()) for e in producer.events]
    assert "state_change state=critical rss=250MB (low 100 / high 200)" in lines[0]
    assert "paused=2/2" in lines[0]
    assert "aggressive cleanup: 250 → 90 MB (+160 freed)" in lines[1]
    assert "state=normal" in lines[2] and "paused=0/2" in lines[2]


def test_dead_letter_shows_kind_reason_and_source():
    error = InvalidMessage("invalid_json", "value is not valid JSON")
    headers = dead_letter_headers(error, SourceRef(topic="in", partition=0, offset=3), [])
    assert format_dead_letter(b"{oops", key=b"k1", headers=headers) == (
        "k1  invalid_json: value is not valid JSON  from in[0]@3\n    value: b'{oops'"
    )
