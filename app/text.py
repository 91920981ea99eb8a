"""Sentence segmentation for marketing copy: the only segmentation code in the project.

Training and serving both call :func:`split_sentences`, so a sentence means the same
thing on both paths. Every step is a linear scan (no regex that can backtrack over a
long run of text), so a megabyte with no punctuation costs milliseconds, not minutes.
The scans are compiled (``app/_splitter.pyx``, which documents each rule); this module
holds the data they read: the abbreviations and the list-marker and URL patterns.

A span is a half-open ``(start, end)`` pair of code-point offsets into the text. Spans
are trimmed of surrounding whitespace, never overlap, and together cover every
non-whitespace character of the text.
"""

from __future__ import annotations

import re

from app._splitter import _Rules, has_astral, split_spans

__all__ = ["Span", "has_astral", "split_sentences", "utf16_offsets"]

Span = tuple[int, int]

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


_RULES = _Rules(ABBREVIATIONS, _WORD_ABBREVIATIONS, _FINAL_ABBREVIATIONS, _BULLET_NUMBER, _URL_START)


def split_sentences(text: str) -> list[Span]:
    """Split ``text`` into sentence spans (code points, half-open, whitespace-trimmed)."""
    return split_spans(text, _RULES)


def utf16_offsets(text: str, offsets: list[int]) -> list[int]:
    """Translate code-point offsets into UTF-16 code-unit offsets (for JavaScript editors)."""
    if not has_astral(text):
        return list(offsets)
    astral_before = [0] * (len(text) + 1)
    count = 0
    for i, char in enumerate(text):
        astral_before[i] = count
        if char > "\uffff":
            count += 1
    astral_before[len(text)] = count
    return [offset + astral_before[offset] for offset in offsets]
