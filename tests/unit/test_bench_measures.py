"""The benchmark's own measures: the steady window and the cores used in it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import astuple

import psutil
import pytest

from benchmarks.kafka_runs import (
    CoreUse,
    CpuSample,
    RssSampler,
    cpu_seconds,
    steady_rate,
    steady_window,
)


def test_the_steady_window_leaves_out_the_first_and_last_tenth():
    stamps = [1_000 + 10 * n for n in range(100)]  # one output every 10 ms
    assert steady_window(stamps) == (1_100, 1_900)
    assert steady_rate(stamps) == pytest.approx(100.0)  # 80 outputs in 0.8 s


def sampler_with(*samples: CpuSample) -> RssSampler:
    sampler = RssSampler(os.getpid(), "127.0.0.1:1")  # no broker listens there
    sampler.cpu = list(samples)
    return sampler


PIDS = frozenset({1, 2})


def test_cores_are_cpu_seconds_over_wall_seconds_inside_the_window():
    sampler = sampler_with(
        CpuSample(100.0, PIDS, 5.0, 1.0, 10.0, 50.0),
        CpuSample(101.0, PIDS, 6.0, 1.1, 11.5, 50.5),
        CpuSample(102.0, PIDS, 7.5, 1.2, 13.0, 51.0),
        CpuSample(104.0, PIDS, 9.0, 1.4, 16.0, 52.0),
    )
    use = sampler.cores(101.0, 104.0)
    assert isinstance(use, CoreUse)
    assert astuple(use) == pytest.approx((1.0, 0.1, 0.4, 0.5))  # processor, broker, other, idle
    assert sampler.cores(101.5, 102.5) is None  # a single sample says nothing


def test_no_figure_where_the_samples_cannot_tell():
    """From the review: a broker or worker gone mid-window gave -25 cores, and samples
    that stopped early averaged over 2 s of a 10 s window without a word."""
    gone_broker = sampler_with(
        CpuSample(100.0, PIDS, 5.0, 30.0, 10.0, 50.0), CpuSample(104.0, PIDS, 9.0, None, 16.0, 52.0)
    )
    assert gone_broker.cores(100.0, 104.0).broker is None
    worker_left = sampler_with(
        CpuSample(100.0, PIDS, 5.0, 1.0, 10.0, 50.0),
        CpuSample(104.0, frozenset({1}), 2.0, 1.4, 16.0, 52.0),
    )
    assert worker_left.cores(100.0, 104.0) is None
    stopped_early = sampler_with(
        CpuSample(100.0, PIDS, 5.0, 1.0, 10.0, 50.0), CpuSample(102.0, PIDS, 7.0, 1.2, 13.0, 51.0)
    )
    assert stopped_early.cores(100.0, 110.0) is None


def test_cpu_seconds_counts_what_a_worker_burned():
    burn = "import time\nend = time.process_time() + 1.0\nwhile time.process_time() < end: pass"
    child = subprocess.Popen([sys.executable, "-c", burn + "\ntime.sleep(30)"])
    try:
        process = psutil.Process(child.pid)
        while (cpu_seconds([process]) or 0) < 1.0 and child.poll() is None:
            time.sleep(0.2)
        assert 1.0 <= cpu_seconds([process]) < 1.5
    finally:
        child.kill()
        child.wait()
    assert cpu_seconds([process]) is None  # gone: no figure rather than a wrong one


def test_a_broker_elsewhere_is_not_taken_for_a_local_one():
    """Found in review: a remote bootstrap on the same port as a local broker was taken
    for the local broker, whose CPU then stood in the report as the remote one's."""
    from benchmarks.kafka_runs import is_this_machine, local_broker

    assert is_this_machine("localhost") and is_this_machine("127.0.0.1")
    assert not is_this_machine("remote.example") and not is_this_machine("192.0.2.1")
    assert local_broker("remote.example:9092") is None
