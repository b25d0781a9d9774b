"""Share-link codes: generation, the rules an explicit code must meet, reserved and profane words.

Generated codes come from the OS CSPRNG over a lowercase alphabet without look-alikes (no 0/o, 1/i/l):
31 symbols, 8 of them, 8.5e11 codes, so even at 100M links a new code collides 0.012% of the time
(links.md §2). Codes are unique case-insensitively: we store and look up `code.lower()`.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache
from importlib import resources

from sharelinks.http.errors import ApiError
from sharelinks.ids import random_bytes

ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
RANDOM_LENGTH = 8
CODE_MIN, CODE_MAX = 4, 50
CODE_RE = re.compile(r"^[A-Za-z0-9_-]+$")
NAME_BASE_MAX = 20

# Top-level paths of the service and words a link must not look like. An explicit code is refused
# when it *is* one of these, or has one as a -/_ separated segment ("my-admin"), but not for a mere
# substring: "happiness" contains "api" and is fine. Generated codes avoid them as substrings too.
RESERVED_WORDS = frozenset(
    {
        "api", "admin", "console", "static", "assets", "qr", "health", "healthz", "metrics", "login",
        "logout", "docs", "redoc", "openapi", "webhooks", "robots", "sitemap", "favicon", "well-known",
        "s", "q", "v1", "v2", "v3", "v4", "v5", "v6", "null", "undefined", "share", "sharelinks",
    }
)  # fmt: skip

_LEET = str.maketrans({"0": "o", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s"})
_SEPARATORS = re.compile(r"[-_]+")


@cache
def _blocklist() -> tuple[frozenset[str], tuple[str, ...], tuple[str, ...]]:
    """(whole-code words, words with digits matched at either end, substring words)."""
    text = resources.files("sharelinks.shareables").joinpath("wordlists/profanity.txt").read_text()
    whole: set[str] = set()
    edges: list[str] = []
    anywhere: list[str] = []
    for line in text.splitlines():
        word = line.strip().lower()
        if not word or word.startswith("#"):
            continue
        if word.startswith("="):
            whole.add(word[1:])
        elif len(word) <= 3:
            whole.add(word)
        elif any(c.isdigit() for c in word):
            edges.append(word)
        else:
            anywhere.append(word)
    return frozenset(whole), tuple(edges), tuple(anywhere)


def _readings(code: str) -> set[str]:
    """The ways a code can be read: as typed, leetspeak undone (1 as i and as l), separators dropped."""
    lowered = code.lower()
    base = lowered.translate(_LEET)
    forms = {lowered, base.replace("1", "i"), base.replace("1", "l")}
    return forms | {_SEPARATORS.sub("", f) for f in forms}


@cache
def _matchers() -> tuple[frozenset[str], tuple[str, ...], re.Pattern[str] | None]:
    """The blocklist as quick tests: a set to intersect, a tuple for startswith/endswith, one regex."""
    whole, edges, anywhere = _blocklist()
    pattern = re.compile("|".join(map(re.escape, anywhere))) if anywhere else None
    return whole, edges, pattern


def profane_word(code: str) -> str | None:
    whole, edges, anywhere = _matchers()
    for reading in _readings(code):
        segments = {reading, *_SEPARATORS.split(reading)}
        found = segments & whole
        if found:
            return min(found)
        if reading.startswith(edges) or reading.endswith(edges):
            return next(w for w in edges if reading.startswith(w) or reading.endswith(w))
        hit = anywhere.search(reading) if anywhere is not None else None
        if hit is not None:
            return hit.group()
    return None


def reserved_word(code: str) -> str | None:
    lowered = code.lower()
    if lowered in RESERVED_WORDS:
        return lowered
    for segment in _SEPARATORS.split(lowered):
        if segment in RESERVED_WORDS:
            return segment
    return None


def check_explicit(code: str) -> str:
    """The rules for a code the client chose, in Extole's order: length, characters, reserved, profanity."""
    if not CODE_MIN <= len(code) <= CODE_MAX:
        raise ApiError("code_out_of_range", code=code[: CODE_MAX + 10])
    if not CODE_RE.match(code):
        raise ApiError("code_illegal_character", code=code)
    word = reserved_word(code)
    if word is not None:
        raise ApiError("code_contains_reserved_word", code=code, reserved_word=word)
    if profane_word(code) is not None:
        raise ApiError("code_profane_word", code=code)
    return code


_RESERVED_INSIDE = re.compile("|".join(re.escape(w) for w in sorted(RESERVED_WORDS) if len(w) > 1))


# A generated code is lowercase, without "1" and without separators: of the readings `_readings`
# makes, only two differ (as typed, leetspeak undone), each one segment. Checking those two directly
# answers as `profane_word` does, for less (`random_code` 8.6 -> 6.1 µs; the check was a tenth of a
# backfill's time). Its three tests repeat `profane_word`'s on purpose: one helper for both readings
# loops cost 0.7-1.3 µs a code back (a call and a set per reading); tests/test_codes.py holds the
# two to the same answers.
_PLAIN = re.compile(r"[a-z02-9]+").fullmatch


def _profane_plain(code: str) -> bool:
    whole, edges, anywhere = _matchers()
    for reading in (code, code.translate(_LEET)):
        if reading in whole or reading.startswith(edges) or reading.endswith(edges):
            return True
        if anywhere is not None and anywhere.search(reading) is not None:
            return True
    return False


def _acceptable_generated(code: str) -> bool:
    if _RESERVED_INSIDE.search(code.lower()):
        return False
    if _PLAIN(code):
        return code not in RESERVED_WORDS and not _profane_plain(code)
    return reserved_word(code) is None and profane_word(code) is None


_UNBIASED_LIMIT = 256 - 256 % len(ALPHABET)  # bytes at or above this would favour some symbols


def _random_symbols(length: int) -> str:
    """`length` uniform alphabet symbols from one CSPRNG read (rejection sampling, no modulo bias)."""
    symbols: list[str] = []
    while len(symbols) < length:
        for byte in random_bytes(length * 2):
            if byte < _UNBIASED_LIMIT:
                symbols.append(ALPHABET[byte % len(ALPHABET)])
                if len(symbols) == length:
                    break
    return "".join(symbols)


def random_code(length: int = RANDOM_LENGTH) -> str:
    """A fresh random code that is neither reserved nor profane (silently regenerated if it would be)."""
    while True:
        code = _random_symbols(length)
        if _acceptable_generated(code):
            return code


def fold_name(first_name: str | None) -> str:
    """`José` -> `jose`: NFKD, ASCII letters and digits only, lowercase, at most 20 characters."""
    if not first_name:
        return ""
    decomposed = unicodedata.normalize("NFKD", first_name)
    ascii_only = "".join(c for c in decomposed if c.isascii() and c.isalnum())
    return ascii_only.lower()[:NAME_BASE_MAX]


def name_candidates(first_name: str | None) -> list[str]:
    """`alex01` … `alex99`: name codes to try in order. Empty when the name gives no usable base."""
    base = fold_name(first_name)
    if not base or profane_word(base) is not None or reserved_word(base) is not None:
        return []
    return [c for c in (f"{base}{n:02d}" for n in range(1, 100)) if _acceptable_generated(c)]


def name_fallback(first_name: str | None) -> str:
    """After `…99`: the name plus `-xxxx`, four random alphabet characters (Dub's scheme)."""
    while True:
        code = f"{fold_name(first_name)}-{random_code(4)}"
        if _acceptable_generated(code):
            return code


def suggestions_for(code: str) -> list[str]:
    """Alternatives to a taken code, most similar first: the code plus two digits, then `-xxxx`."""
    stem = code[: CODE_MAX - 5]
    numbered = [f"{stem}{n:02d}" for n in range(1, 100)]
    suffixed = [f"{stem}-{random_code(4)}" for _ in range(5)]
    return [c for c in numbered + suffixed if reserved_word(c) is None and profane_word(c) is None]
