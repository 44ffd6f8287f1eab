"""Read corpora into document events: JSONL events, plain-text files, CoNLL-U treebanks.

CoNLL-U documents are rebuilt from `# text =` sentences: sentences of a paragraph
joined by a space, paragraphs by a blank line, a new document at each `# newdoc`
(the whole file is one document when it has none), as ../shared/data/README.md says.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class GoldDocument:
    """A rebuilt document with its gold sentences, in order."""

    doc_id: str
    text: str
    sentences: list[str]


def read_conllu(path: Path) -> Iterator[GoldDocument]:
    """Documents of a CoNLL-U file; paragraphs joined by "\\n\\n", sentences by " "."""
    doc_id: str | None = None
    paragraphs: list[list[str]] = []
    count = 0

    def finish() -> GoldDocument | None:
        nonlocal count
        sentences = [s for paragraph in paragraphs for s in paragraph]
        if not sentences:
            return None
        count += 1
        text = "\n\n".join(" ".join(p) for p in paragraphs if p)
        return GoldDocument(doc_id or f"{path.stem}-{count}", text, sentences)

    with path.open(encoding="utf-8") as lines:
        for line in lines:
            if line.startswith("# newdoc"):
                if (document := finish()) is not None:
                    yield document
                paragraphs = []
                _, _, value = line.partition("=")
                doc_id = value.strip() or None
            elif line.startswith("# newpar"):
                paragraphs.append([])
            elif line.startswith("# text ="):
                sentence = line.split("=", 1)[1].strip()
                if not paragraphs:
                    paragraphs.append([])
                if sentence:
                    paragraphs[-1].append(sentence)
    if (document := finish()) is not None:
        yield document


def read_events(
    path: Path, lang: str | None = None, name: str | None = None
) -> Iterator[tuple[bytes, bytes]]:
    """(key, value) pairs to publish for a file: .jsonl/.json as is, .conllu, or plain text
    (one document, doc_id = `name` or the file's stem). Raises UnicodeDecodeError for a
    text file that is not UTF-8."""
    suffix = path.suffix.lower()
    if suffix in {".jsonl", ".json", ".ndjson"}:
        yield from _read_jsonl(path)
        return
    if suffix == ".conllu":
        for document in read_conllu(path):
            yield _event(document.doc_id, document.text, lang)
        return
    yield _event(name or path.stem, path.read_text(encoding="utf-8"), lang)


def _read_jsonl(path: Path) -> Iterator[tuple[bytes, bytes]]:
    with path.open("rb") as lines:
        for number, line in enumerate(lines, start=1):
            line = line.rstrip(b"\r\n")
            if not line.strip():
                continue
            try:
                key = str(json.loads(line)["doc_id"]).encode()
            except (ValueError, KeyError, TypeError, RecursionError):
                key = f"{path.name}:{number}".encode()  # published as is: the DLQ will say why
            yield key, line


def _event(doc_id: str, text: str, lang: str | None) -> tuple[bytes, bytes]:
    event: dict[str, str] = {"doc_id": doc_id, "text": text}
    if lang:
        event["lang"] = lang
    return doc_id.encode(), json.dumps(event, ensure_ascii=False).encode()
