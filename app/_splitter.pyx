# cython: language_level=3, boundscheck=False, wraparound=False
"""The sentence splitter's scans, compiled: :mod:`app.text` holds the rules' data (abbreviations,
the list-marker and URL patterns); each function here applies and documents one rule. The text is
walked once per step, reading characters as code points rather than as one-character strings,
which is what made the Python version cost 50-70 ns a character.

Character tests use the same Unicode predicates as ``str.isspace``, ``str.isalnum`` and the like
on a one-character string.
"""

import unicodedata

from cpython.unicode cimport PyUnicode_4BYTE_KIND, PyUnicode_KIND


cdef extern from "Python.h":
    # Sets a string's kind, for strings built by the legacy C API; a no-op from Python 3.12.
    int PyUnicode_READY(object text) except -1

cdef long NO_CHAR = -1  # what _next_visible returns when only whitespace is left


cdef inline bint _is_terminator(Py_UCS4 c) noexcept:
    # Sentence-final punctuation, Latin and otherwise (CJK, Arabic, Devanagari, Armenian, Ethiopic).
    return c in ".!?\u2026\u3002\uff01\uff1f\u203c\u2047\u2048\u2049\u061f\u06d4\u0964\u0965\u0589\u1362"


cdef inline bint _is_tight_terminator(Py_UCS4 c) noexcept:
    # Terminators after which no space is expected (CJK full-width punctuation, dandas).
    return c in "\u3002\uff01\uff1f\u0964\u0965\u1362"


cdef inline bint _is_closer(Py_UCS4 c) noexcept:
    # Characters that belong to the sentence they follow: closing quotes and brackets.
    return c in "\"')]}\u201d\u2019\u00bb\u300d\u300f\u3011\uff09"


cdef inline bint _is_line_space(Py_UCS4 c) noexcept:
    return c == " " or c == "\t" or c == "\r"


cdef bint _is_symbol(Py_UCS4 c) except -1:
    """Emoji and pictographs directly after a full stop stay with the sentence they end."""
    if c == 0x200D or c == 0xFE0F or c == 0xFE0E:
        return True
    return c > 0x2000 and unicodedata.category(chr(c)) in ("So", "Sk", "Mn")


cdef class _Rules:
    """The data the rules read: abbreviations and the two small patterns, from :mod:`app.text`."""

    cdef frozenset abbreviations, word_abbreviations, final_abbreviations
    cdef object bullet_number, url_start

    def __init__(self, abbreviations, word_abbreviations, final_abbreviations, bullet_number, url_start):
        self.abbreviations = frozenset(abbreviations)
        self.word_abbreviations = frozenset(word_abbreviations)
        self.final_abbreviations = frozenset(final_abbreviations)
        self.bullet_number = bullet_number
        self.url_start = url_start


def split_spans(str text, _Rules rules not None):
    """Sentence spans of ``text``: code points, half-open, whitespace-trimmed, in order."""
    cdef list spans = []
    cdef Py_ssize_t start, end, length = len(text), position = 0, newline, after
    # Blocks are separated by a blank line: a line break, spaces or tabs, a line break.
    newline = text.find("\n")
    while newline != -1:
        after = newline + 1
        while after < length and text[after] in " \t\r\f\v":
            after += 1
        if after < length and text[after] == "\n":
            _split_lines(text, position, newline, rules, spans)
            position = after + 1
            newline = text.find("\n", position)
        else:
            newline = text.find("\n", after)
    _split_lines(text, position, length, rules, spans)
    return spans


cdef int _split_lines(str text, Py_ssize_t start, Py_ssize_t end, _Rules rules, list spans) except -1:
    """A single line break ends a sentence unless the next line plainly continues it."""
    cdef Py_ssize_t line_start = start, newline
    while True:
        newline = text.find("\n", line_start, end)
        if newline == -1:
            _split_block(text, start, end, rules, spans)
            return 0
        if not _continues(text, newline, end, rules):
            _split_block(text, start, newline, rules, spans)
            start = newline + 1
        line_start = newline + 1


cdef bint _continues(str text, Py_ssize_t newline, Py_ssize_t end, _Rules rules) except -1:
    cdef Py_ssize_t before = newline - 1, after = newline + 1
    cdef Py_UCS4 last, first
    while before >= 0 and _is_line_space(text[before]):
        before -= 1
    while after < end and _is_line_space(text[after]):
        after += 1
    if before < 0 or after >= end:
        return False
    last, first = text[before], text[after]
    return (
        (last.isalnum() or last in ",;:-\u2013") and first.islower() and not _list_marker(text, after, end, rules)
    )


cdef bint _list_marker(str text, Py_ssize_t position, Py_ssize_t end, _Rules rules) except -1:
    cdef Py_ssize_t marker_end = position
    while marker_end < end and marker_end - position < 5 and text[marker_end].isalnum():
        marker_end += 1
    return (
        marker_end + 1 < end
        and text[marker_end] in ".)"
        and text[marker_end + 1] in " \t"
        and rules.bullet_number.fullmatch(text, position, marker_end) is not None
    )


cdef int _split_block(str text, Py_ssize_t start, Py_ssize_t end, _Rules rules, list spans) except -1:
    cdef list protected = _protected_ranges(text, start, end, rules)  # sorted by start
    cdef Py_ssize_t next_protected = 0, protected_until = start, n_protected = len(protected)
    cdef Py_ssize_t sentence_start = _skip_space(text, start, end), run_start, run_end = start, boundary
    cdef Py_ssize_t range_start, range_end
    while True:
        run_start = run_end
        while run_start < end and not _is_terminator(text[run_start]):
            run_start += 1
        if run_start >= end:
            break
        run_end = run_start + 1
        while run_end < end and _is_terminator(text[run_end]):
            run_end += 1
        # Runs come in order, so one forward walk over the protected ranges keeps this linear.
        while next_protected < n_protected:
            range_start, range_end = protected[next_protected]
            if range_start > run_start:
                break
            protected_until = max(protected_until, range_end)
            next_protected += 1
        if run_start < protected_until:
            continue
        boundary = _boundary_after(text, run_start, run_end, end, sentence_start, rules)
        if boundary >= 0:
            _add_trimmed(text, sentence_start, boundary, spans)
            sentence_start = _skip_space(text, boundary, end)
    _add_trimmed(text, sentence_start, end, spans)
    return 0


cdef Py_ssize_t _boundary_after(
    str text, Py_ssize_t run_start, Py_ssize_t run_end, Py_ssize_t end, Py_ssize_t sentence_start, _Rules rules
) except -2:
    """Where the sentence ends if the punctuation run at [run_start, run_end) ends one, else -1."""
    cdef Py_ssize_t close = run_end
    cdef Py_UCS4 last = text[run_end - 1], following
    cdef long next_char
    while close < end and (_is_closer(text[close]) or _is_symbol(text[close])):
        close += 1
    close = _absorb_trailing_symbols(text, close, end)
    if close >= end:
        return -1  # the block ends here anyway
    following = text[close]
    if not following.isspace():
        return close if _tight_break(text, run_start, run_end, close, following, rules) else -1
    next_char = _next_visible(text, close, end)
    if next_char == NO_CHAR or _is_terminator(<Py_UCS4>next_char):
        return -1  # more punctuation follows ("Wait. . . It works"): it ends the sentence instead
    if _is_tight_terminator(last) or last in "!?\u203c\u2047\u2048\u2049\u061f":
        return close
    if run_end - run_start == 1 and last == "." and not _full_stop_ends(text, run_start, sentence_start,
                                                                        <Py_UCS4>next_char, rules):
        return -1
    # An ellipsis, like any other stop, ends a sentence only when a new one visibly starts.
    return close if not (<Py_UCS4>next_char).islower() else -1


cdef bint _tight_break(
    str text, Py_ssize_t run_start, Py_ssize_t run_end, Py_ssize_t close, Py_UCS4 following, _Rules rules
) except -1:
    cdef Py_ssize_t word_start = run_start
    if _is_tight_terminator(text[run_end - 1]):
        return True
    if close > run_end:  # a closing quote or emoji, then text
        return following.isupper()
    if not (following.isupper() and close + 1 < len(text) and text[close + 1].islower()):
        return False
    while word_start > 0 and text[word_start - 1].isalpha():
        word_start -= 1
    if run_start - word_start < 2 or not text[run_start - 1].islower():
        return False
    return text[word_start:run_start].lower() not in rules.abbreviations


cdef Py_ssize_t _absorb_trailing_symbols(str text, Py_ssize_t close, Py_ssize_t end) except -1:
    cdef Py_ssize_t position = close, symbols_end
    while position < end and (text[position] == " " or text[position] == "\t"):
        position += 1
    symbols_end = position
    while symbols_end < end and _is_symbol(text[symbols_end]):
        symbols_end += 1
    if symbols_end > position and (symbols_end == end or text[symbols_end].isspace()):
        return symbols_end
    return close


cdef bint _full_stop_ends(
    str text, Py_ssize_t dot, Py_ssize_t sentence_start, Py_UCS4 next_char, _Rules rules
) except -1:
    cdef Py_ssize_t word_start = dot
    cdef Py_UCS4 before
    while word_start > sentence_start:
        before = text[word_start - 1]
        if before.isspace() or before == "(" or before == "[":
            break
        word_start -= 1
    word = text[word_start:dot].lower().strip("\"'\u201c\u2018")
    if word in rules.final_abbreviations:
        return not next_char.islower()
    if word in rules.word_abbreviations:
        return not (next_char.islower() or next_char.isdigit())
    if word in rules.abbreviations:
        return False
    if len(word) == 1 and word.isalpha():
        return False  # an initial, as in "J. Smith"
    if "." in word and all(len(part) <= 2 and part.isalpha() for part in word.split(".")):
        return False  # dotted initialisms: "U.S.", "a.m."
    if word_start == sentence_start and rules.bullet_number.fullmatch(word):
        return False  # "1. Rapid relief" or "b. Fewer visits": a list marker, not a sentence
    return not next_char.islower()


cdef inline Py_ssize_t _skip_space(str text, Py_ssize_t position, Py_ssize_t end) noexcept:
    while position < end and text[position].isspace():
        position += 1
    return position


cdef inline long _next_visible(str text, Py_ssize_t position, Py_ssize_t end) noexcept:
    while position < end:
        if not text[position].isspace():
            return <long>text[position]
        position += 1
    return NO_CHAR


cdef list _protected_ranges(str text, Py_ssize_t start, Py_ssize_t end, _Rules rules):
    """URLs and e-mail addresses, whose dots never end a sentence."""
    cdef list ranges = []
    cdef Py_ssize_t token_end, at, left, right
    lowered = text[start:end].lower()
    block = lowered if len(lowered) == end - start else None  # else lower-casing moved offsets
    # Resume after each URL, not after its "www.": "www.www.www..." must not rescan the rest.
    match = _find_url(text, block, start, start, end, rules)
    while match is not None:
        token_end = _token_end(text, match.end(), end)
        ranges.append((match.start(), token_end))
        match = _find_url(text, block, max(token_end, match.end()), start, end, rules)
    at = text.find("@", start, end)
    while at != -1:
        left = at
        while left > start and (text[left - 1].isalnum() or text[left - 1] in "._%+-"):
            left -= 1
        right = _token_end(text, at + 1, end)
        if left < at and text.find(".", at, right) != -1:
            ranges.append((left, right))
        at = text.find("@", right if right > at else at + 1, end)
    ranges.sort()
    return ranges


cdef object _find_url(str text, object block, Py_ssize_t position, Py_ssize_t start, Py_ssize_t end, _Rules rules):
    """``url_start.search(text, position, end)``, found with ``str.find`` in the block lower-cased
    (``block`` is ``text[start:end].lower()``): the regex engine has no fast scan for a
    case-insensitive alternation."""
    cdef Py_ssize_t http, www, candidate
    if block is None:
        return rules.url_start.search(text, position, end)
    while True:
        http = (<str>block).find("http", position - start)
        www = (<str>block).find("www.", position - start)
        if http < 0 and www < 0:
            return None
        candidate = start + (www if http < 0 else http if www < 0 else min(http, www))
        match = rules.url_start.match(text, candidate, end)
        if match is not None:
            return match
        position = candidate + 1


cdef Py_ssize_t _token_end(str text, Py_ssize_t position, Py_ssize_t end) except -1:
    """End of a URL-like token: up to whitespace, minus trailing punctuation that ends the sentence."""
    cdef Py_UCS4 c
    while position < end:
        c = text[position]
        if c.isspace() or c in '<>"':
            break
        position += 1
    while position > 0 and text[position - 1] in ".,;:!?)]\u2019\u201d'":
        position -= 1
    return position


cdef int _add_trimmed(str text, Py_ssize_t start, Py_ssize_t end, list spans) except -1:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if start < end:
        spans.append((start, end))
    return 0


def find_url(str text, object block, Py_ssize_t position, Py_ssize_t start, Py_ssize_t end, _Rules rules not None):
    """The URL search of :func:`_protected_ranges`, open to tests: it must find what
    ``rules.url_start.search(text, position, end)`` finds."""
    if not start <= position <= end <= len(text) or (block is not None and len(block) != end - start):
        raise ValueError("position must lie in [start, end], end in the text, and block span them")
    return _find_url(text, block, position, start, end, rules)


def has_astral(str text not None):
    """Whether some character of ``text`` is above U+FFFF, and so takes two UTF-16 code units.

    A string is stored in the narrowest of one, two or four bytes per character that holds its
    widest character (PEP 393), so only a four-byte string can hold one: for the rest (nearly
    all text) the answer costs nothing, and a four-byte string is scanned to make sure.
    """
    cdef Py_UCS4 c
    PyUnicode_READY(text)
    if PyUnicode_KIND(text) != PyUnicode_4BYTE_KIND:
        return False
    for c in text:
        if c > 0xFFFF:
            return True
    return False
