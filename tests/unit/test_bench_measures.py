"""The benchmark's own measures: the steady window and the cores used in it."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import psutil
import pytest

from benchmarks.kafka_runs import RssSampler, cpu_seconds, steady_rate, steady_window


def test_the_steady_window_leaves_out_the_first_and_last_tenth():
    stamps = [1_000 + 10 * n for n in range(100)]  # one output every 10 ms
    assert steady_window(stamps) == (1_100, 1_900)
    assert steady_rate(stamps) == pytest.approx(100.0)  # 80 outputs in 0.8 s


def test_cores_are_cpu_seconds_over_wall_seconds_inside_the_window():
    sampler = RssSampler(os.getpid())
    sampler.cpu = [(100.0, 5.0, 1.0), (101.0, 6.0, 1.1), (102.0, 7.5, 1.2), (104.0, 9.0, 1.4)]
    assert sampler.cores(101.0, 104.0) == pytest.approx((1.0, 0.1))
    assert sampler.cores(101.5, 102.5) is None  # a single sample says nothing


def test_cpu_seconds_counts_what_a_worker_burned():
    burn = "import time\nend = time.process_time() + 1.0\nwhile time.process_time() < end: pass"
    child = subprocess.Popen([sys.executable, "-c", burn + "\ntime.sleep(30)"])
    try:
        process = psutil.Process(child.pid)
        while cpu_seconds([process]) < 1.0 and child.poll() is None:
            time.sleep(0.2)
        assert 1.0 <= cpu_seconds([process]) < 1.5
    finally:
        child.kill()
        child.wait()
