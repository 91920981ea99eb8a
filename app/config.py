"""Settings: one object, read from ``CLAIMSCAN_*`` environment variables (and ``.env``)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from app.taxonomy import DEFAULT_TAXONOMY_PATH

__all__ = ["Settings", "get_settings"]

ROOT = Path(__file__).resolve().parent.parent


def _default_model_dir() -> Path:
    """The checkout's models/ when run from source; ./models for an installed package."""
    checkout = ROOT / "models"
    return checkout if checkout.is_dir() else Path("models")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="CLAIMSCAN_", env_file=".env", env_ignore_empty=True, extra="ignore", frozen=True
    )

    model_dir: Path = Field(
        default_factory=_default_model_dir, description="Directory whose `current` file names the model"
    )
    taxonomy_path: Path = Field(default=DEFAULT_TAXONOMY_PATH, description="Label taxonomy YAML file")
    api_keys: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Comma-separated API keys; empty leaves the API open"
    )
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Comma-separated origins allowed by CORS; none by default"
    )
    max_document_chars: int = Field(default=100_000, ge=1, description="Largest document, in characters")
    max_request_bytes: int = Field(default=10_000_000, ge=1024, description="Largest JSON request body, in bytes")
    max_batch_documents: int = Field(default=1000, ge=1, description="Most documents in one JSON batch")
    inline_max_chars: int = Field(
        default=20_000,
        ge=0,
        description="A POST /score document up to this many characters, when it is the worker's only request, is "
        "scored on the event loop: two thread hand-offs fewer; 0 sends every one to the scoring thread",
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field(default="info", description="Log level")
    log_format: Literal["json", "text"] = Field(default="json", description="Access and app log format")
    host: str = Field(
        default="127.0.0.1", description="Address `claimscan serve` binds to (`make run` and the image use 0.0.0.0)"
    )
    port: int = Field(default=8000, ge=1, le=65535, description="Port to listen on")
    workers: int = Field(default=1, ge=1, le=64, description="Worker processes for `claimscan serve`")

    @field_validator("api_keys", "cors_origins", mode="before")
    @classmethod
    def _split_commas(cls, value: object) -> object:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value


@lru_cache
def get_settings() -> Settings:
    return Settings()
