"""openapi.yaml is generated from the code; this fails when the two drift apart."""

from __future__ import annotations

from pathlib import Path

import yaml

from app.main import create_app
from app.openapi import render

SPEC = Path(__file__).resolve().parent.parent / "openapi.yaml"


def test_committed_spec_matches_the_app() -> None:
    assert yaml.safe_load(SPEC.read_text()) == create_app().openapi(), "run `make openapi` and commit openapi.yaml"


def test_render_is_the_committed_file() -> None:
    assert render() == SPEC.read_text()


def test_operation_ids_are_stable_and_every_error_uses_the_shared_shape() -> None:
    spec = yaml.safe_load(SPEC.read_text())
    ids = {op["operationId"] for path in spec["paths"].values() for op in path.values()}
    assert {"scoring-score", "scoring-score_batch", "metadata-labels", "operations-readyz"} <= ids
    score = spec["paths"]["/score"]["post"]["responses"]
    for status in ("400", "413", "422", "503"):
        assert score[status]["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorResponse")
    batch_body = spec["paths"]["/score/batch"]["post"]["requestBody"]["content"]
    assert {"application/json", "application/x-ndjson"} <= set(batch_body)
