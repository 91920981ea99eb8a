"""Tests for app.text: sentence spans and UTF-16 offsets."""

# The cases use real CJK and Urdu punctuation on purpose.
# ruff: noqa: RUF001

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app._splitter import find_url
from app.text import _RULES, _URL_START, has_astral, split_sentences, utf16_offsets


def sentences(text: str) -> list[str]:
    return [text[start:end] for start, end in split_sentences(text)]


CASES: list[tuple[str, list[str]]] = [
    # Headings and list items without final punctuation: one sentence per line.
    ("Natural Relief\nBuy now", ["Natural Relief", "Buy now"]),
    ("Why It Works\nClinically Tested\nOrder Today", ["Why It Works", "Clinically Tested", "Order Today"]),
    ("Benefits:\nFaster recovery", ["Benefits:", "Faster recovery"]),
    # Bulleted lists.
    (
        "- Fast relief\n- No side effects\n* Clinically tested\n• Safe for kids",
        ["- Fast relief", "- No side effects", "* Clinically tested", "• Safe for kids"],
    ),
    ("Benefits:\n- no pain\n- no fuss", ["Benefits:", "- no pain", "- no fuss"]),
    # Numbered and lettered lists: never split after the marker.
    ("1. Fast relief", ["1. Fast relief"]),
    ("1. Fast relief\n2. Lasts all day", ["1. Fast relief", "2. Lasts all day"]),
    ("10. Fast relief\n11. No pain", ["10. Fast relief", "11. No pain"]),
    ("1. Fast relief. 2. Lasts all day.", ["1. Fast relief.", "2. Lasts all day."]),
    ("  1. Fast relief", ["1. Fast relief"]),
    ("a. Fast relief\nb. No pain", ["a. Fast relief", "b. No pain"]),
    ("a) Fast relief\nb) No pain", ["a) Fast relief", "b) No pain"]),
    ("iv. Fewer visits", ["iv. Fewer visits"]),
    # Abbreviations.
    ("Dr. Smith recommends it. It works.", ["Dr. Smith recommends it.", "It works."]),
    ("Ask Dr. Lee, M.D. today.", ["Ask Dr. Lee, M.D. today."]),
    ("Use herbs, e.g. Ginger or mint. Take daily.", ["Use herbs, e.g. Ginger or mint.", "Take daily."]),
    ("Use herbs, i.e. ginger. Take daily.", ["Use herbs, i.e. ginger.", "Take daily."]),
    ("Made in the U.S. by experts. Buy now.", ["Made in the U.S. by experts.", "Buy now."]),
    ("Approved by the U.S. FDA in May.", ["Approved by the U.S. FDA in May."]),
    ("Rated No. 1 by doctors. Try it.", ["Rated No. 1 by doctors.", "Try it."]),
    ("Rated No. 1. Try it.", ["Rated No. 1.", "Try it."]),
    ("Just say no. It works.", ["Just say no.", "It works."]),
    ("Relax in the sun. It heals.", ["Relax in the sun.", "It heals."]),
    ("See Fig. 2 for results. Buy now.", ["See Fig. 2 for results.", "Buy now."]),
    ("Take at 8 a.m. and 9 p.m. daily. It helps.", ["Take at 8 a.m. and 9 p.m. daily.", "It helps."]),
    ("Vitamins, minerals, etc. are included. Buy now.", ["Vitamins, minerals, etc. are included.", "Buy now."]),
    ("Vitamins, minerals, etc. Order today.", ["Vitamins, minerals, etc.", "Order today."]),
    ("Ours vs. Theirs: no contest. Buy now.", ["Ours vs. Theirs: no contest.", "Buy now."]),
    ("Written by J. Smith. Read it.", ["Written by J. Smith.", "Read it."]),
    # Decimals, doses and prices.
    ("Take 2.5 mg daily. Apply 0.5% cream.", ["Take 2.5 mg daily.", "Apply 0.5% cream."]),
    ("Contains 0.5% retinol and 2.5 mg zinc.", ["Contains 0.5% retinol and 2.5 mg zinc."]),
    ("Only $9.99. Order now.", ["Only $9.99.", "Order now."]),
    ("Costs 3.50. Order now.", ["Costs 3.50.", "Order now."]),
    # URLs and e-mail addresses, with a sentence-final full stop after them.
    (
        "Visit https://example.com/a.b?x=1. It works.",
        ["Visit https://example.com/a.b?x=1.", "It works."],
    ),
    ("Visit www.Example.Com today. It works.", ["Visit www.Example.Com today.", "It works."]),
    ("Visit www.example.com. It works.", ["Visit www.example.com.", "It works."]),
    ("Visit (https://example.com). Order now.", ["Visit (https://example.com).", "Order now."]),
    ("Email info@example.co.uk. We reply fast.", ["Email info@example.co.uk.", "We reply fast."]),
    ("Email Help@Example.Com! We reply.", ["Email Help@Example.Com!", "We reply."]),
    # Quotes and parentheses after a full stop.
    ('He said "It works." Then he left.', ['He said "It works."', "Then he left."]),
    ("\u201cBest cream ever.\u201d Jane loved it.", ["\u201cBest cream ever.\u201d", "Jane loved it."]),
    ("It cures colds (really.) Try it.", ["It cures colds (really.)", "Try it."]),
    ("It cures colds. (Really.) Try it.", ["It cures colds.", "(Really.)", "Try it."]),
    ("Try it.) Now.", ["Try it.)", "Now."]),
    # Ellipses: lower case continues the sentence, upper case starts a new one.
    ("Wait... it works.", ["Wait... it works."]),
    ("Wait... It works.", ["Wait...", "It works."]),
    ("Wait\u2026 it works.", ["Wait\u2026 it works."]),
    ("Wait\u2026 It works.", ["Wait\u2026", "It works."]),
    ("Wait. . . It works.", ["Wait. . .", "It works."]),
    # Runs of ! and ?.
    ("Really?! Yes.", ["Really?!", "Yes."]),
    ("Really!? Yes!!! Order now.", ["Really!?", "Yes!!!", "Order now."]),
    ("Tired?\nTry our tea.", ["Tired?", "Try our tea."]),
    # Emoji after a sentence stay with it.
    ("Amazing! \U0001f389 Book now.", ["Amazing! \U0001f389", "Book now."]),
    ("Amazing!\U0001f389 Book now.", ["Amazing!\U0001f389", "Book now."]),
    ("Glow. \U0001f44d\U0001f3fd Book now.", ["Glow. \U0001f44d\U0001f3fd", "Book now."]),
    (
        "Family size! \U0001f468\u200d\U0001f469\u200d\U0001f467 Book now.",
        ["Family size! \U0001f468\u200d\U0001f469\u200d\U0001f467", "Book now."],
    ),
    ("Made here! \U0001f1fa\U0001f1f8 Buy now.", ["Made here! \U0001f1fa\U0001f1f8", "Buy now."]),
    # A missing space after a full stop.
    ("No more anxiety.It works.", ["No more anxiety.", "It works."]),
    ("Say goodbye to pain.Order now!", ["Say goodbye to pain.", "Order now!"]),
    ("Built on ASP.NET and Node.js today.", ["Built on ASP.NET and Node.js today."]),
    # Non-Latin scripts.
    (
        "这是神药。它能治愈癌症！真的吗？是的。",
        ["这是神药。", "它能治愈癌症！", "真的吗？", "是的。"],
    ),
    ("它说：\u201c很好。\u201d然后走了。", ["它说：\u201c很好。\u201d", "然后走了。"]),
    ("यह दवा है। यह काम करती है।", ["यह दवा है।", "यह काम करती है।"]),
    ("هل يعمل؟ نعم يعمل.", ["هل يعمل؟", "نعم يعمل."]),
    ("الدواء فعال. جربه الآن.", ["الدواء فعال.", "جربه الآن."]),
    ("یہ دوا ہے۔ یہ کام کرتی ہے۔", ["یہ دوا ہے۔", "یہ کام کرتی ہے۔"]),
    ("Это лекарство. Оно работает.", ["Это лекарство.", "Оно работает."]),
    ("Αυτό είναι φάρμακο. Λειτουργεί.", ["Αυτό είναι φάρμακο.", "Λειτουργεί."]),
    ("Hola. ¿Funciona? ¡Sí!", ["Hola.", "¿Funciona?", "¡Sí!"]),
    # Hard-wrapped lines that continue in lower case.
    (
        "This cream reduces\nwrinkles in days. Try it.",
        ["This cream reduces\nwrinkles in days.", "Try it."],
    ),
    ("We are the best,\nand we know it.", ["We are the best,\nand we know it."]),
    ("It works.\nand fast", ["It works.", "and fast"]),
    # Blank lines always end a sentence.
    ("One.\n\nTwo\n\n\nThree", ["One.", "Two", "Three"]),
    ("We are the best,\n\nand we know it", ["We are the best,", "and we know it"]),
    ("First\n   \t \nSecond", ["First", "Second"]),
    # CRLF line endings.
    (
        "First line\r\nSecond line\r\n\r\nThird. Fourth.",
        ["First line", "Second line", "Third.", "Fourth."],
    ),
    ("This cream reduces\r\nwrinkles fast.\r\n", ["This cream reduces\r\nwrinkles fast."]),
    # Empty and whitespace-only text.
    ("", []),
    ("   ", []),
    ("   \n\t \r\n\n ", []),
    # Surrounding whitespace is trimmed.
    ("   Fast relief.   Buy now.   ", ["Fast relief.", "Buy now."]),
]


@pytest.mark.parametrize(("text", "expected"), CASES, ids=[repr(text)[:40] for text, _ in CASES])
def test_split_sentences(text: str, expected: list[str]) -> None:
    assert sentences(text) == expected


def test_spans_are_code_point_offsets() -> None:
    text = "\U0001f600 Fast. Buy."
    assert split_sentences(text) == [(0, 7), (8, 12)]


def test_long_text_without_punctuation_is_one_span() -> None:
    text = "word " * 200_000
    assert len(text) == 1_000_000
    assert split_sentences(text) == [(0, 999_999)]


@pytest.mark.parametrize(
    "text",
    [
        "www." * 25_000,
        "http://" * 15_000,
        "a@b.c " * 20_000,
        "It works. " + " " * 50_000 + "Dr. " * 25_000,
    ],
    ids=["www-run", "http-run", "emails", "abbreviations-after-whitespace"],
)
def test_adversarial_inputs_finish(text: str) -> None:
    # These took minutes before the scans were made linear; now they are instant.
    spans = split_sentences(text)
    assert spans
    assert spans[-1][1] == len(text.rstrip())


@pytest.mark.parametrize(
    ("text", "offsets", "expected"),
    [
        ("", [0], [0]),
        ("abc", [0, 1, 3], [0, 1, 3]),
        ("héllo", [0, 2, 5], [0, 2, 5]),
        ("\U0001f600a", [0, 1, 2], [0, 2, 3]),
        ("a\U0001f600b\U0001f389c", [0, 1, 2, 3, 4, 5], [0, 1, 3, 4, 6, 7]),
        ("\ud800x", [0, 1, 2], [0, 1, 2]),
    ],
)
def test_utf16_offsets(text: str, offsets: list[int], expected: list[int]) -> None:
    assert utf16_offsets(text, offsets) == expected
    assert has_astral(text) == (expected != offsets)


# --- Properties ------------------------------------------------------------------------------

ANY_CHARACTER = st.characters(codec=None, exclude_categories=())
FRAGMENTS = st.sampled_from(
    [
        ". ",
        ".",
        "...",
        "\u2026",
        "?! ",
        "!",
        "\u3002",
        "\u0964",
        "\u061f",
        "\r\n",
        "\n",
        "\n\n",
        "\r",
        " ",
        "\t",
        "\x00",
        "\ud800",
        "\udfff",
        "\u00a0",
        "\u2028",
        "\U0001f389",
        "\u200d",
        "\ufe0f",
        "e\u0301",
        "\u0301",
        "\u05e9\u05dc\u05d5\u05dd",
        "\u0645\u0631\u062d\u0628\u0627",
        "\u202e",
        "Dr.",
        "U.S.",
        "1. ",
        "a. ",
        "www.",
        "https://x.y",
        "@",
        "a@b.c",
        '"',
        ")",
        "\u201d",
        "It",
        "it",
        "2.5",
    ]
)
TEXTS = st.lists(st.one_of(st.text(ANY_CHARACTER, max_size=8), FRAGMENTS), max_size=30).map("".join)
PROPERTY_SETTINGS = settings(max_examples=300, deadline=None)


@PROPERTY_SETTINGS
@given(TEXTS)
def test_spans_are_sorted_trimmed_and_cover_all_non_whitespace(text: str) -> None:
    spans = split_sentences(text)
    covered = [False] * len(text)
    previous_end = 0
    for start, end in spans:
        assert previous_end <= start < end <= len(text)
        assert not text[start].isspace()
        assert not text[end - 1].isspace()
        for index in range(start, end):
            covered[index] = True
        previous_end = end
    for index, char in enumerate(text):
        assert covered[index] or char.isspace(), (index, char)


@PROPERTY_SETTINGS
@given(st.text(ANY_CHARACTER))
def test_spans_of_plain_arbitrary_text(text: str) -> None:
    spans = split_sentences(text)
    assert spans == sorted(spans)
    visible = sum(1 for char in text if not char.isspace())
    assert sum(1 for start, end in spans for char in text[start:end] if not char.isspace()) == visible


@PROPERTY_SETTINGS
@given(st.one_of(st.text(ANY_CHARACTER), TEXTS))
def test_has_astral_says_whether_a_character_is_above_the_bmp(text: str) -> None:
    assert has_astral(text) == any(ord(char) > 0xFFFF for char in text)


@PROPERTY_SETTINGS
@given(TEXTS)
def test_utf16_offsets_match_encoding(text: str) -> None:
    offsets = list(range(len(text) + 1))
    expected = [len(text[:offset].encode("utf-16-le", "surrogatepass")) // 2 for offset in offsets]
    assert utf16_offsets(text, offsets) == expected


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet="hHtTpPsSwW:/.\u017f\u0130 x\n@", max_size=60), st.data())
def test_url_search_by_find_equals_the_case_insensitive_regex(text: str, data: st.DataObject) -> None:
    start = data.draw(st.integers(0, len(text)))
    end = data.draw(st.integers(start, len(text)))
    lowered = text[start:end].lower()
    block = lowered if len(lowered) == end - start else None
    for position in range(start, end + 1):
        expected = _URL_START.search(text, position, end)
        found = find_url(text, block, position, start, end, _RULES)
        assert (found.span() if found else None) == (expected.span() if expected else None)


def test_url_search_refuses_offsets_outside_the_text_or_the_block() -> None:
    with pytest.raises(ValueError, match="position must lie"):
        find_url("www.example.com", None, 9, 0, 4, _RULES)
    with pytest.raises(ValueError, match="position must lie"):
        find_url("www.example.com", "www.", 0, 0, 8, _RULES)
