from stream_segmenter import schemas
from tests.conftest import REPO_ROOT


def test_committed_schemas_match_the_models():
    assert schemas.drifted(REPO_ROOT / "schemas") == [], "run `stream-segmenter schemas`"


def test_drift_is_detected(tmp_path):
    schemas.write(tmp_path)
    (tmp_path / "document.schema.json").write_text("{}")
    assert schemas.drifted(tmp_path) == ["document.schema.json"]
