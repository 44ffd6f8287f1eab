"""A fixed corpus of nasty payloads and what must become of each: a dead-letter kind, or
"ok" (segmented, offsets slicing the text exactly). Shared by unit and broker tests."""

from __future__ import annotations

import json
import random

OK = "ok"


def _event(doc_id: str, text: str) -> bytes:
    return json.dumps({"doc_id": doc_id, "text": text}, ensure_ascii=False).encode()


def nasty_corpus() -> list[tuple[bytes, bytes, str]]:
    """(key, value, expected) — the keys double as names. Assumes MAX_TEXT_CHARS=1,000,000."""
    rng = random.Random(13)
    deep = 100_000
    return [
        (b"random-bytes", bytes(rng.randrange(256) for _ in range(512)), "invalid_utf8"),
        (b"overlong-utf8", b'{"doc_id": "o", "text": "\xc0\xaf"}', "invalid_utf8"),
        (b"surrogate-bytes", b'{"doc_id": "s", "text": "\xed\xa0\x80"}', "invalid_utf8"),
        (b"lone-surrogate", b'{"doc_id": "l", "text": "a \\udc00 b."}', "invalid_event"),
        (b"bom-json", b"\xef\xbb\xbf" + _event("bom-json", "A BOM is allowed. Hi."), OK),
        (b"nul", _event("nul", "Before\x00after. Second\x00 one."), OK),
        (b"zero-width", _event("zero-width", "Zero\u200bwidth\u200d joiners. And\ufeff BOM."), OK),
        (b"crlf", _event("crlf", "Line one.\r\nLine two.\r\n\r\nParagraph two."), OK),
        (b"nested", b"[" * deep + b"]" * deep, "invalid_json"),
        (
            b"nested-object",
            b'{"doc_id": "n", "text": "x.", "m": ' + b'{"a":' * deep + b"1" + b"}" * deep + b"}",
            "invalid_json",
        ),
        (
            b"huge-number",
            b'{"doc_id": "h", "text": "x.", "n": 1' + b"0" * 5000 + b"}",
            "invalid_json",
        ),
        (b"huge-float", b'{"doc_id": "huge-float", "text": "Float.", "n": 1e999999}', OK),
        (
            b"duplicate-keys",
            b'{"doc_id": "first", "doc_id": "duplicate-keys", "text": "Last wins."}',
            OK,
        ),
        (b"ten-megabytes", _event("ten-megabytes", "word " * (2 * 2**20)), "text_too_long"),
        (b"no-punctuation", _event("no-punctuation", "just words and more words " * 4000), OK),
        (b"long-sentence", _event("long-sentence", "and then, " * 20000 + "end."), OK),
        (
            b"emoji-combining",
            _event(
                "emoji-combining", "Cafe\u0301 👩‍👩‍👧 ok. Z\u0335\u0321a\u0336lgo̸ text! 🇫🇷 flag."
            ),
            OK,
        ),
        (b"emoji-bomb", _event("emoji-bomb", "😀" * 30_000), OK),
        (b"rtl", _event("rtl", "مرحبا بالعالم. هذه جملة ثانية! \u202eRLO override."), OK),
        (b"cjk", _event("cjk", "我爱北京。天安门上太阳升！日本語の文です。"), OK),
        (b"only-whitespace", _event("only-whitespace", " \u3000\u00a0\n\t "), "empty_text"),
        (b"control-chars", _event("control-chars", "Bell\x07 and escape\x1b[31m red. Done."), OK),
        (b"not-an-object", b'"a JSON string"', "not_an_object"),
    ]
