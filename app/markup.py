"""Visible text of HTML and Markdown, with an exact map back into the submitted markup.

Scoring runs on the visible text; every visible character remembers the source span it
came from, so sentence and evidence offsets point into what the client sent. Scripts,
styles, comments and markup syntax never reach the visible text; block elements, list
items, headings and line breaks become blank lines, which always end a sentence. HTML is
read by :mod:`app.htmltext`; Markdown here.
"""

from __future__ import annotations

import html
import re
from bisect import bisect_left

from app.htmltext import BLOCK_ELEMENTS, html_visible
from app.visible import Builder, Format, Visible

__all__ = ["Format", "Visible", "extract_visible"]


def extract_visible(source: str, fmt: Format) -> Visible:
    if fmt == "html":
        return html_visible(source)
    if fmt == "markdown":
        return _markdown_visible(source)
    return Visible(source)


# --- Markdown -------------------------------------------------------------------------------

_FENCE = re.compile(r" {0,3}(`{3,}|~{3,})")
_RULE = re.compile(r" {0,3}([-*_=])[ \t]*(?:\1[ \t]*){2,}$")
_REFERENCE_DEFINITION = re.compile(r" {0,3}\[[^\]]+\]:[ \t]*\S")
# No two adjacent runs of the same characters (as in "[ \t]*\|?[ \t]*"): a near miss must not
# backtrack quadratically over a long run of spaces.
_TABLE_DIVIDER = re.compile(r"[ \t]*(?:\|[ \t]*)?:?-+:?[ \t]*(?:\|[ \t]*:?-+:?[ \t]*)*(?:\|[ \t]*)?$")
_BLOCK_PREFIX = re.compile(r"[ \t]*(?:>[ \t]?)*[ \t]*(?:(#{1,6})(?:[ \t]+|$)|[-*+][ \t]+|\d{1,9}[.)][ \t]+)?")
_HTML_TAG = re.compile(r"</?([a-zA-Z][a-zA-Z0-9-]*+)[^<>]*>")  # possessive: no backtracking
_AUTOLINK = re.compile(r"<((?:https?|mailto):[^<>\s]+)>")
_ENTITY = re.compile(r"&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[a-zA-Z][a-zA-Z0-9]{1,31});")
_ESCAPABLE = frozenset("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")


def _markdown_visible(source: str) -> Visible:
    out = Builder()
    fence: str | None = None
    in_paragraph = False
    position = 0
    for line in source.splitlines(keepends=True):
        line_start, position = position, position + len(line)
        body = line.rstrip("\r\n")
        fence_match = _FENCE.match(body)
        if fence is not None:
            if fence_match and fence_match.group(1)[0] == fence[0] and len(fence_match.group(1)) >= len(fence):
                fence = None
            continue
        if fence_match:
            fence = fence_match.group(1)
            out.emit_break(line_start)
            in_paragraph = False
            continue
        if not body.strip() or _RULE.match(body) or (_TABLE_DIVIDER.match(body) and "-" in body):
            out.emit_break(line_start)
            in_paragraph = False
            continue
        if _REFERENCE_DEFINITION.match(body):
            continue
        prefix = _BLOCK_PREFIX.match(body)
        content_start = prefix.end() if prefix else 0
        content_end = len(body)
        starts_block = bool(prefix and prefix.group(0).strip())
        if prefix and prefix.group(1):
            content_end = _closing_hashes(body, content_start)
        hard_break = body.endswith("  ") or body.endswith("\\")
        if starts_block or not in_paragraph:
            out.emit_break(line_start)
        else:
            out.emit_decoded(" ", line_start - 1, line_start)  # a soft break joins the paragraph
        _inline(source, line_start + content_start, line_start + content_end - (body.endswith("\\")), out)
        in_paragraph = not (prefix and prefix.group(1)) and not hard_break
        if not in_paragraph:
            out.emit_break(position)
    return out.build()


def _closing_hashes(body: str, start: int) -> int:
    """Where the content of an ATX heading ends: before "  ##" closing it, if any."""
    end = len(body.rstrip(" \t"))
    hashes = end
    while hashes > start and body[hashes - 1] == "#":
        hashes -= 1
    spaces = hashes
    while spaces > start and body[spaces - 1] in " \t":
        spaces -= 1
    return spaces if start <= spaces < hashes < end else len(body)


def _inline(source: str, start: int, end: int, out: Builder) -> None:
    line = _Line(source, start, end)
    # Links nest; an explicit stack (resume at, outer end, first visible index, link start)
    # instead of recursion keeps "[[[[...]]]]" from exhausting the Python stack.
    links: list[tuple[int, int, int, int]] = []
    i = start
    while True:
        if i >= end:
            if not links:
                return
            resume, end, first, link_start = links.pop()
            out.wrap(first, link_start, resume)
            i = resume
            continue
        char = source[i]
        if char == "\\" and i + 1 < end and source[i + 1] in _ESCAPABLE:
            out.emit_decoded(source[i + 1], i, i + 2)  # the backslash belongs to the character
            i += 2
        elif char == "`":
            i = _code_span(source, i, end, out)
        elif char == "!" and source.startswith("[", i + 1):
            closed = line.link_end(i + 1, end)
            if closed is None:
                out.emit_source(char, i)
                i += 1
            else:
                i = closed[1]  # images carry alt text, which is not visible prose
        elif char == "[":
            closed = line.link_end(i, end)
            if closed is None:
                out.emit_source(char, i)
                i += 1
            else:
                links.append((closed[1], end, len(out.starts), i))
                i, end = i + 1, closed[0]
        elif char == "<":
            i = _angle(source, i, end, out, line)
        elif char == "&" and (entity := _ENTITY.match(source, i, end)):
            out.emit_decoded(html.unescape(entity.group(0)), i, entity.end())
            i = entity.end()
        elif char in "*_~":
            i = _delimiter_run(source, i, end, out)
        elif char == "|":
            out.emit_break(i)
            i += 1
        else:
            out.emit_source(char, i)
            i += 1


def _code_span(source: str, i: int, end: int, out: Builder) -> int:
    run_end = i
    while run_end < end and source[run_end] == "`":
        run_end += 1
    ticks = source[i:run_end]
    close = source.find(ticks, run_end, end)
    if close == -1:
        out.emit_source(ticks, i)
        return run_end
    first = len(out.starts)
    out.emit_source(source[run_end:close], run_end)
    out.wrap(first, i, close + len(ticks))
    return close + len(ticks)


class _Line:
    """Where the brackets and comment ends of one line are, found in a single pass, so that
    links and comments cost linear time in all, however many of them never close."""

    def __init__(self, source: str, start: int, end: int) -> None:
        self.source = source
        self.matching: dict[int, int] = {}  # "[" -> its "]", skipping backslash escapes
        self.closers: dict[str, list[int]] = {"]": [], ")": []}  # every "]" and ")", escaped or not
        opened: list[int] = []
        escaped = False
        for i in range(start, end):
            char = source[i]
            if char in self.closers:
                self.closers[char].append(i)
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == "[":
                opened.append(i)
            elif char == "]" and opened:
                self.matching[opened.pop()] = i
        self.comment_ends: list[int] = []  # every "-->"
        close = source.find("-->", start, end)
        while close != -1:
            self.comment_ends.append(close)
            close = source.find("-->", close + 1, end)

    def link_end(self, bracket: int, end: int) -> tuple[int, int] | None:
        """For ``[text](target)`` or ``[text][ref]`` at ``bracket``: (end of text, end of link)."""
        text_end = self.matching.get(bracket, end)
        if text_end >= end:
            return None
        closer = {"(": ")", "[": "]"}.get(self.source[text_end + 1 : text_end + 2])
        if closer is None:
            return None
        close = _first_at_or_after(self.closers[closer], text_end + 2)
        return None if close is None or close >= end else (text_end, close + 1)

    def comment_end(self, opener: int, end: int) -> int | None:
        """For a ``<!--`` at ``opener``: the end of the comment, if it closes before ``end``."""
        close = _first_at_or_after(self.comment_ends, opener + 4)
        return None if close is None or close + 3 > end else close + 3


def _first_at_or_after(positions: list[int], position: int) -> int | None:
    index = bisect_left(positions, position)
    return positions[index] if index < len(positions) else None


def _angle(source: str, i: int, end: int, out: Builder, line: _Line) -> int:
    if autolink := _AUTOLINK.match(source, i, end):
        first = len(out.starts)
        out.emit_source(autolink.group(1), i + 1)
        out.wrap(first, i, autolink.end())
        return autolink.end()
    if source.startswith("<!--", i, end) and (comment_end := line.comment_end(i, end)) is not None:
        return comment_end
    if tag := _HTML_TAG.match(source, i, end):
        if tag.group(1) and tag.group(1).lower() in BLOCK_ELEMENTS:
            out.emit_break(i)
        return tag.end()
    out.emit_source("<", i)
    return i + 1


def _delimiter_run(source: str, i: int, end: int, out: Builder) -> int:
    """Emphasis markers are hidden; a lone ``*`` between spaces or ``_`` inside a word is text."""
    run_end = i
    while run_end < end and source[run_end] == source[i]:
        run_end += 1
    before = source[i - 1] if i > 0 else " "
    after = source[run_end] if run_end < end else " "
    literal = (before.isspace() and after.isspace()) or (source[i] == "_" and before.isalnum() and after.isalnum())
    if source[i] == "~" and run_end - i == 1:
        literal = True
    if literal:
        out.emit_source(source[i:run_end], i)
    return run_end
