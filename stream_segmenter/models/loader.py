"""Build one spaCy pipeline for a language, from a configured package/path or a blank one.

Nothing here downloads anything: a configured pipeline must be installed or on disk,
and the default is `spacy.blank(lang)` plus our rule-based `sentence_rules` component
(stream_segmenter/sentences), which segments better than spaCy's `sentencizer`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import spacy
from spacy.language import Language

from stream_segmenter.errors import ConfigError
from stream_segmenter.events import ModelInfo
from stream_segmenter.sentences import FACTORY as SENTENCE_RULES
from stream_segmenter.sentences import SentenceRules
from stream_segmenter.sentences.rules import LanguageRules

# Any of these factories sets sentence boundaries; without one we add ours.
SENTENCE_FACTORIES = (SENTENCE_RULES, "sentencizer", "senter", "parser", "beam_parser")
# spaCy's language-neutral blank pipeline, used for codes spaCy has no class for.
FALLBACK_LANG = "xx"


@dataclass
class LoadedPipeline:
    """A pipeline together with what it is called in output events and cache keys.

    `warmup_chars_left`: how much more text it may process outside a memory zone (see
    segment.py); set by the pool when it loads the pipeline.
    `text_rules`: set when the pipeline is nothing but a tokenizer and our `sentence_rules`:
    its rules then run on the text directly, with the same result, since they never look at
    tokens (segment.py).
    """

    nlp: Language
    info: ModelInfo
    lang: str
    warmup_chars_left: int = 0
    text_rules: LanguageRules | None = None

    @functools.cached_property
    def cache_namespace(self) -> str:
        """Part of every cache key; computed once (spaCy's pipe_names is not cheap)."""
        return f"{self.info.name}@{self.info.version}:{'+'.join(self.nlp.pipe_names)}"


def load_pipeline(lang: str, source: str | None) -> LoadedPipeline:
    """Load `source` (a package name or a path) or, if None, a blank pipeline for `lang`."""
    if source is None:
        nlp = _blank(lang)
        info = ModelInfo(name=f"blank_{nlp.lang}", version=spacy.__version__)
    else:
        nlp = spacy.load(source)
        meta = nlp.meta
        info = ModelInfo(
            name=f"{meta.get('lang', nlp.lang)}_{meta.get('name', 'pipeline')}",
            version=str(meta.get("version", "0.0.0")),
        )
    ensure_sentence_boundaries(nlp)
    return LoadedPipeline(nlp=nlp, info=info, lang=lang, text_rules=_rules_only(nlp))


def ensure_sentence_boundaries(nlp: Language) -> None:
    """Add ours to a pipeline that has no component setting sentence starts (checked by
    factory, so a parser renamed in its config still counts)."""
    factories = {nlp.get_pipe_meta(name).factory for name in nlp.pipe_names}
    if not factories & set(SENTENCE_FACTORIES):
        nlp.add_pipe(SENTENCE_RULES, first=True)  # before anything a token split would upset


def _rules_only(nlp: Language) -> LanguageRules | None:
    if len(nlp.pipe_names) != 1 or nlp.get_pipe_meta(nlp.pipe_names[0]).factory != SENTENCE_RULES:
        return None
    component = nlp.get_pipe(nlp.pipe_names[0])
    return component.rules if isinstance(component, SentenceRules) else None


def _blank(lang: str) -> Language:
    return spacy.blank(lang if has_language(lang) else FALLBACK_LANG)


@functools.cache
def has_language(lang: str) -> bool:
    """Whether spaCy can build a blank pipeline for this code. Some language classes exist
    but need a tokenizer package we do not install (ja: SudachiPy, ko: mecab-ko, th:
    PyThaiNLP, vi: pyvi); those codes get the shared `xx` pipeline, like unknown ones."""
    try:
        spacy.blank(lang)
    except ImportError:
        return False
    return True


def pipeline_key(lang: str, configured: dict[str, str]) -> str:
    """Which pipeline serves `lang`: its own if configured or known to spaCy, else `xx`.

    Unknown codes share one pipeline, so input cannot make the pool load one per code.
    """
    return lang if lang in configured or has_language(lang) else FALLBACK_LANG


def check_pipeline_sources(pipelines: dict[str, str]) -> None:
    """Fail start-up (not the first message) when a configured pipeline cannot be found."""
    for lang, source in pipelines.items():
        if (Path(source) / "config.cfg").is_file() or spacy.util.is_package(source):
            continue
        raise ConfigError(
            f"invalid configuration: SPACY_PIPELINES: {lang}={source} is neither an installed "
            "spaCy package nor a pipeline directory (with a config.cfg)"
        )
