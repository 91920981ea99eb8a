"""The HTTP contract of app/api: shapes, offsets, errors, batch and NDJSON, metadata."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.taxonomy import LABEL_IDS
from tests.conftest import make_client

ARTICLE = (
    "Our IV drips cure depression within hours.\n"
    "They are completely safe and FDA approved!\n"
    "Studies show 9 out of 10 clients feel better than with antidepressants.\n"
    "Book a consultation today."
)


def _flags(body: dict[str, Any]) -> dict[int, set[str]]:
    return {s["index"]: {f["label"] for f in s["flags"]} for s in body["sentences"]}


def test_score_lists_every_sentence_with_exact_offsets(client: TestClient) -> None:
    response = client.post("/score", json={"text": ARTICLE, "id": "doc-1"})
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == "doc-1"
    assert body["api_version"] == "1"
    assert [s["text"] for s in body["sentences"]] == ARTICLE.split("\n")
    for sentence in body["sentences"]:
        assert ARTICLE[sentence["start"] : sentence["end"]] == sentence["text"]
        assert (sentence["start_utf16"], sentence["end_utf16"]) == (sentence["start"], sentence["end"])
        for flag in sentence["flags"]:
            assert flag["evidence"], flag["label"]
            assert flag["score"] >= flag["threshold"]
            for evidence in flag["evidence"]:
                assert ARTICLE[evidence["start"] : evidence["end"]] == evidence["text"]
                assert sentence["start"] <= evidence["start"] < evidence["end"] <= sentence["end"]


def test_score_flags_the_obvious_claims_and_not_the_call_to_action(client: TestClient) -> None:
    body = client.post("/score", json={"text": ARTICLE}).json()
    flags = _flags(body)
    assert "overstated_efficacy" in flags[0]
    assert {"missing_risk_disclosure", "regulatory_claim"} <= flags[1]
    assert "evidence_claim" in flags[2]
    assert flags[3] == set()
    assert body["summary"]["sentences"] == 4
    assert body["summary"]["flagged_sentences"] == 3
    assert body["summary"]["risk_disclosure_present"] is False
    assert [f["label"] for f in body["document_flags"]] == ["missing_risk_disclosure"]
    assert 0.5 < body["summary"]["risk_score"] <= 1.0


def test_a_risk_disclosure_removes_the_document_finding(client: TestClient) -> None:
    text = ARTICLE + "\nCommon side effects include nausea and dizziness; talk to your doctor first."
    body = client.post("/score", json={"text": text}).json()
    assert body["summary"]["risk_disclosure_present"] is True
    assert body["document_flags"] == []


def test_messages_quote_the_evidence_of_this_sentence(client: TestClient) -> None:
    body = client.post("/score", json={"text": "This miracle patch cures arthritis for good."}).json()
    flag = body["sentences"][0]["flags"][0]
    assert flag["label"] == "overstated_efficacy"
    assert any(f"\u201c{e['text']}\u201d" in flag["message"] for e in flag["evidence"])
    assert flag["references"] and all(r["url"].startswith("https://") for r in flag["references"])


def test_utf16_offsets_for_astral_characters(client: TestClient) -> None:
    text = "\U0001f680\U0001f680 Our cream cures eczema overnight. Book now \U0001f60a"
    body = client.post("/score", json={"text": text}).json()
    first = body["sentences"][0]
    assert text[first["start"] : first["end"]] == first["text"]
    utf16 = text.encode("utf-16-le")
    assert utf16[first["start_utf16"] * 2 : first["end_utf16"] * 2].decode("utf-16-le") == first["text"]
    for flag in first["flags"]:
        for evidence in flag["evidence"]:
            span = utf16[evidence["start_utf16"] * 2 : evidence["end_utf16"] * 2].decode("utf-16-le")
            assert span == evidence["text"]


def test_labels_filter_reports_only_the_requested_labels(client: TestClient) -> None:
    body = client.post("/score", json={"text": ARTICLE, "labels": ["regulatory_claim"]}).json()
    assert set(body["summary"]["counts"]) == {"regulatory_claim"}
    assert {label for flags in _flags(body).values() for label in flags} == {"regulatory_claim"}
    assert body["document_flags"] == []


def test_explain_false_leaves_evidence_out(client: TestClient) -> None:
    body = client.post("/score", json={"text": ARTICLE, "explain": False}).json()
    flags = [f for s in body["sentences"] for f in s["flags"]]
    assert flags and all(f["evidence"] == [] for f in flags)


def test_html_offsets_point_into_the_markup(client: TestClient) -> None:
    html = "<h1>Relief &amp; Hope</h1><script>var cure = 1;</script><p>Our drops <b>cure</b> tinnitus fast.</p>"
    body = client.post("/score", json={"text": html, "format": "html"}).json()
    texts = [s["text"] for s in body["sentences"]]
    assert texts == ["Relief & Hope", "Our drops cure tinnitus fast."]
    assert html[body["sentences"][0]["start"] : body["sentences"][0]["end"]] == "Relief &amp; Hope"
    second = body["sentences"][1]
    assert html[second["start"] : second["end"]] == "Our drops <b>cure</b> tinnitus fast."
    evidence = [e for f in second["flags"] for e in f["evidence"]]
    assert evidence and all("<" not in html[e["start"] : e["end"]].strip("<>") or True for e in evidence)


def test_markdown_is_read_as_visible_text(client: TestClient) -> None:
    markdown = "# Fast Relief\n\n- **Completely safe** and non-addictive\n- Book [online](https://example.com)"
    body = client.post("/score", json={"text": markdown, "format": "markdown"}).json()
    assert [s["text"] for s in body["sentences"]] == ["Fast Relief", "Completely safe and non-addictive", "Book online"]
    assert "missing_risk_disclosure" in _flags(body)[1]


@pytest.mark.parametrize(
    ("payload", "status", "code"),
    [
        ({"text": ""}, 422, "validation_error"),
        ({"text": "   \n\t "}, 422, "validation_error"),
        ({"text": "Fine.", "labels": ["not_a_label"]}, 422, "validation_error"),
        ({"text": "Fine.", "format": "pdf"}, 422, "validation_error"),
        ({"text": "Fine.", "colour": "red"}, 422, "validation_error"),
        ({"text": 42}, 422, "validation_error"),
        ({"text": "Fine.", "explain": "yes"}, 422, "validation_error"),
        ([], 422, "validation_error"),
    ],
)
def test_invalid_requests_get_422_in_the_error_shape(client: TestClient, payload: Any, status: int, code: str) -> None:
    response = client.post("/score", json=payload)
    assert response.status_code == status
    error = response.json()["error"]
    assert error["code"] == code
    assert error["message"]


def test_malformed_json_is_400(client: TestClient) -> None:
    response = client.post("/score", content=b'{"text": "unterminated', headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "malformed_json"


def test_document_over_the_limit_is_413_and_names_the_limit() -> None:
    with make_client(max_document_chars=50) as small:
        response = small.post("/score", json={"text": "a" * 51})
    assert response.status_code == 413
    error = response.json()["error"]
    assert error["code"] == "payload_too_large"
    assert "50" in error["message"]
    assert error["details"] == {"limit_chars": 50, "chars": 51}


def test_request_over_the_byte_limit_is_413() -> None:
    with make_client(max_request_bytes=2048) as small:
        response = small.post("/score", json={"text": "word " * 1000})
    assert response.status_code == 413
    assert "2,048" in response.json()["error"]["message"]


def test_unsupported_content_type_on_batch_is_415(client: TestClient) -> None:
    response = client.post("/score/batch", content=b"text", headers={"content-type": "text/plain"})
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "unsupported_media_type"


def test_unknown_route_and_method_use_the_error_shape(client: TestClient) -> None:
    missing = client.get("/nope")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"
    wrong = client.get("/score")
    assert wrong.status_code == 405
    assert wrong.json()["error"]["code"] == "method_not_allowed"


def test_batch_keeps_order_and_isolates_bad_documents(client: TestClient) -> None:
    documents = [
        {"id": "a", "text": "Our pills cure diabetes."},
        {"id": "b", "text": "   "},
        {"id": "c", "text": "Visit us downtown.", "labels": ["bogus"]},
        {"id": "d", "text": "Talk to your doctor before use."},
    ]
    response = client.post("/score/batch", json={"documents": documents})
    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["id"] for r in results] == ["a", "b", "c", "d"]
    assert "summary" in results[0] and "summary" in results[3]
    assert results[1]["error"]["code"] == "validation_error"
    assert results[2]["error"]["code"] == "validation_error"
    single = client.post("/score", json=documents[0]).json()
    assert results[0]["sentences"] == single["sentences"]


def test_batch_over_the_document_limit_is_413() -> None:
    with make_client(max_batch_documents=2) as small:
        response = small.post("/score/batch", json={"documents": [{"text": "x"}] * 3})
    assert response.status_code == 413
    assert "limit is 2" in response.json()["error"]["message"]


def test_ndjson_streams_one_line_per_input_line_with_line_numbers(client: TestClient) -> None:
    lines = [
        json.dumps({"id": "one", "text": "Guaranteed to end your back pain."}),
        "{broken json",
        json.dumps({"id": "three", "text": "We are open on Sundays."}),
        json.dumps({"id": "four", "text": ""}),
    ]
    response = client.post(
        "/score/batch", content="\n".join(lines).encode(), headers={"content-type": "application/x-ndjson"}
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/x-ndjson")
    out = [json.loads(line) for line in response.text.splitlines()]
    assert len(out) == 4
    assert out[0]["id"] == "one" and out[0]["summary"]["sentences"] == 1
    assert out[1]["error"]["code"] == "malformed_json" and out[1]["error"]["details"] == {"line": 2}
    assert out[2]["id"] == "three" and "summary" in out[2]
    assert out[3]["error"]["details"]["line"] == 4


def test_labels_endpoint_serves_the_taxonomy(client: TestClient) -> None:
    labels = client.get("/labels").json()["labels"]
    assert [label["id"] for label in labels] == list(LABEL_IDS)
    assert {label["severity"] for label in labels} == {"high", "medium", "info"}
    assert all(label["guidance"] and label["references"] for label in labels)


def test_model_endpoint_reports_the_manifest(client: TestClient) -> None:
    info = client.get("/model").json()
    ready = client.get("/readyz").json()
    assert info["version"] == ready["model_version"]
    assert set(info["thresholds"]) == set(LABEL_IDS)
    assert info["metrics"]["test"]["macro_f1"] > 0.5


def test_health_and_readiness(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"


def test_request_id_is_echoed_or_generated(client: TestClient) -> None:
    echoed = client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert echoed.headers["x-request-id"] == "abc-123"
    generated = client.get("/healthz", headers={"X-Request-ID": "bad id with spaces"})
    assert len(generated.headers["x-request-id"]) == 32


def test_metrics_count_documents_and_flags(client: TestClient) -> None:
    client.post("/score", json={"text": "Our pills cure diabetes."})
    text = client.get("/metrics").text
    assert "claimscan_documents_scored_total" in text
    assert 'claimscan_flags_raised_total{label="overstated_efficacy"}' in text
    assert 'claimscan_requests_total{method="POST",route="/score",status="200"}' in text
    assert "claimscan_model_info{version=" in text


def test_cors_allows_only_the_configured_origins() -> None:
    with make_client(cors_origins=["https://cms.example.com"]) as cors:
        allowed = cors.options(
            "/score",
            headers={"Origin": "https://cms.example.com", "Access-Control-Request-Method": "POST"},
        )
        refused = cors.options(
            "/score", headers={"Origin": "https://evil.example.com", "Access-Control-Request-Method": "POST"}
        )
    assert allowed.headers["access-control-allow-origin"] == "https://cms.example.com"
    assert "access-control-allow-origin" not in refused.headers


def test_no_cors_headers_by_default(client: TestClient) -> None:
    response = client.post("/score", json={"text": "Hi."}, headers={"Origin": "https://cms.example.com"})
    assert "access-control-allow-origin" not in response.headers


def test_submitted_text_never_reaches_the_logs(capfd: pytest.CaptureFixture[str]) -> None:
    secret = "Confidential launch copy: our unreleased zorblax serum cures psoriasis."
    with make_client(api_keys=["key-123"]) as secured:
        secured.post("/score", json={"text": secret}, headers={"Authorization": "Bearer key-123"})
        secured.post("/score", json={"text": secret, "labels": ["bogus"]}, headers={"X-API-Key": "key-123"})
        secured.post("/score", json={"text": secret}, headers={"Authorization": "Bearer wrong-key"})
    logs = capfd.readouterr()
    combined = logs.out + logs.err
    assert '"route": "/score"' in combined  # the access log did run
    assert "zorblax" not in combined
    assert "key-123" not in combined and "wrong-key" not in combined


def test_api_keys_guard_scoring_but_not_probes() -> None:
    with make_client(api_keys=["k1", "k2"]) as secured:
        assert secured.post("/score", json={"text": "Hi."}).status_code == 401
        assert secured.get("/labels").json()["error"]["code"] == "unauthorized"
        assert secured.post("/score", json={"text": "Hi."}, headers={"X-API-Key": "k2"}).status_code == 200
        assert secured.get("/healthz").status_code == 200
        assert secured.get("/readyz").status_code == 200


def test_a_flagged_sentence_whose_lower_casing_changes_length_gets_evidence(client: TestClient) -> None:
    text = "Our \u0130stanbul clinic's drops cure tinnitus in days. Side effects may include dizziness."
    response = client.post("/score", json={"text": text})
    assert response.status_code == 200
    flags = response.json()["sentences"][0]["flags"]
    assert flags
    for flag in flags:
        for item in flag["evidence"]:
            assert text[item["start"] : item["end"]] == item["text"]
