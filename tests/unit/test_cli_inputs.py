"""`segment` and `produce` on awkward inputs: BOMs, binary data, missing files, folders."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from stream_segmenter.publish import corpus_events


def segment(*args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "stream_segmenter", "segment", *args],
        input=stdin, capture_output=True, timeout=120,
    )  # fmt: skip


def test_jsonl_with_a_byte_order_mark_is_still_jsonl():
    result = segment(stdin=b'\xef\xbb\xbf{"doc_id": "a", "text": "One. Two."}\n')
    assert result.returncode == 0
    [output] = [json.loads(line) for line in result.stdout.splitlines()]
    assert output["doc_id"] == "a" and len(output["segments"]) == 2


def test_binary_input_is_rejected_as_a_report_not_a_traceback():
    result = segment(stdin=bytes(range(256)))
    assert result.returncode == 1 and result.stdout == b""
    [report] = [json.loads(line) for line in result.stderr.splitlines() if line.startswith(b"{")]
    assert report["error"] == "invalid_utf8"
    assert b"Traceback" not in result.stderr


def test_a_missing_file_or_a_folder_is_one_line_and_exit_2(tmp_path: Path):
    for path, reason in ((tmp_path / "nope.txt", "No such file"), (tmp_path, "Is a directory")):
        result = segment(str(path))
        assert result.returncode == 2
        assert (
            result.stderr.decode().strip()
            == f"stream-segmenter: cannot read {path}: {reason}"
            + (" or directory" if reason == "No such file" else "")
        )


def test_produce_names_folder_files_by_their_path_and_skips_binary(tmp_path: Path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.txt").write_text("Top level.")
    (tmp_path / "sub" / "a.txt").write_text("In a folder.")
    (tmp_path / "image.png").write_bytes(bytes(range(256)))
    events = corpus_events([tmp_path], lang=None, limit=None)
    assert sorted(key for key, _ in events) == [b"a", b"sub/a"]
