"""Shared fixtures: the committed model and taxonomy, and a lifespan-aware client."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.artifacts import CURRENT_FILE, LoadedModel, load_model
from app.config import Settings
from app.main import create_app
from app.scoring import Scorer
from app.taxonomy import LABEL_IDS, Taxonomy, load_taxonomy
from tests.servers import point_current

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


@pytest.fixture
def version() -> str:
    """The model version ``models/current`` names."""
    return (MODELS / CURRENT_FILE).read_text(encoding="utf-8").strip()


@pytest.fixture
def models_dir(tmp_path: Path, version: str) -> Path:
    """A private copy of the committed model directory that ``current`` names."""
    target = tmp_path / "models"
    shutil.copytree(MODELS / version, target / version, ignore=shutil.ignore_patterns("*.png", "*.md"))
    point_current(target, version)
    return target


def make_client(**overrides: object) -> TestClient:
    settings = Settings(**overrides)  # type: ignore[arg-type]
    return TestClient(create_app(settings), raise_server_exceptions=False)


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    with make_client() as test_client:
        yield test_client
