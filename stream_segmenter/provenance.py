"""Where a measurement was taken: the machine and the commit, for the reports in docs/."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path

import psutil


def machine() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    lines = cpuinfo.read_text().splitlines() if cpuinfo.exists() else []
    cpu = next(
        (line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")),
        platform.processor(),
    )
    memory = psutil.virtual_memory().total / 2**30
    system = f"{platform.system()} {platform.release()}"
    return f"{os.cpu_count()} cores ({cpu}), {memory:.0f} GiB, {system}"


def commit() -> str:
    """HEAD, with "+ uncommitted changes" when the code measured differs from it (a report
    is usually written before the commit that adds it)."""
    try:
        head = _git("rev-parse", "--short", "HEAD")
        changed = _git("status", "--porcelain", "--", "stream_segmenter", "benchmarks")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{head} + uncommitted changes" if changed else head


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], capture_output=True, text=True, check=True).stdout.strip()
