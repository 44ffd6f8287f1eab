"""Where memory stands: this process's RSS and the container's limit, if one is set."""

from __future__ import annotations

from pathlib import Path

import psutil

MB = 2**20
# cgroup v1 reports "no limit" as a huge number near 2**63.
_NO_LIMIT = 2**60

CGROUP_V2_MAX = Path("/sys/fs/cgroup/memory.max")
CGROUP_V1_LIMIT = Path("/sys/fs/cgroup/memory/memory.limit_in_bytes")


class MemoryProbe:
    """Reads RSS with psutil; reads the cgroup limit once (it does not change at run time)."""

    def __init__(self, cgroup_v2: Path = CGROUP_V2_MAX, cgroup_v1: Path = CGROUP_V1_LIMIT) -> None:
        self._process = psutil.Process()
        self.cgroup_limit_mb = read_cgroup_limit_mb(cgroup_v2, cgroup_v1)

    def rss_mb(self) -> float:
        return self._process.memory_info().rss / MB


def read_cgroup_limit_mb(cgroup_v2: Path, cgroup_v1: Path) -> float | None:
    """The memory limit from cgroup v2 (`memory.max`) or v1; None where none is set."""
    for path in (cgroup_v2, cgroup_v1):
        try:
            raw = path.read_text().strip()
        except OSError:
            continue
        if raw == "max":
            return None
        try:
            limit = int(raw)
        except ValueError:
            continue
        return limit / MB if 0 < limit < _NO_LIMIT else None
    return None
