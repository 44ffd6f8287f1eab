from stream_segmenter.config import Settings, resolve_thresholds
from stream_segmenter.errors import ConfigError
from stream_segmenter.governor.probe import MemoryProbe, read_cgroup_limit_mb


def test_cgroup_v2_limit_and_no_limit(tmp_path):
    v2, v1 = tmp_path / "memory.max", tmp_path / "limit_in_bytes"
    v2.write_text("1073741824\n")
    assert read_cgroup_limit_mb(v2, v1) == 1024
    v2.write_text("max\n")
    assert read_cgroup_limit_mb(v2, v1) is None


def test_cgroup_v1_limit_and_its_no_limit_value(tmp_path):
    v2, v1 = tmp_path / "absent", tmp_path / "limit_in_bytes"
    v1.write_text(str(512 * 2**20))
    assert read_cgroup_limit_mb(v2, v1) == 512
    v1.write_text("9223372036854771712")
    assert read_cgroup_limit_mb(v2, v1) is None


def test_rss_is_this_process():
    rss = MemoryProbe().rss_mb()
    assert 10 < rss < 4096


def test_thresholds_as_shares_of_the_limit(monkeypatch):
    monkeypatch.setenv("MEMORY_THRESHOLD_MB", "60%")
    monkeypatch.setenv("HIGH_MEMORY_THRESHOLD_MB", "80%")
    assert resolve_thresholds(Settings(), 2000.0) == (1200.0, 1600.0, 2000.0, "cgroup")
    monkeypatch.setenv("MEMORY_LIMIT_MB", "1000")
    assert resolve_thresholds(Settings(), 2000.0) == (600.0, 800.0, 1000.0, "configured")


def test_a_share_without_any_limit_stops_start_up(monkeypatch):
    monkeypatch.setenv("HIGH_MEMORY_THRESHOLD_MB", "80%")
    try:
        resolve_thresholds(Settings(), None)
    except ConfigError as error:
        assert str(error).startswith("invalid configuration: HIGH_MEMORY_THRESHOLD_MB: 80% needs")
    else:
        raise AssertionError("expected ConfigError")


def test_megabytes_need_high_above_low(monkeypatch):
    monkeypatch.setenv("MEMORY_THRESHOLD_MB", "900")
    monkeypatch.setenv("HIGH_MEMORY_THRESHOLD_MB", "800")
    from stream_segmenter.config import load_settings

    try:
        load_settings()
    except ConfigError as error:
        assert "HIGH_MEMORY_THRESHOLD_MB" in str(error) and "\n" not in str(error)
    else:
        raise AssertionError("expected ConfigError")


def test_the_high_threshold_must_be_below_the_limit(monkeypatch):
    monkeypatch.setenv("MEMORY_LIMIT_MB", "512")
    try:
        resolve_thresholds(Settings(), None)  # defaults 1024 / 1536 MB
    except ConfigError as error:
        assert str(error).startswith(
            "invalid configuration: HIGH_MEMORY_THRESHOLD_MB: 1536 MB must be below the memory "
            "limit (512 MB, configured)"
        )
    else:
        raise AssertionError("expected ConfigError")


def test_a_zero_low_threshold_names_itself(monkeypatch):
    monkeypatch.setenv("MEMORY_THRESHOLD_MB", "0")
    try:
        resolve_thresholds(Settings(), None)
    except ConfigError as error:
        assert str(error) == "invalid configuration: MEMORY_THRESHOLD_MB: must be above 0 MB"
    else:
        raise AssertionError("expected ConfigError")
