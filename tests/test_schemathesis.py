"""Property-based contract tests: schemathesis generates requests from openapi.yaml, valid and invalid, and
sends them to the ASGI app in-process (no server). No request may get a 5xx, and every response must match
the schema: documented status code and content type, body valid against its schema, invalid data refused."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.errors import FailureGroup
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import negative_data_rejection, response_schema_conformance

from app.config import Settings
from app.main import create_app

ROOT = Path(__file__).resolve().parent.parent
MIN_REQUESTS = 1000
NDJSON = "application/x-ndjson"

# API keys unset (the API is open), so generated requests reach the handlers. Schemathesis runs the lifespan
# (taxonomy and model load) before the first request and keeps the app up for the rest of the module.
APP = create_app(Settings(api_keys=[], cors_origins=[], log_level="error"))
schema = schemathesis.openapi.from_path(ROOT / "openapi.yaml")
sent: list[str] = []  # one entry per generated request, across every operation


@schemathesis.serializer(NDJSON)
def _ndjson(ctx: schemathesis.SerializationContext, value: Any) -> bytes:  # noqa: ARG001
    """The schema types an NDJSON body as a string: sent as is (anything else, from negative tests, as JSON)."""
    if isinstance(value, bytes):
        return value
    return (value if isinstance(value, str) else json.dumps(value)).encode("utf-8", "surrogatepass")


@pytest.fixture(scope="module", autouse=True)
def _stop_lifespan() -> Iterator[None]:
    yield
    asgi.shutdown_lifespans()  # the app's shutdown, as a server would run it


def _validate_ndjson_lines(case: schemathesis.Case[Any], response: schemathesis.Response) -> None:
    """Schemathesis cannot read an NDJSON body, so check its lines as the JSON form of the same batch."""
    # Split on "\n" only: str.splitlines would also split inside strings holding U+2028, U+0085 or U+001C.
    results = [json.loads(line) for line in response.text.split("\n") if line]
    assert results, "an NDJSON batch answers at least one line per non-blank input line"
    as_json = schemathesis.Response(
        status_code=response.status_code,
        headers={"content-type": ["application/json"]},
        content=json.dumps({"results": results}).encode(),
        request=response.request,
        elapsed=response.elapsed,
        verify=response.verify,
    )
    case.validate_response(as_json, checks=[response_schema_conformance])


@schema.parametrize()
@settings(max_examples=600, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_honours_its_contract(case: schemathesis.Case[Any]) -> None:
    response = case.call(app=APP)
    sent.append(case.operation.label)
    assert response.status_code < 500, response.text[:500]
    # Any bytes are an NDJSON body (a bad line gets an error item in its place), so a "schema-violating"
    # NDJSON body does not exist on the wire: the negative generator's {} arrives as the valid string "{}".
    excluded: list[schemathesis.CheckFunction] = [negative_data_rejection] if case.media_type == NDJSON else []
    case.validate_response(response, excluded_checks=excluded, transport_kwargs={"app": APP})
    if response.headers.get("content-type", [""])[0].startswith(NDJSON) and response.text.strip():
        _validate_ndjson_lines(case, response)


def test_the_checks_catch_a_broken_response() -> None:
    """The validation above is live: a body off the schema, or a 5xx, fails it."""
    case = schema["/score"]["POST"].Case(body={"text": "Fine."}, media_type="application/json")
    real = case.call(app=APP)
    assert real.status_code == 200
    case.validate_response(real)
    for status, body in [(200, {"id": None, "sentences": "none"}), (500, {"error": "boom"})]:
        broken = schemathesis.Response(
            status_code=status,
            headers={"content-type": ["application/json"]},
            content=json.dumps(body).encode(),
            request=real.request,
            elapsed=real.elapsed,
            verify=real.verify,
        )
        with pytest.raises(FailureGroup):
            case.validate_response(broken)


def test_enough_requests_were_generated() -> None:
    if not sent:
        pytest.skip("the generated tests did not run in this session")
    counts = {label: sent.count(label) for label in sorted(set(sent))}
    assert len(sent) >= MIN_REQUESTS, f"{len(sent)} requests: {counts}"
