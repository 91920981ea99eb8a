"""Tests for app.markup: visible text of HTML and Markdown and its map back into the source."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.markup import Format, Visible, extract_visible
from app.text import split_sentences


def normalise(text: str) -> str:
    return " ".join(text.split())


def visible_sentences(source: str, fmt: Format) -> list[str]:
    visible = extract_visible(source, fmt)
    return [visible.text[start:end] for start, end in split_sentences(visible.text)]


def source_sentences(source: str, fmt: Format) -> list[str]:
    visible = extract_visible(source, fmt)
    spans = [visible.to_source(start, end) for start, end in split_sentences(visible.text)]
    return [source[start:end] for start, end in spans]


def assert_round_trip(source: str, fmt: Format) -> None:
    """Every sentence's source span renders again as that same sentence."""
    visible = extract_visible(source, fmt)
    for start, end in split_sentences(visible.text):
        source_start, source_end = visible.to_source(start, end)
        assert 0 <= source_start < source_end <= len(source)
        again = extract_visible(source[source_start:source_end], fmt).text
        assert normalise(again) == normalise(visible.text[start:end]), source[source_start:source_end]


def assert_well_formed(visible: Visible, source: str) -> None:
    assert visible.starts is not None
    assert visible.ends is not None
    assert len(visible.starts) == len(visible.ends) == len(visible.text)
    previous = 0
    for start, end in zip(visible.starts, visible.ends, strict=True):
        assert previous <= start <= end <= len(source)
        previous = start


# --- Plain text ------------------------------------------------------------------------------


def test_plain_text_maps_to_itself() -> None:
    source = "<p>Not &amp; markup</p> *here*"
    visible = extract_visible(source, "text")
    assert visible.text == source
    assert visible.to_source(3, 6) == (3, 6)


# --- HTML ------------------------------------------------------------------------------------

HTML_CASES: list[tuple[str, list[str]]] = [
    # Scripts, styles, comments and the head never reach the visible text.
    (
        "<html><head><meta name='description' content='Cures cancer'><style>p{color:red}</style>"
        "<script>var claim = 'cures cancer';</script></head>"
        "<body><p>It works</p><!-- it cures cancer --><p>Buy now</p></body></html>",
        ["It works", "Buy now"],
    ),
    ("<head>Cures cancer</head><p>Shown</p>", ["Shown"]),
    ("<script>document.write('<p>Cures cancer</p>')</script><p>Visible</p>", ["Visible"]),
    ("<style>.claim::after { content: 'Cures cancer'; }</style>Visible", ["Visible"]),
    ("Before<!-- Cures cancer. -->after", ["Beforeafter"]),
    ("<noscript>Cures cancer</noscript><template><p>Cures cancer</p></template>Shown", ["Shown"]),
    ("<svg><text>Cures cancer</text></svg><p>Shown</p>", ["Shown"]),
    ("<!DOCTYPE html><?xml-stylesheet href='x'?><p>Shown</p>", ["Shown"]),
    ("<img src='x.png' alt='Cures cancer'><p>After the image</p>", ["After the image"]),
    # The page title is shown to readers (in the tab), so it is kept: it can carry a claim.
    ("<head><title>Miracle Cure</title><style>b{}</style></head><p>Body</p>", ["Miracle Cure", "Body"]),
    # Block elements, <br>, <li> and headings end sentences, even before lower case.
    ("<p>Fast relief</p><p>no side effects</p>", ["Fast relief", "no side effects"]),
    ("<div>Fast relief</div>no side effects", ["Fast relief", "no side effects"]),
    ("Fast relief<br>no side effects<br/>all natural", ["Fast relief", "no side effects", "all natural"]),
    ("<ul><li>Safe<li>natural</ul><ol><li>tested</li></ol>", ["Safe", "natural", "tested"]),
    ("<h1>Fast Relief</h1>works in minutes", ["Fast Relief", "works in minutes"]),
    ("<h2>Why it works</h2><p>clinically tested</p>", ["Why it works", "clinically tested"]),
    ("<table><tr><td>Fast relief</td><td>no pain</td></tr></table>", ["Fast relief", "no pain"]),
    # Inline elements and source line breaks do not.
    ("<p>This <b>works</b> <em>fast</em>.</p>", ["This works fast."]),
    ("<p>This cream reduces\nWrinkles in days</p>", ["This cream reduces Wrinkles in days"]),
    ("<p>Fast. <a href='https://x.y'>Buy now</a>.</p>", ["Fast.", "Buy now."]),
    # Entities are decoded.
    (
        "<p>Tom &amp; Jerry&#39;s cream &#x2014; best&nbsp;ever. Buy now.</p>",
        ["Tom & Jerry's cream \u2014 best ever.", "Buy now."],
    ),
    ("<p>Caf&eacute; &lt;3 &quot;best&quot;</p>", ['Caf\u00e9 <3 "best"']),
    ("<p>A &amp B &unknown; C</p>", ["A & B &unknown; C"]),
    # Unclosed and broken markup does not crash.
    ("<p>Unclosed <b>bold <i>text", ["Unclosed bold text"]),
    ("<div><p>Broken</div> text <span>here", ["Broken", "text here"]),
    ("<p>Trailing <", ["Trailing <"]),
    ("</p></div>Stray end tags", ["Stray end tags"]),
    ("<script>never closed. Cures cancer.", []),
    ("", []),
]


@pytest.mark.parametrize(("source", "expected"), HTML_CASES, ids=[repr(s)[:40] for s, _ in HTML_CASES])
def test_html_visible_sentences(source: str, expected: list[str]) -> None:
    assert [normalise(sentence) for sentence in visible_sentences(source, "html")] == expected


@pytest.mark.parametrize("source", [source for source, _ in HTML_CASES], ids=[repr(s)[:40] for s, _ in HTML_CASES])
def test_html_round_trip(source: str) -> None:
    assert_round_trip(source, "html")
    assert_well_formed(extract_visible(source, "html"), source)


@pytest.mark.parametrize(
    ("source", "first_word"),
    [
        ("<p>Trailing <a href='x", "Trailing"),
        ("<p>Fast <", "Fast"),
        ("<div", ""),
        ("<!-- unterminated", ""),
        ("<p>Shown</p><![CDATA[x", "Shown"),
        ("&#x", "&#x"),
        ("<</>", "<"),
        # Malformed "<![...": a bogus comment up to the next ">" (CPython's parser raised AssertionError on these).
        ("<![0", ""),
        ("<p>Before<![foo x]>after</p>", "Beforeafter"),
        ("<p>Before<![0 x]>after</p>", "Beforeafter"),
    ],
)
def test_html_truncated_markup_does_not_crash(source: str, first_word: str) -> None:
    visible = extract_visible(source, "html")
    assert_well_formed(visible, source)
    assert normalise(visible.text).startswith(first_word)
    assert_round_trip(source, "html")


def test_html_malformed_marked_section_keeps_offsets() -> None:
    source = "<p>x<![0]>Buy now</p>"
    assert source_sentences(source, "html") == ["x<![0]>Buy now"]
    visible = extract_visible(source, "html")
    buy = visible.text.index("Buy")
    assert source[slice(*visible.to_source(buy, buy + 3))] == "Buy"


def test_html_entity_maps_to_whole_entity() -> None:
    source = "<p>&ldquo;Tom &amp; Jerry&rdquo; &#x2014; best&nbsp;ever.</p><p>Next</p>"
    assert source_sentences(source, "html") == [
        "&ldquo;Tom &amp; Jerry&rdquo; &#x2014; best&nbsp;ever.",
        "Next",
    ]
    visible = extract_visible(source, "html")
    ampersand = visible.text.index("&")
    start, end = visible.to_source(ampersand, ampersand + 1)
    assert source[start:end] == "&amp;"


def test_html_sentence_maps_to_its_source_span() -> None:
    source = "<div><h1>Fast Relief</h1><p>It <b>really</b> works. Buy now!</p></div>"
    assert source_sentences(source, "html") == ["Fast Relief", "It <b>really</b> works.", "Buy now!"]


# --- Markdown --------------------------------------------------------------------------------

MARKDOWN_CASES: list[tuple[str, list[str]]] = [
    # ATX and setext headings.
    ("# Fast relief\nno side effects", ["Fast relief", "no side effects"]),
    ("## Closing hashes ##\nBody", ["Closing hashes", "Body"]),
    (
        "Fast relief\n===========\nNo side effects\n\nSubhead\n-------\nBody text",
        ["Fast relief", "No side effects", "Subhead", "Body text"],
    ),
    # Emphasis and strong emphasis are hidden markup.
    (
        "This is *very* **effective** and _safe_ and __proven__ and ***both***.",
        ["This is very effective and safe and proven and both."],
    ),
    ("*Buy now* today. Try **this**", ["Buy now today.", "Try this"]),
    ("snake_case_name and 2 * 3 = 6 stay", ["snake_case_name and 2 * 3 = 6 stay"]),
    # Links keep their text and hide the URL; images are hidden.
    ("Read [our study](https://example.com/study) today.", ["Read our study today."]),
    ("Read [our study](https://example.com/study)", ["Read our study"]),
    ("[Click here](https://x.y) for more.", ["Click here for more."]),
    ("Nested [link with *emph* text](http://x.y) ok.", ["Nested link with emph text ok."]),
    ("Before ![Cures cancer](img.png) after.", ["Before after."]),
    ("Visit <https://example.com> now.", ["Visit https://example.com now."]),
    # Inline code is kept; fenced code blocks are skipped.
    ("Use `code.run()` daily. Then rest.", ["Use code.run() daily.", "Then rest."]),
    ("Run ``a ` b`` now", ["Run a ` b now"]),
    ("Intro.\n\n```python\nprint('Cures cancer.')\n```\n\nOutro.", ["Intro.", "Outro."]),
    ("~~~\nCures cancer\n~~~\nShown", ["Shown"]),
    ("```\nunterminated fence hides the rest", []),
    # List items and table cells are separate sentences.
    (
        "- Safe\n- natural\n* tested\n+ proven\n1. first\n2) second",
        ["Safe", "natural", "tested", "proven", "first", "second"],
    ),
    (
        "| Benefit | Proof |\n|---|---|\n| Fast relief | study A |",
        ["Benefit", "Proof", "Fast relief", "study A"],
    ),
    # Blockquotes.
    ("> Quoted claim here.\n> Still quoted.", ["Quoted claim here.", "Still quoted."]),
    ("> > Nested quote", ["Nested quote"]),
    # Escapes.
    ("Escaped \\*not emphasis\\* and 1\\. not a list", ["Escaped *not emphasis* and 1. not a list"]),
    ("\\# Not a heading", ["# Not a heading"]),
    # Reference definitions are skipped.
    (
        "See [the study][1].\n\n[1]: https://example.com/study\n\nMore text.",
        ["See the study.", "More text."],
    ),
    # Paragraphs, breaks and rules.
    ("Soft\nwrapped line", ["Soft wrapped line"]),
    ("Line with hard break  \nnext line", ["Line with hard break", "next line"]),
    ("Text then backslash\\\nnext", ["Text then backslash", "next"]),
    ("Above\n\n---\n\nbelow", ["Above", "below"]),
    # Entities and inline HTML.
    ("Tom &amp; Jerry &copy; 2024", ["Tom & Jerry \u00a9 2024"]),
    ("<div>Block html</div> inline <b>bold</b>", ["Block html", "inline bold"]),
    # Broken markup.
    ("[unclosed link", ["[unclosed link"]),
    ("![unclosed image", ["![unclosed image"]),
    ("", []),
]


@pytest.mark.parametrize(("source", "expected"), MARKDOWN_CASES, ids=[repr(s)[:40] for s, _ in MARKDOWN_CASES])
def test_markdown_visible_sentences(source: str, expected: list[str]) -> None:
    assert [normalise(sentence) for sentence in visible_sentences(source, "markdown")] == expected


@pytest.mark.parametrize(
    "source", [source for source, _ in MARKDOWN_CASES], ids=[repr(s)[:40] for s, _ in MARKDOWN_CASES]
)
def test_markdown_round_trip(source: str) -> None:
    assert_round_trip(source, "markdown")
    assert_well_formed(extract_visible(source, "markdown"), source)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("Read [our study](https://x.y)", ["Read [our study](https://x.y)"]),
        ("[Click here](https://x.y) for more.", ["[Click here](https://x.y) for more."]),
        ("- [Buy now](https://shop.example)", ["[Buy now](https://shop.example)"]),
        ("Use `code`", ["Use `code`"]),
        ("`code` rocks", ["`code` rocks"]),
        ("Visit <https://example.com>", ["Visit <https://example.com>"]),
        ("\\*Results may vary", ["\\*Results may vary"]),
        ("# Fast relief #\nTom &amp; Jerry", ["Fast relief", "Tom &amp; Jerry"]),
    ],
)
def test_markdown_sentence_maps_to_whole_markup(source: str, expected: list[str]) -> None:
    assert source_sentences(source, "markdown") == expected


def test_markdown_span_inside_link_text_stays_inside() -> None:
    # Evidence inside a link's text points at that text, not at the link's URL.
    source = "Read [our study](https://x.y) today"
    visible = extract_visible(source, "markdown")
    start = visible.text.index("study")
    source_start, source_end = visible.to_source(start, start + len("study"))
    assert source[source_start:source_end] == "study"


def test_markdown_code_inside_link() -> None:
    source = "[`x` y](u) z"
    visible = extract_visible(source, "markdown")
    x = visible.text.index("x")
    assert source[slice(*visible.to_source(x, x + 1))] == "`x`"
    assert source[slice(*visible.to_source(x, x + 3))] == "[`x` y](u)"
    assert source[slice(*visible.to_source(x + 2, x + 3))] == "y"


def test_markdown_deeply_nested_links() -> None:
    depth = 5_000
    source = "[" * depth + "Buy now" + "](u)" * depth
    assert visible_sentences(source, "markdown") == ["Buy now"]
    assert source_sentences(source, "markdown") == [source]


@pytest.mark.parametrize(
    "source",
    [
        " " * 100_000 + "x",
        "-" + " " * 100_000 + "x",
        "# a" + " " * 100_000 + "b",
        "<!--" * 25_000,
        "[" + "<!--" * 25_000 + "](u)",
        "[" * 100_000,
        "[a][" * 25_000,
        "<a" + "b" * 100_000,
    ],
    ids=[
        "leading-spaces",
        "trailing-spaces",
        "heading-spaces",
        "comments",
        "comments-in-link",
        "brackets",
        "bracket-pairs",
        "long-tag-name",
    ],
)
def test_markdown_adversarial_inputs_finish(source: str) -> None:
    # Each of these took from seconds to minutes before (quadratic backtracking or rescans).
    assert_well_formed(extract_visible(source, "markdown"), source)


# --- Properties ------------------------------------------------------------------------------

ANY_CHARACTER = st.characters(codec=None, exclude_categories=())
MARKUP_FRAGMENTS = st.sampled_from(
    [
        "<p>",
        "</p>",
        "<br>",
        "<br/>",
        "<b>",
        "</b>",
        "<li>",
        "<div>",
        "</div>",
        "<head>",
        "</head>",
        "<title>",
        "</title>",
        "<script>",
        "</script>",
        "<style>",
        "<!--",
        "-->",
        "<!",
        "<?",
        "<a href='",
        "&amp;",
        "&#39;",
        "&#x2014;",
        "&nbsp;",
        "&#x;",
        "&#99999999;",
        "&",
        "<",
        ">",
        "\n",
        "\r\n",
        "\n\n",
        "\r",
        " ",
        "  \n",
        "\\",
        "\\\n",
        "# ",
        "=== ",
        "\n---\n",
        "*",
        "**",
        "_",
        "~~",
        "`",
        "``",
        "```",
        "~~~",
        "[",
        "]",
        "(",
        ")",
        "![",
        "](u)",
        "][1]",
        "[1]: http://x",
        "> ",
        "- ",
        "1. ",
        "|",
        "|---|",
        "<https://x.y>",
        "\x00",
        "\ud800",
        "\U0001f389",
        "e\u0301",
        "\u05e9\u05dc\u05d5\u05dd",
        "Buy now. ",
        "it works",
    ]
)
MARKUP = st.lists(st.one_of(st.text(ANY_CHARACTER, max_size=6), MARKUP_FRAGMENTS), max_size=30).map("".join)
PROPERTY_SETTINGS = settings(max_examples=300, deadline=None)


@PROPERTY_SETTINGS
@given(source=st.one_of(st.text(ANY_CHARACTER), MARKUP), fmt=st.sampled_from(["html", "markdown"]))
def test_visible_map_is_well_formed(source: str, fmt: Format) -> None:
    visible = extract_visible(source, fmt)
    assert_well_formed(visible, source)
    assert visible.starts is not None
    assert visible.ends is not None
    for index, char in enumerate(visible.text):
        if visible.ends[index] - visible.starts[index] == 1 and not char.isspace():
            assert source[visible.starts[index]] == char  # copied characters point at themselves
    for start, end in split_sentences(visible.text):
        source_start, source_end = visible.to_source(start, end)
        assert 0 <= source_start <= source_end <= len(source)


# Well-formed documents built from the constructs above: the round trip must hold for all.
WORDS = st.sampled_from(["Buy", "now", "it", "works", "fast", "Relief", "Dr. Lee", "U.S.", "2.5 mg", "etc."])
GLUE = st.sampled_from([" ", " ", ". ", "! ", "? ", ", ", "... "])
MARKDOWN_INLINE = st.one_of(
    WORDS,
    WORDS.map(lambda word: f"*{word}*"),
    WORDS.map(lambda word: f"**{word}**"),
    WORDS.map(lambda word: f"_{word}_"),
    st.sampled_from(["[buy now](https://x.y/z)", "[Our study](u)", "`x`", "``a`b``", "![Cure](i.png)"]),
    st.sampled_from(["&amp;", "&copy;", "\\*", "\\_", "<https://e.com>", "<b>bold</b>"]),
)
MARKDOWN_LINE = st.tuples(
    st.sampled_from(["", "", "# ", "## ", "- ", "* ", "1. ", "> ", "| "]),
    st.lists(st.tuples(MARKDOWN_INLINE, GLUE).map("".join), min_size=1, max_size=6).map("".join),
).map("".join)
MARKDOWN_DOCUMENTS = st.lists(
    st.one_of(MARKDOWN_LINE, st.sampled_from(["", "---", "```\ncode. Here\n```", "[1]: http://x"])),
    min_size=1,
    max_size=6,
).map("\n".join)
HTML_LEAVES = st.one_of(
    WORDS,
    GLUE,
    st.sampled_from(["&amp;", "&#39;", "&#x2014;", "&nbsp;", "&ldquo;", "<br>", "<!-- c -->", "\n"]),
)
HTML_DOCUMENTS = st.recursive(
    HTML_LEAVES,
    lambda children: st.tuples(
        st.sampled_from(["p", "div", "b", "i", "a", "li", "h1", "span", "em", "td"]),
        st.lists(children, max_size=4),
    ).map(lambda node: f"<{node[0]}>{''.join(node[1])}</{node[0]}>"),
    max_leaves=20,
)


@PROPERTY_SETTINGS
@given(MARKDOWN_DOCUMENTS)
def test_markdown_round_trip_property(source: str) -> None:
    assert_round_trip(source, "markdown")


@PROPERTY_SETTINGS
@given(st.lists(HTML_DOCUMENTS, min_size=1, max_size=5).map("".join))
def test_html_round_trip_property(source: str) -> None:
    assert_round_trip(source, "html")
