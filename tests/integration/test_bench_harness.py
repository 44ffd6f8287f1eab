"""The benchmark harness runs end to end (tiny sizes; no figure is judged here)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import REPO_ROOT, SHARED_DATA, require

pytestmark = pytest.mark.integration


def test_smoke_run_writes_the_report_and_its_plots(kafka_bootstrap, tmp_path):
    require(SHARED_DATA / "ud")
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--smoke", "--out", str(tmp_path),
         "--bootstrap", kafka_bootstrap, "--data", str(SHARED_DATA)],
        cwd=REPO_ROOT, env={**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")},
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    report = (tmp_path / "BENCHMARKS.md").read_text()
    for row in ("| 2 | through the broker, 1 worker", "| 3 | through the broker, 2 workers",
                "| 4 | latency at", "send → input appended", "lead-in", "RSS growth after warm-up",
                "naive baseline", "## Where the cores went", "| round 1, 2 workers |"):  # fmt: skip
        assert row in report
    for plot in ("bench-memory.png", "bench-throughput.png", "bench-latency.png"):
        assert (tmp_path / plot).read_bytes().startswith(b"\x89PNG")


def test_a_processor_that_dies_ends_the_run_with_its_exit_code(kafka_bootstrap):
    """The harness must not wait out its timeout for outputs that can no longer come."""
    from benchmarks.kafka_runs import throughput_run

    events = [(f"d{n}".encode(), b'{"doc_id": "d%d", "text": "Hi."}' % n) for n in range(20)]
    with pytest.raises(RuntimeError, match=r"dead: the processor exited with 2 after 0 of 20"):
        throughput_run(
            kafka_bootstrap, "dead", events, ["stream_segmenter", "run"],
            {"MEMORY_THRESHOLD_MB": "lots"}, timeout=120,
        )  # fmt: skip
