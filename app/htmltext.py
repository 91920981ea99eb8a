"""Visible text of HTML, tokenised as browsers do (a simplified WHATWG tokenizer), in one linear pass.

Why not ``html.parser``: on markup that never closes ("<a <a <a ..."), CPython 3.11's parser
retries each ``<`` against the rest of the document, and a 100,000-character request took two
minutes of a worker's scoring thread. Here every construct is matched once, with regular
expressions that cannot backtrack (possessive quantifiers), and a construct that never closes
runs to the end of the document, as the HTML standard says it does: a tag or comment left open at
the end hides the rest, it is not retried as text.

Scripts, styles, comments, the head (but its title) and SVG/MathML never reach the visible text;
block elements and line breaks become blank lines, which always end a sentence. Source
whitespace is layout, not structure: it becomes single spaces.
"""

from __future__ import annotations

import html
import re

from app.visible import Builder, Visible

__all__ = ["BLOCK_ELEMENTS", "html_visible"]

_HIDDEN_ELEMENTS = frozenset({"script", "style", "template", "noscript", "svg", "math", "head"})
_VISIBLE_IN_HEAD = frozenset({"title"})
# Elements whose content is text up to their end tag, never markup ("if (a<b) ..." in a script).
_RAW_TEXT_END = {name: re.compile(rf"</{name}[\t\n\f\r />]", re.IGNORECASE) for name in ("script", "style")}
BLOCK_ELEMENTS = frozenset(
    [
        "address",
        "article",
        "aside",
        "blockquote",
        "body",
        "br",
        "button",
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
        "html",
        "label",
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
    ]
)

# A start or end tag, whole. Attribute values in quotes may hold ">"; a quote opens a value only
# right after "=". Every repetition is possessive, so a tag that never closes fails in one scan.
_TAG = re.compile(
    r"""<(/?)([A-Za-z][^\t\n\f\r />]*+)"""
    r"""((?:[^>="']++|=[\t\n\f\r ]*+(?:"[^"]*+"|'[^']*+'|(?!["']))|["'])*+)>"""
)
_TAG_OPEN = re.compile(r"</?[A-Za-z]")
_COMMENT_REST = re.compile(r"-?>|.*?--!?>", re.DOTALL)  # what follows "<!--": "<!-->" is a whole comment
_MARKUP_OR_REFERENCE = re.compile(r"[<&]")
_REFERENCE = re.compile(r"&(?:#[xX][0-9A-Fa-f]++|#[0-9]++|[A-Za-z][A-Za-z0-9]*+);?")
_WHITESPACE = re.compile(r"\s")


def html_visible(source: str) -> Visible:
    return _Extractor(source).run()


class _Extractor:
    def __init__(self, source: str) -> None:
        self.source = source
        self.out = Builder()
        self.hidden: list[str] = []  # the open hidden elements, innermost last

    def run(self) -> Visible:
        source, end = self.source, len(self.source)
        position = 0
        while position < end:
            found = _MARKUP_OR_REFERENCE.search(source, position)
            stop = found.start() if found else end
            if stop > position:
                self._text(position, stop)
            if found is None:
                break
            position = self._reference(stop) if source[stop] == "&" else self._markup(stop)
        return self.out.build()

    def _is_hidden(self) -> bool:
        return bool(self.hidden) and self.hidden[-1] not in _VISIBLE_IN_HEAD

    def _text(self, start: int, end: int) -> None:
        if not self._is_hidden():
            self.out.emit_source(_WHITESPACE.sub(" ", self.source[start:end]), start)

    def _reference(self, start: int) -> int:
        """A character reference ("&amp;", "&#39;", "&eacute"), decoded; anything else is text."""
        found = _REFERENCE.match(self.source, start)
        if found is None:
            self._text(start, start + 1)
            return start + 1
        end = found.end()
        reference = self.source[start:end]
        decoded = html.unescape(reference)
        if decoded == reference:  # not a reference after all ("&unknown;"): shown as written
            self._text(start, end)
        elif not self._is_hidden():
            self.out.emit_decoded(_WHITESPACE.sub(" ", decoded), start, end)
        return end

    def _markup(self, start: int) -> int:
        """Handle the construct at ``source[start] == "<"``; where the text after it starts."""
        source, end = self.source, len(self.source)
        if _TAG_OPEN.match(source, start):
            tag = _TAG.match(source, start)
            if tag is None:
                return end  # a tag left open at the end of the document takes the rest with it
            name = tag.group(2).lower()
            if tag.group(1):
                self._end_tag(name, start)
                return tag.end()
            return self._start_tag(name, start, tag.end(), self_closing=tag.group(3).endswith("/"))
        if source.startswith("<!--", start):
            comment = _COMMENT_REST.match(source, start + 4)
            return comment.end() if comment else end
        following = source[start + 1 : start + 3]
        if following[:1] in ("!", "?") or (following[:1] == "/" and len(following) == 2):
            # "<!DOCTYPE ...>", "<?xml ...?>", "<![CDATA[...]>", "</ ...>": bogus comments, up to the next ">"
            close = source.find(">", start + 2)
            return close + 1 if close != -1 else end
        self._text(start, start + 1)  # "<" before a space, a digit, "<" or the end: just a character
        return start + 1

    def _start_tag(self, name: str, start: int, after: int, *, self_closing: bool) -> int:
        if name in BLOCK_ELEMENTS:
            self.out.emit_break(start)
        raw_text_end = _RAW_TEXT_END.get(name)
        if raw_text_end is not None:  # never self-closing in HTML: "<script/>" opens a script
            self.hidden.append(name)
            closing = raw_text_end.search(self.source, after)
            return closing.start() if closing else len(self.source)
        if not self_closing and (name in _HIDDEN_ELEMENTS or (self.hidden and name in _VISIBLE_IN_HEAD)):
            self.hidden.append(name)
        return after

    def _end_tag(self, name: str, start: int) -> None:
        if name in self.hidden:
            while self.hidden and self.hidden.pop() != name:
                pass
        if name in BLOCK_ELEMENTS:
            self.out.emit_break(start)
