"""JSON Schemas of the events, generated from the pydantic models into schemas/."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel

from stream_segmenter.events import DocumentEvent, SegmentedDocument
from stream_segmenter.telemetry import TelemetryEvent

SCHEMAS: dict[str, type[BaseModel]] = {
    "document.schema.json": DocumentEvent,
    "segmented-document.schema.json": SegmentedDocument,
    "telemetry.schema.json": TelemetryEvent,
}


def render(model: type[BaseModel]) -> str:
    schema = model.model_json_schema(mode="serialization")
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def write(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, model in SCHEMAS.items():
        path = directory / name
        path.write_text(render(model))
        written.append(path)
    return written


def drifted(directory: Path) -> list[str]:
    """Names of schema files that differ from what the models generate now."""
    return [
        name
        for name, model in SCHEMAS.items()
        if not (directory / name).exists() or (directory / name).read_text() != render(model)
    ]
