"""`sentence_rules`: a spaCy pipeline component that sets sentence starts from rules.py.

Registered with spaCy's factory mechanism (and as a `spacy_factories` entry point, so a
pipeline saved with it loads wherever this package is installed). It sets `is_sent_start`
on every token, True or False, so `doc.sents` works as with spaCy's own sentencizer.
"""

from __future__ import annotations

import itertools

import numpy
from spacy.attrs import IDX, SENT_START
from spacy.language import Language
from spacy.tokens import Doc

from stream_segmenter.sentences.rules import LanguageRules, rules_for, sentence_starts

FACTORY = "sentence_rules"
_NOT_START = numpy.uint64(-1 & 0xFFFFFFFFFFFFFFFF)


class SentenceRules:
    """Sets sentence boundaries by the rules of a language (`lang`, default the pipeline's)."""

    def __init__(self, rules: LanguageRules) -> None:
        self.rules = rules

    def __call__(self, doc: Doc) -> Doc:
        if len(doc) == 0:
            return doc
        starts = sentence_starts(doc.text, self.rules)
        token_starts = doc.to_array([IDX])
        positions = numpy.searchsorted(token_starts, starts)
        inside = [s for s, p in zip(starts, positions, strict=True)
                  if p >= len(doc) or token_starts[p] != s]  # fmt: skip
        if inside:  # a start in the middle of a token ("晴れ。明日"): split the token there
            _split_tokens_at(doc, token_starts, inside)
            token_starts = doc.to_array([IDX])
            positions = numpy.searchsorted(token_starts, starts)
        values = numpy.full(len(doc), _NOT_START, dtype="uint64")
        values[0] = 1
        values[positions[positions < len(doc)]] = 1
        doc.from_array([SENT_START], values)
        return doc

    # Nothing to save: the rules live in the package's data files.
    def to_bytes(self, *, exclude: tuple[str, ...] = ()) -> bytes:
        return b""

    def from_bytes(self, data: bytes, *, exclude: tuple[str, ...] = ()) -> SentenceRules:
        return self

    def to_disk(self, path: object, *, exclude: tuple[str, ...] = ()) -> None:
        return None

    def from_disk(self, path: object, *, exclude: tuple[str, ...] = ()) -> SentenceRules:
        return self


def _split_tokens_at(doc: Doc, token_starts: numpy.ndarray, offsets: list[int]) -> None:
    """Split the tokens that contain `offsets` (ascending) there; each token looked up once."""
    cuts_by_token: dict[int, list[int]] = {}
    for offset, index in zip(offsets, numpy.searchsorted(token_starts, offsets, "right") - 1,
                             strict=True):  # fmt: skip
        token = doc[int(index)]
        if token.idx < offset < token.idx + len(token.text):
            cuts_by_token.setdefault(int(index), []).append(offset - token.idx)
    with doc.retokenize() as retokenizer:
        for index, cuts in cuts_by_token.items():
            token = doc[index]
            bounds = [0, *cuts, len(token.text)]
            orths = [token.text[a:b] for a, b in itertools.pairwise(bounds)]
            heads = [(token, 0)] * len(orths)
            retokenizer.split(token, orths, heads=heads)


@Language.factory(FACTORY, default_config={"lang": None})
def make_sentence_rules(nlp: Language, name: str, lang: str | None) -> SentenceRules:
    return SentenceRules(rules_for(lang or nlp.lang))
