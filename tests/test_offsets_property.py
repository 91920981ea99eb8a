"""The offset contract of POST /score, as properties over arbitrary Unicode.

For format "text", every sentence and evidence span is exact twice over: ``text[start:end]`` (code points)
and the same slice of the UTF-16 code units (what JavaScript indexes) both equal the reported text. Sentences
come in order, never overlap, are trimmed, and together cover every non-whitespace character.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

CLAIMS = [
    "Our pills cure diabetes.",
    "Guaranteed results in 3 days!",
    "FDA approved and completely safe.",
    "Clinically proven to work better than ibuprofen.",
    "This miracle patch cures arthritis for good",
    "Talk to your doctor before use.",
]
ODD = [
    "\r\n",
    "\r\n\r\n",
    "\n\n",
    "\r",
    "\x00",
    "\t",
    " ",
    "\u00a0",
    "\u2028",
    "\x1e",
    "\u200e",  # left-to-right mark
    "\u200f",  # right-to-left mark
    "\u202e",  # right-to-left override
    "\ufeff",
    "e\u0301",  # e + combining acute
    "\u0301\u0308",  # combining marks with nothing to combine with
    "\U0001f680",
    "\U0001f468\u200d\U0001f469\u200d\U0001f467",  # family: a ZWJ sequence of astral characters
    "\U0001f1eb\U0001f1f7",  # a flag: two regional indicators
    "\U0001d400",  # mathematical bold capital A
    "مرحبا بالعالم.",
    "هذا الدواء يشفي السكري تماما!",
    "שלום עולם.",
    "你好。这个药能治愈糖尿病\uff01",  # ends with a full-width exclamation mark
    "नमस्ते। यह दवा मधुमेह ठीक करती है।",
    "...",
    "?!",
    "Dr. ",
    "e.g. ",
    "https://example.com/a.b?c=d. ",
    "\u201cquoted.\u201d ",
    "\n1. ",
    "\n- ",
]
PIECES = st.one_of(st.sampled_from(CLAIMS + ODD), st.text(max_size=20))
LONE_SURROGATES = st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)


def _not_blank(text: str) -> bool:
    return any(not char.isspace() for char in text)


TEXTS = st.lists(PIECES, min_size=1, max_size=25).map("".join).filter(_not_blank)
TEXTS_WITH_SURROGATES = (
    st.lists(st.one_of(PIECES, LONE_SURROGATES), min_size=1, max_size=25).map("".join).filter(_not_blank)
)
SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def utf16_units(text: str) -> bytes:
    return text.encode("utf-16-le", "surrogatepass")


def utf16_slice(units: bytes, start: int, end: int) -> str:
    return units[2 * start : 2 * end].decode("utf-16-le", "surrogatepass")


def assert_span(text: str, units: bytes, span: dict[str, Any]) -> None:
    """A span names the same text by code points and by UTF-16 units, and the positions agree."""
    assert 0 <= span["start"] < span["end"] <= len(text), span
    assert text[span["start"] : span["end"]] == span["text"], span
    assert utf16_slice(units, span["start_utf16"], span["end_utf16"]) == span["text"], span
    assert span["start_utf16"] == len(utf16_units(text[: span["start"]])) // 2, span
    assert span["end_utf16"] == len(utf16_units(text[: span["end"]])) // 2, span


def assert_offset_contract(text: str, body: dict[str, Any]) -> int:
    """Checks every sentence and evidence span of a /score body; returns how many evidence spans it saw."""
    units = utf16_units(text)
    covered = [False] * len(text)
    previous_end = 0
    evidence_seen = 0
    for index, sentence in enumerate(body["sentences"]):
        assert sentence["index"] == index
        assert_span(text, units, sentence)
        assert sentence["start"] >= previous_end, "sentences overlap or are out of order"
        assert not text[sentence["start"]].isspace() and not text[sentence["end"] - 1].isspace(), "not trimmed"
        previous_end = sentence["end"]
        covered[sentence["start"] : sentence["end"]] = [True] * (sentence["end"] - sentence["start"])
        for flag in sentence["flags"]:
            for evidence in flag["evidence"]:
                assert_span(text, units, evidence)
                assert sentence["start"] <= evidence["start"] and evidence["end"] <= sentence["end"]
                evidence_seen += 1
    uncovered = [i for i, char in enumerate(text) if not char.isspace() and not covered[i]]
    assert not uncovered, f"characters in no sentence: {[text[i] for i in uncovered]!r}"
    assert body["summary"]["sentences"] == len(body["sentences"])
    return evidence_seen


def score_raw(client: TestClient, payload: dict[str, Any]) -> dict[str, Any]:
    """POST a raw JSON body: json.dumps escapes lone surrogates as \\udXXX, which the JSON standard allows."""
    response = client.post("/score", content=json.dumps(payload), headers={"content-type": "application/json"})
    assert response.status_code == 200, response.text[:500]
    body: dict[str, Any] = response.json()
    return body


@SETTINGS
@given(text=TEXTS)
@example(text="\U0001f680\U0001f680 Our cream cures eczema overnight.\r\nGuaranteed!\x00 \u05e9\u05dc\u05d5\u05dd.")
@example(text="e\u0301\u0301 FDA approved.\r\n\r\n\U0001f468\u200d\U0001f469 Miracle cure!")
def test_offsets_hold_for_arbitrary_unicode(client: TestClient, text: str) -> None:
    response = client.post("/score", json={"text": text})
    assert response.status_code == 200, response.text[:500]
    assert_offset_contract(text, response.json())


@SETTINGS
@given(text=TEXTS_WITH_SURROGATES)
@example(text="\ud83d Our pills cure diabetes.\udc00 Guaranteed results \udfff!")
@example(text="\udbff")
def test_offsets_hold_with_lone_surrogates(client: TestClient, text: str) -> None:
    # What the server sees: a surrogate pair written as two escapes decodes to one astral character.
    sent = json.loads(json.dumps(text))
    assert_offset_contract(sent, score_raw(client, {"text": sent, "id": sent[:256]}))


@SETTINGS
@given(text=TEXTS, fmt=st.sampled_from(["html", "markdown"]))
def test_markup_offsets_are_ordered_and_agree_in_both_units(client: TestClient, text: str, fmt: str) -> None:
    """For HTML and Markdown the sentence text is the visible text, so only positions are compared: in range,
    ordered, non-overlapping, and the UTF-16 offsets name the same places as the code-point ones."""
    body = score_raw(client, {"text": text, "format": fmt})
    units = utf16_units(text)
    previous_end = 0
    for sentence in body["sentences"]:
        spans = [sentence, *(e for flag in sentence["flags"] for e in flag["evidence"])]
        for span in spans:
            assert 0 <= span["start"] <= span["end"] <= len(text), span
            assert span["start_utf16"] == len(utf16_units(text[: span["start"]])) // 2, span
            assert span["end_utf16"] == len(utf16_units(text[: span["end"]])) // 2, span
            assert span["end_utf16"] <= len(units) // 2
        assert sentence["start"] >= previous_end, "sentences overlap or are out of order"
        previous_end = sentence["end"]


def test_the_properties_see_evidence_spans(client: TestClient) -> None:
    """The evidence branch of the contract is exercised, not vacuous: claims next to astral characters."""
    text = (
        "\U0001f680 Our pills cure diabetes. \U0001f468\u200d\U0001f469 This miracle patch \ud800 cures "
        "arthritis for good."
    )
    assert assert_offset_contract(text, score_raw(client, {"text": text})) >= 1
