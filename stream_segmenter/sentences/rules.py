"""Where sentences start in a text: rules over the characters, with per-language word lists.

The rules read the text, not tokens, so they are the same whatever the tokenizer did, and
cost one regular-expression pass plus a little work per punctuation mark. Every offset
returned is the position of a non-whitespace character, so sentences always slice the text
and never consist of whitespace only.

A sentence ends at
- a paragraph break (a blank line), and at a line break before a list item or a line that
  starts a new sentence (capital, digit, opening quote) when the line before does not end
  mid-phrase (comma, hyphen, conjunction-like punctuation);
- `!`, `?`, `…`, `...` and a period followed by space and a word that does not start in lower
  case; closing quotes and brackets stay with their sentence;
- CJK full stops (`。！？`), without any space;
- list items written inline ("1) first 2) second", "a. first b. second", "• first • second").

A period does not end a sentence after a title ("Dr. Smith"), before a number after a
number abbreviation ("No. 5"), after a list marker at the start of a sentence ("1. The
first"), and after an abbreviation, an initial, an acronym ("U.S.") or, in languages that
write them so, an ordinal ("3. Juni"), unless a sentence starter ("The", "Did") follows.
An ellipsis in brackets ("[...]") or spaced and short (" . . . ") is an omission mark, not
an end. A URL, an e-mail address or a decimal has no space after its dots, so it is never
split.
"""

from __future__ import annotations

import json
import re
from bisect import bisect_right
from dataclasses import dataclass
from functools import cache, cached_property
from pathlib import Path

DATA_DIR = Path(__file__).with_name("data")
FALLBACK = "xx"

CLOSERS = "\"'”’»›)\\]}」』）〕】"
# After sentence-final punctuation these close too: German „…“ ‚…‘ and »…«, French « … ».
CLOSERS_AFTER_END = CLOSERS + "“‘«‹"
OPENERS = "\"'“‘«‹(\\[{¿¡「『（〔【"
BULLETS = "•⁃▪‣◦●○■□➢➤►▸"
# Sentence-final marks followed by space: Latin, Arabic (؟ ۔), Devanagari (। ॥), Armenian,
# Ethiopic, fullwidth.
TERMINALS = ".!?‼⁇⁈⁉…؟۔।॥։።፧？！．"
# A run of sentence-final punctuation, its closing quotes and brackets, then space.
# (Each pattern starts with a character class, not a lookbehind, so the scan is fast; the
# lookbehind after the first character makes a run match only from its start: linear.)
_END = re.compile(
    rf"(?P<punct>[{TERMINALS}](?<![{TERMINALS}]{{2}})[{TERMINALS}]*+)"
    rf"(?P<close>[{CLOSERS_AFTER_END}]*+(?:[ \u00a0\u202f][»›](?=\s))?)(?P<space>\s+)"
)
# CJK full stops end a sentence with or without space after them.
CJK_STOPS = "。！？｡．"
_CJK_END = re.compile(rf"[{CJK_STOPS}]+(?P<close>[{CLOSERS}]*+)\s*")
# 「…。」と言った: a quotation closed before a quotative particle goes on the sentence.
_QUOTATIVE = re.compile(r"[とっ]")
# ". . ." and ". . . .": an omission mark inside a sentence, or a sentence end plus one.
_SPACED_ELLIPSIS = re.compile(r"\.(?<!\. \.)(?: \.){2,}")
# Line breaks: \n, \r\n, a lone \r, NEL, U+2028; U+2029 is a paragraph break by itself.
_BREAK_CHARS = "\n\r\x85\u2028\u2029"
_HSPACE = r"[^\S\n\r\x85\u2028\u2029]"
_NL = r"(?:\r\n|[\n\r\x85\u2028])"
_PARAGRAPH = re.compile(rf"(?<=\S){_HSPACE}*(?:\u2029|{_NL}{_HSPACE}*{_NL})\s*")
_LINE_BREAK = re.compile(rf"(?<=\S){_HSPACE}*{_NL}{_HSPACE}*(?=\S)")
_NEXT_WORD = re.compile(rf"[{OPENERS}]*(\S*)")
_WORD_EDGES = f"{OPENERS}{CLOSERS}.,;:!?…*_-"
# Inline list markers: "1.", "1)", "1.)", "a.", "a)", each followed by space.
_MARKER = re.compile(
    r"(?<!\S)[" + BULLETS + r"]?(?P<value>\d{1,2}|[a-z])(?P<style>\.\)|\)|\.)(?=\s)"
)
_BULLET = re.compile(rf"[{BULLETS}](?<=\s[{BULLETS}])")
_ACRONYM = re.compile(r"(?:[^\W\d_]\.)+[^\W\d_]")
_ORDINAL = re.compile(r"\d{1,3}")
_LIST_LABEL = re.compile(r"\(?(?:\d{1,2}|[a-zA-Z]|[ivxIVX]{1,4})")
# A URL, an e-mail address or a clock time ("08:02 PM") before a capital: the sentence
# ended without a period (signatures, mail headers, links pasted at the end).
_URL = re.compile(r"(?<!\S)(?:https?://|www\.)\S+(?<![.,;:!?])\s+")
_EMAIL = re.compile(r"(?<!\S)[\w.+-]+@[\w-]+(?:\.[\w-]+)+(?<![.,;:!?])\s+")
_CLOCK = re.compile(r"(?<!\S)\d{1,2}:\d{2}(?::\d{2})? ?[AP]M\s+")
_CONTRACTION = re.compile(r"(?:'s|'re|'ll|'ve|'d|'m|n't)$")
_COLON = re.compile(r":(?<=\w:)\s+")
_EMOTICON = re.compile(r"(?<!\S)(?:[:;=][-o^']?[)(\]\[DPpO3|/\\*]+|<3|\^_*\^|xD|XD)\s+")
_EMOTICON_HINTS = (":", ";", "=", "<3", "^", "xD", "XD")
_NON_ASCII_MARKS = re.compile(rf"[{CJK_STOPS}{BULLETS}]")
_INLINE_SPACE = re.compile(r"[^\S\n]*")
_LINE_CONTINUES = tuple(",;-–—(&/+=")
_LINE_STARTS_ITEM = re.compile(rf"[{BULLETS}]|[*\-–] |\(?(?:\d{{1,2}}|[a-zA-Z])[.)]\s")
# A line at least this share of the longest line, not ending in punctuation, was wrapped.
_WRAPPED_SHARE = 0.75
_MIN_WRAP_WIDTH = 40


@dataclass(frozen=True)
class LanguageRules:
    """Word lists of one language (see data/README.md); all lower case, no final period."""

    abbreviations: frozenset[str]
    titles: frozenset[str]
    number_abbreviations: frozenset[str]
    sentence_starters: frozenset[str]
    ordinal_numbers: bool = False
    colon_ends_sentence: bool = False
    lowercase_starts: bool = False
    greetings: frozenset[str] = frozenset()

    @cached_property
    def greeting_pattern(self) -> re.Pattern[str]:
        """A greeting or closing, up to two more words (a name), a comma, space."""
        words = "|".join(map(re.escape, sorted(self.greetings, key=len, reverse=True)))
        return re.compile(rf"(?<!\S)(?:{words})(?: [^\W\d_][\w.'-]*){{0,2}},\s+", re.IGNORECASE)

    @classmethod
    def from_file(cls, path: Path) -> LanguageRules:
        data = json.loads(path.read_text(encoding="utf-8"))
        return cls(
            abbreviations=frozenset(data["abbreviations"]),
            titles=frozenset(data["titles"]),
            number_abbreviations=frozenset(data["number_abbreviations"]),
            sentence_starters=frozenset(data["sentence_starters"]),
            ordinal_numbers=bool(data.get("ordinal_numbers", False)),
            colon_ends_sentence=bool(data.get("colon_ends_sentence", False)),
            lowercase_starts=bool(data.get("lowercase_starts", False)),
            greetings=frozenset(data.get("greetings", ())),
        )


@cache
def rules_for(lang: str) -> LanguageRules:
    """The rules of `lang` ("en-US" uses "en"), or the generic ones if it has no data file."""
    base = lang.lower().replace("_", "-").split("-")[0]
    path = DATA_DIR / f"{base}.json"
    return LanguageRules.from_file(path if path.is_file() else DATA_DIR / f"{FALLBACK}.json")


def sentence_starts(text: str, rules: LanguageRules) -> list[int]:
    """Offsets where sentences after the first start, ascending; each at a non-space char.

    Each family of rules runs only when a cheap substring test says it can apply: most
    documents have no line break, no URL, no CJK full stop, and scanning for them costs more
    than the punctuation rules themselves."""
    starts: set[int] = set()
    if any(char in text for char in _BREAK_CHARS):
        starts.update(_paragraph_starts(text))
        starts.update(_line_starts(text))
    marks = not text.isascii() and _NON_ASCII_MARKS.search(text) is not None
    if marks or any(marker in text for marker in ("1.", "1)", "a.", "a)")):
        starts.update(_list_item_starts(text, bullets=marks))
    if marks:
        starts.update(_cjk_starts(text))
    if any(hint in text for hint in _EMOTICON_HINTS):
        starts.update(_capital_after(text, _EMOTICON))
    if "http" in text or "www." in text:
        starts.update(_capital_after(text, _URL))
    if "@" in text:
        starts.update(_capital_after(text, _EMAIL))
    if "M" in text and ":" in text:
        starts.update(_capital_after(text, _CLOCK))
    omitted = _spaced_ellipses(text, starts) if ". ." in text else []
    omitted_starts = [start for start, _ in omitted]
    ordered = sorted(starts)
    last_found = 0  # the last start found below: each match begins after it
    for match in _END.finditer(text):
        at = match.end()
        if at >= len(text) or (omitted and _inside(match.start(), omitted, omitted_starts)):
            continue
        before = bisect_right(ordered, match.start())
        last_start = max(ordered[before - 1] if before else 0, last_found)
        if at not in starts and _ends_sentence(text, match, rules, sentence_start=last_start):
            starts.add(at)
            last_found = at
    if rules.colon_ends_sentence and ":" in text:
        starts.update(_colon_starts(text, rules))
    if rules.greetings and "," in text:
        starts.update(_greeting_starts(text, rules, sorted(starts)))
    starts.discard(0)
    return sorted(starts)


def _ends_sentence(
    text: str, match: re.Match[str], rules: LanguageRules, sentence_start: int
) -> bool:
    punct, close = match.group("punct"), match.group("close")
    next_word = _NEXT_WORD.match(text, match.end()).group(1)
    lower = next_word[:1].islower()
    word_start = _word_start(text, match.start())
    word = text[word_start : match.start()].lstrip(OPENERS + BULLETS)
    if _EMOTICON.match(text, match.end()):  # "Danke! :-) Dann": the emoticon ends it
        return False
    if "?" in punct or "‼" in punct or "⁇" in punct:
        return not (lower and close)  # "'Why?' she asked"
    if "!" in punct:  # "Yahoo! in the": a name with "!" is not a sentence end
        named = word[:1].isupper() and word_start > sentence_start
        return not (lower and (close or named))
    if punct.count(".") >= 2 or "…" in punct:
        bracketed = match.start() > 0 and text[match.start() - 1] in "[(" and close[:1] in "])"
        return not lower and not bracketed
    return _period_ends_sentence(text, word, word_start, next_word, close, rules, sentence_start)


def _only_bullets_between(text: str, start: int, end: int) -> bool:
    return end - start <= 16 and text[start:end].strip(BULLETS + " ") == ""


def _after_colon(text: str, at: int) -> bool:
    return _char_before(text, at, limit=8) == ":"


def _char_before(text: str, at: int, limit: int) -> str:
    """The character before `at`, skipping up to `limit` spaces, tabs and bullets; "" at
    the start of the text."""
    position = at
    while position > 0 and at - position < limit and text[position - 1] in " \t" + BULLETS:
        position -= 1
    return text[position - 1] if position > 0 else ""


def _is_starter(word: str, rules: LanguageRules) -> bool:
    """Whether `word` (its contraction removed: "He's", "They'll") is a sentence starter."""
    word = _CONTRACTION.sub("", word.strip(_WORD_EDGES).lower().replace("’", "'"))
    return word in rules.sentence_starters


def _word_start(text: str, end: int) -> int:
    """Where the whitespace-free run that ends at `end` starts (looking back 64 chars)."""
    start = end
    while start > 0 and end - start < 64 and not text[start - 1].isspace():
        start -= 1
    return start


def _period_ends_sentence(
    text: str,
    word: str,
    word_start: int,
    next_word: str,
    close: str,
    rules: LanguageRules,
    sentence_start: int,
) -> bool:
    """Whether "word. next_word" ends a sentence."""
    if not word:
        return not next_word[:1].islower()
    if _LIST_LABEL.fullmatch(word) and (
        _only_bullets_between(text, sentence_start, word_start) or _after_colon(text, word_start)
    ):
        return False  # "1. The first item", "Steps: 1. Open it"
    if close:  # '"This is great." she said'
        return not next_word[:1].islower()
    key = word.lower()
    starter = _is_starter(next_word, rules)
    if key in rules.titles:
        return False
    first = next_word[:1]
    initial = len(word) == 1 and word.isalpha()
    if first.isdigit() and (key in rules.number_abbreviations or initial):
        return False
    if key in rules.abbreviations or initial or _ACRONYM.fullmatch(word):
        return starter and not first.islower()
    if rules.ordinal_numbers and _ORDINAL.fullmatch(word):
        return starter and not first.islower()
    if first.islower():  # lower case after a plain word: a sentence end in informal text
        return rules.lowercase_starts and word[-1:].isalpha()
    return True


def _cjk_starts(text: str) -> list[int]:
    return [
        m.end()
        for m in _CJK_END.finditer(text)
        if m.end() < len(text) and not (m.group("close") and _QUOTATIVE.match(text, m.end()))
    ]


def _paragraph_starts(text: str) -> list[int]:
    return [m.end() for m in _PARAGRAPH.finditer(text) if m.end() < len(text)]


def _line_starts(text: str) -> list[int]:
    """A single line break starts a sentence before a list item, or before a line that
    starts like a sentence when the line before did not stop mid-phrase and was not
    wrapped (hard-wrapped text: a line nearly as long as the longest one)."""
    breaks = list(_LINE_BREAK.finditer(text))
    line_starts = [0, *(m.end() for m in breaks)]
    lengths = [m.start() - start for m, start in zip(breaks, line_starts, strict=False)]
    width = max(lengths, default=0)
    starts = []
    for match, length in zip(breaks, lengths, strict=True):
        at = match.end()
        before = text[match.start() - 1]
        wrapped = width >= _MIN_WRAP_WIDTH and length >= _WRAPPED_SHARE * width
        if _LINE_STARTS_ITEM.match(text, at):
            starts.append(at)
        elif not wrapped and not before.endswith(_LINE_CONTINUES):
            first = _NEXT_WORD.match(text, at).group(1)[:1]
            if first.isalnum() and not first.islower():  # "A", "5", "日"; not "-5", "and"
                starts.append(at)
    return starts


def _list_item_starts(text: str, bullets: bool) -> list[int]:
    """Items of a list written on one line: before each bullet, and before each marker that
    continues a sequence (2 after 1, b after a) begun at the start of a sentence."""
    starts = [m.start() for m in _BULLET.finditer(text)] if bullets else []
    expected: dict[str, str] = {}  # marker style -> the value the next item would have
    for match in _MARKER.finditer(text):
        value, style = match.group("value"), match.group("style")
        if value in ("1", "a") and _begins_sentence(text, match.start()):
            expected[style] = _successor(value)
        elif expected.get(style) == value:
            starts.append(match.start())
            expected[style] = _successor(value)
    return starts


def _begins_sentence(text: str, at: int) -> bool:
    """Whether only spaces and bullets stand between `at` and the start of the text, a line
    break or a sentence-final mark (looking back at most 16 characters)."""
    before = _char_before(text, at, limit=16)
    return before == "" or before in "\n.!?:…"


def _successor(value: str) -> str:
    return str(int(value) + 1) if value.isdigit() else chr(ord(value) + 1)


def _spaced_ellipses(text: str, starts: set[int]) -> list[tuple[int, int]]:
    """Spans of ". . ." marks (their periods are not sentence ends), adding the starts they
    imply: "word. . . . Next" ends after "word."; "word . . . . Next" after the fourth dot."""
    spans = []
    for match in _SPACED_ELLIPSIS.finditer(text):
        spans.append((match.start(), match.end()))
        dots = match.group().count(".")
        glued = match.start() > 0 and not text[match.start() - 1].isspace()
        after = _INLINE_SPACE.match(text, match.end()).end()
        capital = after > match.end() and _capitalised_at(text, after)
        if dots >= 4 and capital:
            starts.add(match.start() + 2 if glued else after)
    return spans


def _inside(position: int, spans: list[tuple[int, int]], span_starts: list[int]) -> bool:
    """Whether `position` is inside one of `spans` (sorted, not overlapping)."""
    index = bisect_right(span_starts, position) - 1
    return index >= 0 and position < spans[index][1]


def _colon_starts(text: str, rules: LanguageRules) -> list[int]:
    """ "…wie folgt: Die Amerikaner…": a colon, then a sentence starter in capitals."""
    starts = []
    for match in _COLON.finditer(text):
        word = _NEXT_WORD.match(text, match.end()).group(1)
        if word[:1].isupper() and _is_starter(word, rules):
            starts.append(match.end())
    return starts


def _capital_after(text: str, pattern: re.Pattern[str]) -> list[int]:
    """Where a match of `pattern` (ending in space) is followed by a capitalised word: an
    emoticon ("super :) Danke"), a URL, an e-mail address or a clock time ("08:02 PM")
    ends a sentence that has no period (signatures, mail headers, pasted links)."""
    return [m.end() for m in pattern.finditer(text) if _capitalised_at(text, m.end())]


def _capitalised_at(text: str, at: int) -> bool:
    """Whether the word at `at` (after any opening quotes and brackets) starts in capitals."""
    return _NEXT_WORD.match(text, at).group(1)[:1].isupper()


def _greeting_starts(text: str, rules: LanguageRules, sentence_starts: list[int]) -> list[int]:
    """A letter's greeting or closing is a sentence of its own: "Dear Nina, Here's a tip",
    "Thanks, Sean", "Regards, Kevin": a comma after one of `greetings` (and at most two
    more words, a name), at the start of a sentence, before a capitalised word."""
    starts = []
    for start in [0, *sentence_starts]:
        match = rules.greeting_pattern.match(text, start)
        if match is not None and _capitalised_at(text, match.end()):
            starts.append(match.end())
    return starts
