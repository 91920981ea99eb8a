"""Shared fixtures: the committed model and taxonomy, and a lifespan-aware client."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.artifacts import LoadedModel, load_model
from app.config import Settings
from app.main import create_app
from app.scoring import Scorer
from app.taxonomy import LABEL_IDS, Taxonomy, load_taxonomy

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "models"


@pytest.fixture(scope="session")
def taxonomy() -> Taxonomy:
    return load_taxonomy()


@pytest.fixture(scope="session")
def loaded() -> LoadedModel:
    return load_model(MODELS, LABEL_IDS)


@pytest.fixture(scope="session")
def scorer(loaded: LoadedModel, taxonomy: Taxonomy) -> Scorer:
    return Scorer(loaded.model, taxonomy, loaded.version)


def make_client(**overrides: object) -> TestClient:
    settings = Settings(**overrides)  # type: ignore[arg-type]
    return TestClient(create_app(settings), raise_server_exceptions=False)


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    with make_client() as test_client:
        yield test_client
