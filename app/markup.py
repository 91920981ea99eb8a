"""Visible text of HTML and Markdown, with an exact map back into the submitted markup.

Scoring runs on the visible text; every visible character remembers the source span it
came from, so sentence and evidence offsets point into what the client sent. Scripts,
styles, comments and markup syntax never reach the visible text; block elements, list
items, headings and line breaks become blank lines, which always end a sentence.
"""

from __future__ import annotations

import html
import re
from bisect import bisect_left
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Literal

__all__ = ["Format", "Visible", "extract_visible"]

Format = Literal["text", "html", "markdown"]

_BLOCK_BREAK = "\n\n"


@dataclass(frozen=True, slots=True)
class Visible:
    """Visible text plus, per visible character, the source span it stands for.

    ``starts``/``ends`` are ``None`` for plain text, where visible and source coincide.
    """

    text: str
    starts: list[int] | None = None
    ends: list[int] | None = None
    # Markup wrapped around visible text ("[text](url)", "`code`", "<https://...>"), keyed by
    # the visible index of its first (last) character: (its last (first) index, source edge).
    wrapped_starts: dict[int, list[tuple[int, int]]] = field(default_factory=dict)
    wrapped_ends: dict[int, list[tuple[int, int]]] = field(default_factory=dict)

    def to_source(self, start: int, end: int) -> tuple[int, int]:
        """Map a non-empty visible span to the source span that renders as it."""
        if self.starts is None or self.ends is None:
            return start, end
        source_start, source_end = self.starts[start], self.ends[end - 1]
        # A span that covers a whole link or code span takes its markup along: "Read [our
        # study](url)", not "Read [our study", which would render as different text.
        for last, outer_start in self.wrapped_starts.get(start, ()):
            if last < end:
                source_start = min(source_start, outer_start)
        for first, outer_end in self.wrapped_ends.get(end - 1, ()):
            if first >= start:
                source_end = max(source_end, outer_end)
        return source_start, source_end


class _Builder:
    def __init__(self) -> None:
        self.pieces: list[str] = []
        self.starts: list[int] = []
        self.ends: list[int] = []
        self.wrapped_starts: dict[int, list[tuple[int, int]]] = {}
        self.wrapped_ends: dict[int, list[tuple[int, int]]] = {}

    def emit_source(self, text: str, position: int) -> None:
        """Visible text copied one to one from ``source[position:position + len(text)]``."""
        self.pieces.append(text)
        self.starts.extend(range(position, position + len(text)))
        self.ends.extend(range(position + 1, position + len(text) + 1))

    def emit_decoded(self, text: str, start: int, end: int) -> None:
        """Visible text that stands for a whole source span (an entity, say)."""
        self.pieces.append(text)
        self.starts.extend([start] * len(text))
        self.ends.extend([end] * len(text))

    def emit_break(self, position: int, text: str = _BLOCK_BREAK) -> None:
        self.emit_decoded(text, position, position)

    def wrap(self, first: int, start: int, end: int) -> None:
        """The visible characters emitted since index ``first`` are wrapped in ``source[start:end]``."""
        last = len(self.starts) - 1
        if first <= last:
            self.wrapped_starts.setdefault(first, []).append((last, start))
            self.wrapped_ends.setdefault(last, []).append((first, end))

    def build(self) -> Visible:
        return Visible("".join(self.pieces), self.starts, self.ends, self.wrapped_starts, self.wrapped_ends)


def extract_visible(source: str, fmt: Format) -> Visible:
    if fmt == "html":
        return _HtmlExtractor(source).extract()
    if fmt == "markdown":
        return _markdown_visible(source)
    return Visible(source)


# --- HTML -----------------------------------------------------------------------------------

_HIDDEN_ELEMENTS = frozenset({"script", "style", "template", "noscript", "svg", "math", "head"})
_VISIBLE_IN_HEAD = frozenset({"title"})
_BLOCK_ELEMENTS = frozenset(
    [
        "address",
        "article",
        "aside",
        "blockquote",
        "br",
        "caption",
        "dd",
        "details",
        "dialog",
        "div",
        "dl",
        "dt",
        "fieldset",
        "figcaption",
        "figure",
        "footer",
        "form",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "header",
        "hr",
        "li",
        "main",
        "nav",
        "ol",
        "option",
        "p",
        "pre",
        "section",
        "summary",
        "table",
        "tbody",
        "td",
        "tfoot",
        "th",
        "thead",
        "title",
        "tr",
        "ul",
        "body",
        "html",
        "button",
        "label",
    ]
)
_WHITESPACE = re.compile(r"\s")


class _HtmlExtractor(HTMLParser):
    def __init__(self, source: str) -> None:
        super().__init__(convert_charrefs=False)
        self.source = source
        self.line_starts = [0] + [m.end() for m in re.finditer("\n", source)]
        self.out = _Builder()
        self.hidden: list[str] = []

    def extract(self) -> Visible:
        self.feed(self.source)
        self.close()
        return self.out.build()

    def _offset(self) -> int:
        line, column = self.getpos()
        return self.line_starts[line - 1] + column

    def _is_hidden(self) -> bool:
        return bool(self.hidden) and self.hidden[-1] not in _VISIBLE_IN_HEAD

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCK_ELEMENTS:
            self.out.emit_break(self._offset())
        if tag in _HIDDEN_ELEMENTS or (self.hidden and tag in _VISIBLE_IN_HEAD):
            self.hidden.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCK_ELEMENTS:
            self.out.emit_break(self._offset())

    def handle_endtag(self, tag: str) -> None:
        if tag in self.hidden:
            while self.hidden and self.hidden.pop() != tag:
                pass
        if tag in _BLOCK_ELEMENTS:
            self.out.emit_break(self._offset())

    def handle_data(self, data: str) -> None:
        if self._is_hidden():
            return
        # Source whitespace is layout, not structure: only elements end sentences in HTML.
        self.out.emit_source(_WHITESPACE.sub(" ", data), self._offset())

    def handle_entityref(self, name: str) -> None:
        self._emit_reference(f"&{name}")

    def handle_charref(self, name: str) -> None:
        self._emit_reference(f"&#{name}")

    def _emit_reference(self, reference: str) -> None:
        if self._is_hidden():
            return
        start = self._offset()
        end = start + len(reference)
        if self.source.startswith(";", end):
            end += 1
        decoded = html.unescape(self.source[start:end])
        if decoded == self.source[start:end]:
            self.out.emit_source(decoded, start)
        else:
            self.out.emit_decoded(_WHITESPACE.sub(" ", decoded), start, end)

    # Comments, doctypes and processing instructions are markup, never text.
    def handle_comment(self, data: str) -> None:
        pass

    def handle_decl(self, decl: str) -> None:
        pass

    def handle_pi(self, data: str) -> None:
        pass

    def unknown_decl(self, data: str) -> None:
        pass

    def parse_marked_section(self, i: int, report: bool = True) -> int:
        # CPython's parser raises AssertionError on a malformed "<![0" or "<![foo ...]>";
        # browsers treat it as a bogus comment up to the next ">", and so do we.
        position = self.lineno, self.offset
        try:
            return super().parse_marked_section(i, report)
        except AssertionError:
            self.lineno, self.offset = position  # it moved the position before raising
            close = self.rawdata.find(">", i + 3)
            return -1 if close == -1 else close + 1


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
    out = _Builder()
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


def _inline(source: str, start: int, end: int, out: _Builder) -> None:
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


def _code_span(source: str, i: int, end: int, out: _Builder) -> int:
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


def _angle(source: str, i: int, end: int, out: _Builder, line: _Line) -> int:
    if autolink := _AUTOLINK.match(source, i, end):
        first = len(out.starts)
        out.emit_source(autolink.group(1), i + 1)
        out.wrap(first, i, autolink.end())
        return autolink.end()
    if source.startswith("<!--", i, end) and (comment_end := line.comment_end(i, end)) is not None:
        return comment_end
    if tag := _HTML_TAG.match(source, i, end):
        if tag.group(1) and tag.group(1).lower() in _BLOCK_ELEMENTS:
            out.emit_break(i)
        return tag.end()
    out.emit_source("<", i)
    return i + 1


def _delimiter_run(source: str, i: int, end: int, out: _Builder) -> int:
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
