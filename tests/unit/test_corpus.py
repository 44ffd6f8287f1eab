from __future__ import annotations

import json

from stream_segmenter.corpus import read_conllu, read_events


def test_ewt_test_rebuilds_its_316_documents_and_2077_sentences(ewt_test):
    documents = list(read_conllu(ewt_test))
    assert len(documents) == 316
    assert sum(len(d.sentences) for d in documents) == 2077
    assert len({d.doc_id for d in documents}) == 316
    for document in documents:
        position = 0
        for sentence in document.sentences:  # every sentence in order, verbatim
            position = document.text.index(sentence, position) + len(sentence)


def test_paragraphs_are_joined_by_a_blank_line(tmp_path):
    conllu = tmp_path / "tiny.conllu"
    conllu.write_text(
        "# newdoc id = d1\n# newpar\n# text = One.\n1\tOne\n\n# text = Two.\n1\tTwo\n\n"
        "# newpar\n# text = Three.\n1\tThree\n\n"
        "# newdoc id = d2\n# text = Four.\n1\tFour\n\n"
    )
    documents = list(read_conllu(conllu))
    assert [(d.doc_id, d.text) for d in documents] == [
        ("d1", "One. Two.\n\nThree."),
        ("d2", "Four."),
    ]


def test_events_from_text_and_jsonl(tmp_path):
    text_file = tmp_path / "story.txt"
    text_file.write_text("Hello there. Bye.")
    [(key, value)] = read_events(text_file, lang="en")
    assert key == b"story"
    assert json.loads(value) == {"doc_id": "story", "text": "Hello there. Bye.", "lang": "en"}
    jsonl = tmp_path / "events.jsonl"
    jsonl.write_bytes(b'{"doc_id": "a", "text": "x"}\n\nnot json\n')
    assert list(read_events(jsonl)) == [
        (b"a", b'{"doc_id": "a", "text": "x"}'),
        (b"events.jsonl:3", b"not json"),
    ]
