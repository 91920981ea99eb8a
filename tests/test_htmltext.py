"""Tests for app.htmltext: HTML read as browsers read it, in one pass, with exact offsets."""

from __future__ import annotations

import re
from typing import Any

import pytest

import app.htmltext as htmltext
from app.htmltext import html_visible
from tests.test_markup import assert_round_trip, assert_well_formed, normalise


def visible(source: str) -> str:
    return normalise(html_visible(source).text)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        # A quoted attribute value may hold ">"; the tag ends at the ">" after it.
        ("<p>Buy <a title='a > b' href=\"x>y\">now</a>.</p>", "Buy now."),
        # A quote opens a value only after "=": elsewhere it is part of an attribute name.
        ('<p>Buy <a x"y>now</a></p>', "Buy now"),
        # "<!-->" and "<!--->" are whole (empty) comments, so a later "-->" is text.
        ("a<!-->b-->c", "ab-->c"),
        ("a<!--->b", "ab"),
        ("a<!-- x --!>b", "ab"),
        # Script and style content is text up to the end tag, never markup.
        ("<script>if (a<b && c>d) { x = '</p>' }</script>Shown", "Shown"),
        ("<STYLE>p::after{content:'<b>'}</Style >Shown", "Shown"),
        ("<script/>hidden</script>Shown", "Shown"),
        # "<" not followed by an ASCII letter, "!", "?" or "/" is a character.
        ("1 < 2 and 3<4 <\u00e9t\u00e9>", "1 < 2 and 3<4 <\u00e9t\u00e9>"),
        # "</" before something other than a letter opens a bogus comment up to ">".
        ("a</ x>b</\u00e9>c</>d", "abcd"),
        ("a</", "a</"),
        # References decode as browsers decode them, semicolon or not.
        ("&amp &lt3 &#65;&#x42 &nosuch; &", "& <3 AB &nosuch; &"),
        # A construct still open at the end hides the rest, as on the page.
        ("<p>Shown</p><p>Cut <a href='x", "Shown Cut"),
        ("<p>Shown</p><!-- never closed <p>Hidden</p>", "Shown"),
        ("<p>Shown</p><!DOCTYPE html", "Shown"),
        # A declaration ends at the first ">", wherever that is.
        ("<!DOCTYPE html <p>Shown</p>", "Shown"),
        ('<p>Shown <b x="never closed>Hidden</b> <i>still</i>', "Shown"),
        ("<p>Shown</p><script>never closed", "Shown"),
    ],
)
def test_html_is_read_as_browsers_read_it(source: str, expected: str) -> None:
    assert visible(source) == expected
    assert_well_formed(html_visible(source), source)
    assert_round_trip(source, "html")


def test_block_tags_break_where_they_start_and_end() -> None:
    source = "<div>One</div><DIV class=x>Two</DIV>"
    result = html_visible(source)
    assert result.text == "\n\nOne\n\n\n\nTwo\n\n"
    assert result.starts is not None
    # a break stands for an empty span at the tag that made it
    assert result.starts[0] == 0
    assert result.starts[5] == source.index("</div>")
    assert result.starts[7] == source.index("<DIV")
    assert result.starts[9] == source.index("Two")


def test_decoded_reference_maps_to_the_whole_reference() -> None:
    source = "x &eacute; y"
    result = html_visible(source)
    assert result.text == "x \u00e9 y"
    assert result.to_source(2, 3) == (2, 10)


ADVERSARIAL = {
    "unclosed-tags": "<a " * 33_333,
    "quoted-gt-then-unclosed-quote": "<a x='>' " * 11_111 + "'",
    "unclosed-comments": "<!--" * 25_000,
    "unclosed-end-tags": "</a " * 25_000,
    "unclosed-declarations": "<!x" * 33_333,
    "unclosed-values": '<a b="' * 16_666,
    "script-end-tags-without-gt": "<script>" + "</script " * 11_111,
    "bare-brackets": "<" * 100_000,
    "ampersands": "&#" * 50_000,
}


@pytest.mark.parametrize("source", ADVERSARIAL.values(), ids=ADVERSARIAL.keys())
def test_markup_that_never_closes_is_scanned_once(source: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # html.parser retried every "<" of these against the rest of the document: minutes for the first.
    # Counting the characters the tag pattern is run over catches a rescan without timing anything.
    scanned = [0]

    class CountingPattern:
        def __init__(self, pattern: re.Pattern[str]) -> None:
            self.pattern = pattern

        def match(self, string: str, pos: int = 0) -> Any:
            found = self.pattern.match(string, pos)
            scanned[0] += (found.end() if found else len(string)) - pos
            return found

    monkeypatch.setattr(htmltext, "_TAG", CountingPattern(htmltext._TAG))
    result = html_visible(source)
    assert_well_formed(result, source)
    assert scanned[0] <= len(source)
