"""Sentence segmentation of our own: rules plus per-language data, as a spaCy component."""

from stream_segmenter.sentences.component import FACTORY, SentenceRules

__all__ = ["FACTORY", "SentenceRules"]
