"""Sentence segmentation for marketing copy: the only segmentation code in the project.

Training and serving both call :func:`split_sentences`, so a sentence means the same
thing on both paths. Every step is a linear scan (no regex that can backtrack over a
long run of text), so a megabyte with no punctuation costs milliseconds, not minutes.

A span is a half-open ``(start, end)`` pair of code-point offsets into the text. Spans
are trimmed of surrounding whitespace, never overlap, and together cover every
non-whitespace character of the text.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator

__all__ = ["Span", "split_sentences", "utf16_offsets"]

Span = tuple[int, int]

# Sentence-final punctuation, Latin and otherwise (CJK, Arabic, Devanagari, Armenian, Ethiopic).
_TERMINATORS = ".!?\u2026\u3002\uff01\uff1f\u203c\u2047\u2048\u2049\u061f\u06d4\u0964\u0965\u0589\u1362"
# Terminators after which no space is expected (CJK full-width punctuation, dandas).
_TIGHT_TERMINATORS = "\u3002\uff01\uff1f\u0964\u0965\u1362"
# Characters that belong to the sentence they follow: closing quotes and brackets.
_CLOSERS = "\"')]}\u201d\u2019\u00bb\u300d\u300f\u3011\uff09"
_TERMINATOR_RUN = re.compile(f"[{re.escape(_TERMINATORS)}]+")
_BLANK_LINE = re.compile(r"\n[ \t\r\f\v]*\n")
_URL_START = re.compile(r"https?://|www\.", re.IGNORECASE)
_BULLET_NUMBER = re.compile(r"(?:\d{1,3}|[a-zA-Z]|[ivxIVX]{1,4})")

# Lower-cased tokens that end with a full stop without ending a sentence.
ABBREVIATIONS = frozenset(
    [
        "dr",
        "mr",
        "mrs",
        "ms",
        "mx",
        "prof",
        "st",
        "sr",
        "jr",
        "vs",
        "etc",
        "e.g",
        "eg",
        "i.e",
        "ie",
        "u.s",
        "u.k",
        "u.s.a",
        "a.m",
        "p.m",
        "no",
        "nos",
        "inc",
        "ltd",
        "co",
        "corp",
        "llc",
        "approx",
        "appt",
        "dept",
        "est",
        "fig",
        "min",
        "max",
        "mt",
        "ave",
        "blvd",
        "rd",
        "ph.d",
        "m.d",
        "d.o",
        "r.n",
        "b.s",
        "m.s",
        "vol",
        "ref",
        "tel",
        "ext",
        "jan",
        "feb",
        "mar",
        "apr",
        "jun",
        "jul",
        "aug",
        "sep",
        "sept",
        "oct",
        "nov",
        "dec",
        "mon",
        "tue",
        "wed",
        "thu",
        "fri",
        "sat",
        "sun",
        "cf",
        "al",
        "op",
        "pp",
    ]
)
# Abbreviations that are also everyday words ("Just say no.", "Relax in the sun."): they only
# abbreviate before a number ("No. 1", "Fig. 2"), so before a capital they end the sentence.
_WORD_ABBREVIATIONS = frozenset(["no", "nos", "fig", "min", "max", "est", "mar", "wed", "sat", "sun"])
# "etc." often ends a sentence: it does whenever the next word is capitalised.
_FINAL_ABBREVIATIONS = frozenset(["etc"])


def split_sentences(text: str) -> list[Span]:
    """Split ``text`` into sentence spans (code points, half-open, whitespace-trimmed)."""
    spans: list[Span] = []
    for block_start, block_end in _blocks(text):
        for start, end in _split_block(text, block_start, block_end):
            trimmed = _trim(text, start, end)
            if trimmed is not None:
                spans.append(trimmed)
    return spans


_ASTRAL = re.compile("[\U00010000-\U0010ffff]")  # characters that take two UTF-16 code units


def utf16_offsets(text: str, offsets: list[int]) -> list[int]:
    """Translate code-point offsets into UTF-16 code-unit offsets (for JavaScript editors)."""
    if text.isascii() or not _ASTRAL.search(text):
        return list(offsets)
    astral_before = [0] * (len(text) + 1)
    count = 0
    for i, char in enumerate(text):
        astral_before[i] = count
        if char > "\uffff":
            count += 1
    astral_before[len(text)] = count
    return [offset + astral_before[offset] for offset in offsets]


def _blocks(text: str) -> Iterator[Span]:
    """Yield paragraph-like blocks: a blank line always ends a sentence, a single line
    break ends one unless the next line plainly continues it (a hard-wrapped paragraph)."""
    position = 0
    for match in _BLANK_LINE.finditer(text):
        yield from _lines(text, position, match.start())
        position = match.end()
    yield from _lines(text, position, len(text))


def _lines(text: str, start: int, end: int) -> Iterator[Span]:
    line_start = start
    while True:
        newline = text.find("\n", line_start, end)
        if newline == -1:
            yield (start, end)
            return
        if not _continues(text, newline, end):
            yield (start, newline)
            start = newline + 1
        line_start = newline + 1


def _continues(text: str, newline: int, end: int) -> bool:
    """A line break is soft when the line ends mid-sentence and the next starts in lower case."""
    before = newline - 1
    while before >= 0 and text[before] in " \t\r":
        before -= 1
    after = newline + 1
    while after < end and text[after] in " \t\r":
        after += 1
    if before < 0 or after >= end:
        return False
    last, first = text[before], text[after]
    return (last.isalnum() or last in ",;:-\u2013") and first.islower() and not _list_marker(text, after, end)


def _list_marker(text: str, position: int, end: int) -> bool:
    """ "a. Fewer visits" or "ii) Less pain" at the start of a line: a new list item, not a wrap."""
    marker_end = position
    while marker_end < end and marker_end - position < 5 and text[marker_end].isalnum():
        marker_end += 1
    return (
        marker_end + 1 < end
        and text[marker_end] in ".)"
        and text[marker_end + 1] in " \t"
        and _BULLET_NUMBER.fullmatch(text, position, marker_end) is not None
    )


def _split_block(text: str, start: int, end: int) -> Iterator[Span]:
    protected = _protected_ranges(text, start, end)  # sorted by start
    next_protected = 0
    protected_until = start
    sentence_start = _skip_space(text, start, end)
    for match in _TERMINATOR_RUN.finditer(text, start, end):
        run_start = match.start()
        # Runs come in order, so one forward walk over the protected ranges keeps this linear.
        while next_protected < len(protected) and protected[next_protected][0] <= run_start:
            protected_until = max(protected_until, protected[next_protected][1])
            next_protected += 1
        if run_start < protected_until:
            continue
        boundary = _boundary_after(text, run_start, match.end(), end, sentence_start)
        if boundary is not None:
            yield (sentence_start, boundary)
            sentence_start = _skip_space(text, boundary, end)
    yield (sentence_start, end)


def _boundary_after(text: str, run_start: int, run_end: int, end: int, sentence_start: int) -> int | None:
    """Return where the sentence ends if the punctuation run at [run_start, run_end) ends one.

    ``sentence_start`` is the first non-whitespace position of the current sentence."""
    close = run_end
    while close < end and (text[close] in _CLOSERS or _is_symbol(text[close])):
        close += 1
    close = _absorb_trailing_symbols(text, close, end)
    if close >= end:
        return None  # the block ends here anyway
    run = text[run_start:run_end]
    following = text[close]
    if not following.isspace():
        return close if _tight_break(text, run, run_start, close, following) else None
    next_char = _next_visible(text, close, end)
    if next_char is None or next_char in _TERMINATORS:
        return None  # more punctuation follows ("Wait. . . It works"): it ends the sentence instead
    if run[-1] in _TIGHT_TERMINATORS or run[-1] in "!?\u203c\u2047\u2048\u2049\u061f":
        return close
    if run == "." and not _full_stop_ends(text, run_start, sentence_start, next_char):
        return None
    if run.endswith("...") or run.endswith("\u2026"):
        # An ellipsis only ends a sentence when a new one visibly starts.
        return close if not next_char.islower() else None
    return close if not next_char.islower() else None


def _tight_break(text: str, run: str, run_start: int, close: int, following: str) -> bool:
    """Punctuation with no space after it: CJK stops always break; a Latin full stop breaks
    only when glued to a capitalised word ("anxiety.It works"), never in "U.S." or "2.5"."""
    if run[-1] in _TIGHT_TERMINATORS:
        return True
    if close > run_start + len(run):  # a closing quote or emoji, then text
        return following.isupper()
    if not (following.isupper() and close + 1 < len(text) and text[close + 1].islower()):
        return False
    word_start = run_start
    while word_start > 0 and text[word_start - 1].isalpha():
        word_start -= 1
    word = text[word_start:run_start]
    return len(word) >= 2 and word[-1].islower() and word.lower() not in ABBREVIATIONS


def _absorb_trailing_symbols(text: str, close: int, end: int) -> int:
    """ "Amazing! 🎉 Book now": an emoji after the stop decorates the sentence it follows."""
    position = close
    while position < end and text[position] in " \t":
        position += 1
    symbols_end = position
    while symbols_end < end and _is_symbol(text[symbols_end]):
        symbols_end += 1
    if symbols_end > position and (symbols_end == end or text[symbols_end].isspace()):
        return symbols_end
    return close


def _full_stop_ends(text: str, dot: int, sentence_start: int, next_char: str) -> bool:
    word_start = dot
    while word_start > sentence_start and not text[word_start - 1].isspace() and text[word_start - 1] not in "([":
        word_start -= 1
    word = text[word_start:dot].lower().strip("\"'\u201c\u2018")
    if word in _FINAL_ABBREVIATIONS:
        return not next_char.islower()
    if word in _WORD_ABBREVIATIONS:
        return not (next_char.islower() or next_char.isdigit())
    if word in ABBREVIATIONS:
        return False
    if len(word) == 1 and word.isalpha():
        return False  # an initial, as in "J. Smith"
    if "." in word and all(len(part) <= 2 and part.isalpha() for part in word.split(".")):
        return False  # dotted initialisms: "U.S.", "a.m."
    if word_start == sentence_start and _BULLET_NUMBER.fullmatch(word):
        return False  # "1. Rapid relief" or "b. Fewer visits": a list marker, not a sentence
    return not next_char.islower()


def _skip_space(text: str, position: int, end: int) -> int:
    while position < end and text[position].isspace():
        position += 1
    return position


def _next_visible(text: str, position: int, end: int) -> str | None:
    while position < end:
        if not text[position].isspace():
            return text[position]
        position += 1
    return None


def _is_symbol(char: str) -> bool:
    """Emoji and pictographs directly after a full stop stay with the sentence they end."""
    if char in "\u200d\ufe0f\ufe0e":
        return True
    return char > "\u2000" and unicodedata.category(char) in ("So", "Sk", "Mn")


def _protected_ranges(text: str, start: int, end: int) -> list[Span]:
    """URLs and e-mail addresses, whose dots never end a sentence."""
    ranges: list[Span] = []
    lowered = text[start:end].lower()
    block = lowered if len(lowered) == end - start else None  # else lower-casing moved offsets
    # Resume after each URL, not after its "www.": "www.www.www..." must not rescan the rest.
    match = _find_url(text, block, start, start, end)
    while match is not None:
        token_end = _token_end(text, match.end(), end)
        ranges.append((match.start(), token_end))
        match = _find_url(text, block, max(token_end, match.end()), start, end)
    at = text.find("@", start, end)
    while at != -1:
        left = at
        while left > start and (text[left - 1].isalnum() or text[left - 1] in "._%+-"):
            left -= 1
        right = _token_end(text, at + 1, end)
        if left < at and "." in text[at:right]:
            ranges.append((left, right))
        at = text.find("@", right if right > at else at + 1, end)
    ranges.sort()
    return ranges


def _find_url(text: str, block: str | None, position: int, start: int, end: int) -> re.Match[str] | None:
    """``_URL_START.search(text, position, end)``, found with ``str.find`` in the block lower-cased
    (``block`` is ``text[start:end].lower()``): the regex engine has no fast scan for a
    case-insensitive alternation, and was a third of the splitter's time."""
    if block is None:
        return _URL_START.search(text, position, end)
    while True:
        found = [at for at in (block.find("http", position - start), block.find("www.", position - start)) if at >= 0]
        if not found:
            return None
        candidate = start + min(found)
        match = _URL_START.match(text, candidate, end)
        if match is not None:
            return match
        position = candidate + 1


def _token_end(text: str, position: int, end: int) -> int:
    """End of a URL-like token: up to whitespace, minus trailing punctuation that ends the sentence."""
    while position < end and not text[position].isspace() and text[position] not in '<>"':
        position += 1
    while position > 0 and text[position - 1] in ".,;:!?)]\u2019\u201d'":
        position -= 1
    return position


def _trim(text: str, start: int, end: int) -> Span | None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return (start, end) if start < end else None
