"""Inputs that try to break the API: every one gets a deliberate answer in the error shape, never a 500."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from tests.conftest import make_client

JSON = {"content-type": "application/json"}
NDJSON = {"content-type": "application/x-ndjson"}
TEN_MB = 10_000_000  # the default CLAIMSCAN_MAX_REQUEST_BYTES
SCRIPT_MARKER = "zxqscript"  # appears only inside <script> and <style>
UNPUNCTUATED = "word " * 199_999 + "words"  # 1,000,000 characters, one run-on sentence


def assert_error(body: Any, code: str) -> dict[str, Any]:
    """The one error shape: {"error": {"code": str, "message": str, "details": ...}}, nothing else."""
    assert isinstance(body, dict) and set(body) == {"error"}, body
    error = body["error"]
    assert isinstance(error, dict) and set(error) == {"code", "message", "details"}, error
    assert isinstance(error["code"], str) and isinstance(error["message"], str) and error["message"]
    assert error["code"] == code, error
    return error


def assert_item_error(item: Any, code: str) -> dict[str, Any]:
    """A batch item that failed: its id (if it had one) plus the same error shape."""
    assert set(item) == {"id", "error"}, item
    return assert_error({"error": item["error"]}, code)


def assert_scored(item: Any) -> None:
    assert {"summary", "sentences", "document_flags", "model_version"} <= set(item), item
    assert item["summary"]["sentences"] == len(item["sentences"]) >= 1


def ndjson_lines(response: Response) -> list[Any]:
    assert response.headers["content-type"].startswith("application/x-ndjson")
    # Split on "\n" only: str.splitlines would also split inside strings holding U+2028, U+0085 or U+001C.
    return [json.loads(line) for line in response.text.split("\n") if line]


def nested(depth: int, leaf: str = "1") -> str:
    return "[" * depth + leaf + "]" * depth


def nested_objects(depth: int) -> str:
    return '{"text": ' * depth + '"x"' + "}" * depth


# --- checks for the rows that succeed, or partly succeed ---------------------------------------


def check_html(response: Response) -> None:
    sentences = response.json()["sentences"]
    texts = [s["text"] for s in sentences]
    assert texts and all(SCRIPT_MARKER not in text for text in texts), texts
    assert any("drops cure tinnitus" in text for text in texts), texts
    assert any("Still visible" in text for text in texts), texts
    source = HTML
    for sentence in sentences:
        assert 0 <= sentence["start"] < sentence["end"] <= len(source)
        assert SCRIPT_MARKER not in source[sentence["start"] : sentence["end"]]


def check_batch_isolates_bad_documents(response: Response) -> None:
    results = response.json()["results"]
    assert len(results) == 6
    assert_scored(results[0])
    assert results[0]["id"] == "good-1"
    assert assert_item_error(results[1], "validation_error")["details"][0]["loc"] == ["text"]
    assert results[1]["id"] == "bad"
    assert_item_error(results[2], "validation_error")  # not an object at all
    assert_item_error(results[3], "validation_error")  # 50 levels of nesting
    assert_item_error(results[4], "payload_too_large")  # over the per-document character limit
    assert_scored(results[5])
    assert results[5]["id"] == "good-2"


def check_ndjson_broken_line(response: Response) -> None:
    out = ndjson_lines(response)
    assert len(out) == 5
    assert_scored(out[0])
    assert assert_item_error(out[1], "malformed_json")["details"] == {"line": 2}
    assert assert_item_error(out[2], "malformed_json")["details"] == {"line": 3}  # invalid UTF-8
    assert assert_item_error(out[3], "validation_error")["details"]["line"] == 4  # a JSON array
    assert_scored(out[4])
    assert out[4]["id"] == "last"


def check_ndjson_long_line(response: Response) -> None:
    out = ndjson_lines(response)
    assert len(out) == 3
    assert_scored(out[0])
    assert assert_item_error(out[1], "payload_too_large")["details"] == {"line": 2, "limit_bytes": TEN_MB}
    assert out[2]["id"] == "after"


def check_lone_surrogates(response: Response) -> None:
    body = response.json()  # json.loads turns the escapes back into lone surrogates
    assert body["id"] == "\udc00-id"
    assert "".join(s["text"] for s in body["sentences"]).count("\ud800") == 1


def check_batch_lone_surrogates(response: Response) -> None:
    results = response.json()["results"]
    assert_scored(results[0])
    assert "\udfff" in results[0]["sentences"][0]["text"]


def check_ndjson_lone_surrogates(response: Response) -> None:
    out = ndjson_lines(response)
    assert len(out) == 1
    assert out[0]["id"] == "\ud83d"
    assert_scored(out[0])


# --- the table ----------------------------------------------------------------------------------

HTML = (
    "<html><head><title>Relief clinic</title><script>var cure = '" + SCRIPT_MARKER + " cures all';</script>"
    "<style>.x::after { content: '" + SCRIPT_MARKER + "' }</style></head><body>"
    "<p>Our drops cure tinnitus fast.<div>Unclosed <b>bold <i>and italic<p>Still visible"
    "<script>document.write('<p>" + SCRIPT_MARKER + "</p>')</script>"
    "<table><tr><td>cell <a href='x'>link"
    "<script>var never = '" + SCRIPT_MARKER + " closed"
)


def chunked(total: int) -> Callable[[], Iterator[bytes]]:
    """A body with no Content-Length, so only the streaming count can catch it."""

    def body() -> Iterator[bytes]:
        yield b'{"text": "'
        for _ in range(total // 1_000_000):
            yield b"a" * 1_000_000
        yield b"a" * (total % 1_000_000) + b'"}'

    return body


class Hostile(NamedTuple):
    path: str
    content: bytes | Callable[[], Iterator[bytes]]
    headers: dict[str, str]
    status: int
    code: str | None  # the error code, or None for a 200 that the check inspects
    check: Callable[[Response], None] | None = None


def row(name: str, *args: Any, **kwargs: Any) -> Any:
    return pytest.param(Hostile(*args, **kwargs), id=name)


def doc(text: str, **fields: Any) -> dict[str, Any]:
    return {"text": text, **fields}


HOSTILE = [
    # Bodies that are not JSON, or not the JSON we want.
    row("empty-body", "/score", b"", JSON, 422, "validation_error"),
    row("empty-body-batch", "/score/batch", b"", JSON, 400, "malformed_json"),
    row("invalid-utf8", "/score", b'{"text": "caf\xe9 \xff\xfe cures"}', JSON, 400, "malformed_json"),
    row("invalid-utf8-batch", "/score/batch", b'{"documents": [{"text": "\xc3\x28"}]}', JSON, 400, "malformed_json"),
    row("truncated-json", "/score", b'{"text": "Our pills cure', JSON, 400, "malformed_json"),
    row("json-array", "/score", b'[{"text": "Our pills cure acne."}]', JSON, 422, "validation_error"),
    row("json-array-batch", "/score/batch", b'[{"text": "Our pills cure acne."}]', JSON, 422, "validation_error"),
    row("json-number", "/score", b"42", JSON, 422, "validation_error"),
    row("json-number-batch", "/score/batch", b"1e999999", JSON, 422, "validation_error"),
    row("json-null", "/score", b"null", JSON, 422, "validation_error"),
    row("json-string", "/score", b'"Our pills cure acne."', JSON, 422, "validation_error"),
    row("nested-50-arrays", "/score", nested(50).encode(), JSON, 422, "validation_error"),
    row("nested-50-in-text", "/score", f'{{"text": {nested(50)}}}'.encode(), JSON, 422, "validation_error"),
    row("nested-50-objects", "/score", nested_objects(50).encode(), JSON, 422, "validation_error"),
    row("nested-50-batch", "/score/batch", f'{{"documents": {nested(50)}}}'.encode(), JSON, 200, None),
    row("nested-100k", "/score", nested(100_000).encode(), JSON, 400, "malformed_json"),
    row("nested-100k-unclosed", "/score", b"[" * 100_000, JSON, 400, "malformed_json"),
    row("nested-100k-batch", "/score/batch", nested(100_000).encode(), JSON, 400, "malformed_json"),
    # Size limits.
    row("body-over-10mb", "/score", b'{"text": "' + b"a" * (TEN_MB - 11) + b'"}', JSON, 413, "payload_too_large"),
    row("body-over-10mb-chunked", "/score", chunked(TEN_MB - 10), JSON, 413, "payload_too_large"),
    row("batch-over-10mb-chunked", "/score/batch", chunked(TEN_MB - 10), JSON, 413, "payload_too_large"),
    row("1m-chars-no-punctuation", "/score", json.dumps(doc(UNPUNCTUATED)).encode(), JSON, 413, "payload_too_large"),
    # Markup that tries to smuggle text in.
    row(
        "html-scripts-unclosed-tags",
        "/score",
        json.dumps(doc(HTML, format="html")).encode(),
        JSON,
        200,
        None,
        check_html,
    ),
    # Batches: one bad document never fails the others.
    row(
        "batch-one-bad-document",
        "/score/batch",
        json.dumps(
            {
                "documents": [
                    doc("Our pills cure diabetes.", id="good-1"),
                    {"id": "bad", "text": 12},
                    "not an object",
                    json.loads(nested(50)),
                    doc("x" * 100_001),
                    doc("Talk to your doctor before use.", id="good-2"),
                ]
            }
        ).encode(),
        JSON,
        200,
        None,
        check_batch_isolates_bad_documents,
    ),
    row(
        "ndjson-broken-line",
        "/score/batch",
        b'{"text": "Guaranteed to end back pain."}\n{"text": "broken\n{"text": "\xff\xfe"}\r\n[1, 2]\n\n'
        b'{"id": "last", "text": "Open on Sundays."}',
        NDJSON,
        200,
        None,
        check_ndjson_broken_line,
    ),
    row(
        "ndjson-line-over-10mb",
        "/score/batch",
        b'{"text": "ok."}\n{"text": "' + b"a" * TEN_MB + b'"}\n{"id": "after", "text": "Fine."}\n',
        NDJSON,
        200,
        None,
        check_ndjson_long_line,
    ),
    # Fields the schema does not have, and values of the wrong type.
    row("unknown-field", "/score", b'{"text": "Fine.", "colour": "red"}', JSON, 422, "validation_error"),
    row("unknown-field-batch", "/score/batch", b'{"documents": [], "extra": 1}', JSON, 422, "validation_error"),
    row("text-is-number", "/score", b'{"text": 42}', JSON, 422, "validation_error"),
    row("text-is-null", "/score", b'{"text": null}', JSON, 422, "validation_error"),
    row("text-is-list", "/score", b'{"text": ["Our pills cure acne."]}', JSON, 422, "validation_error"),
    row("explain-is-string", "/score", b'{"text": "Fine.", "explain": "true"}', JSON, 422, "validation_error"),
    row("labels-is-string", "/score", b'{"text": "Fine.", "labels": "evidence_claim"}', JSON, 422, "validation_error"),
    row("id-is-number", "/score", b'{"text": "Fine.", "id": 7}', JSON, 422, "validation_error"),
    row("documents-is-object", "/score/batch", b'{"documents": {"text": "Fine."}}', JSON, 422, "validation_error"),
    # Content types that are not JSON.
    row("text-plain", "/score", b'{"text": "Fine."}', {"content-type": "text/plain"}, 415, "unsupported_media_type"),
    row(
        "form",
        "/score",
        b"text=Fine.",
        {"content-type": "application/x-www-form-urlencoded"},
        415,
        "unsupported_media_type",
    ),
    row("xml", "/score", b"<text>Fine.</text>", {"content-type": "application/xml"}, 415, "unsupported_media_type"),
    row(
        "multipart",
        "/score",
        b"--x--",
        {"content-type": "multipart/form-data; boundary=x"},
        415,
        "unsupported_media_type",
    ),
    row("text-plain-batch", "/score/batch", b"Fine.", {"content-type": "text/plain"}, 415, "unsupported_media_type"),
    # Lone surrogates are legal JSON escapes (JavaScript strings can hold them): scored, and echoed exactly.
    row(
        "lone-surrogate",
        "/score",
        b'{"id": "\\udc00-id", "text": "Our pills \\ud800 cure acne. Book now."}',
        JSON,
        200,
        None,
        check_lone_surrogates,
    ),
    row("lone-surrogate-only", "/score", b'{"text": "\\ud800"}', JSON, 200, None),
    row(
        "lone-surrogate-batch",
        "/score/batch",
        b'{"documents": [{"text": "Guaranteed \\udfff results!"}]}',
        JSON,
        200,
        None,
        check_batch_lone_surrogates,
    ),
    row(
        "lone-surrogate-ndjson",
        "/score/batch",
        b'{"id": "\\ud83d", "text": "Cut mid-emoji \\ud83d"}\n',
        NDJSON,
        200,
        None,
        check_ndjson_lone_surrogates,
    ),
]


@pytest.mark.parametrize("case", HOSTILE)
def test_hostile_input_gets_a_deliberate_answer(client: TestClient, case: Hostile) -> None:
    content = case.content() if callable(case.content) else case.content
    response = client.post(case.path, content=content, headers=case.headers)
    assert response.status_code < 500, response.text[:500]
    assert response.status_code == case.status, response.text[:500]
    if case.code is not None:
        assert_error(response.json(), case.code)
    elif response.headers["content-type"].startswith("application/json"):
        body = response.json()
        assert "error" not in body
        for item in body.get("results", [body]):
            assert "summary" in item or "error" in item
    if case.check is not None:
        case.check(response)


def test_a_million_characters_without_punctuation_are_one_sentence() -> None:
    """With limits raised to fit it, the run-on text is scored as one sentence, in linear time (no regex
    backtracking: a quadratic split of a megabyte would not finish in any reasonable time)."""
    with make_client(max_document_chars=2_000_000, max_request_bytes=20_000_000) as big:
        response = big.post("/score", json={"text": UNPUNCTUATED, "id": "run-on"})
    assert response.status_code == 200, response.text[:500]
    body = response.json()
    assert len(UNPUNCTUATED) == 1_000_000
    assert body["summary"]["sentences"] == 1
    [sentence] = body["sentences"]
    assert (sentence["start"], sentence["end"]) == (0, 1_000_000)
    assert (sentence["start_utf16"], sentence["end_utf16"]) == (0, 1_000_000)
    assert sentence["text"] == UNPUNCTUATED
