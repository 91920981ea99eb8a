"""Settings: environment parsing, validation, and the documented table of ``CLAIMSCAN_*`` variables."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from app.config import ROOT, Settings

README = ROOT / "README.md"
CONFIG_DOC = ROOT / "docs" / "configuration.md"
ROW_PREFIX = "| `CLAIMSCAN_"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No CLAIMSCAN_* variables from the outer environment, and no ``.env`` file in the working directory."""
    for name in list(os.environ):
        if name.upper().startswith("CLAIMSCAN_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


# --- Settings from the environment -------------------------------------------------------------------------


def field_defaults() -> dict[str, Any]:
    return {name: field.get_default(call_default_factory=True) for name, field in Settings.model_fields.items()}


def test_empty_environment_gives_the_field_defaults() -> None:
    settings = Settings()
    assert settings.model_dump() == field_defaults()
    assert settings.api_keys == []
    assert settings.port == 8000
    assert settings.host == "127.0.0.1"


def test_empty_variable_counts_as_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLAIMSCAN_PORT", "")
    monkeypatch.setenv("CLAIMSCAN_API_KEYS", "")
    settings = Settings()
    assert settings.port == 8000
    assert settings.api_keys == []


def test_api_keys_split_on_commas_and_strip_blanks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLAIMSCAN_API_KEYS", "a, b")
    assert Settings().api_keys == ["a", "b"]


def test_list_settings_drop_empty_items(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLAIMSCAN_CORS_ORIGINS", " https://a.example , ,https://b.example,")
    assert Settings().cors_origins == ["https://a.example", "https://b.example"]


def test_numbers_and_paths_parse_from_strings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CLAIMSCAN_PORT", "9001")
    monkeypatch.setenv("CLAIMSCAN_WORKERS", "4")
    monkeypatch.setenv("CLAIMSCAN_MODEL_DIR", str(tmp_path))
    settings = Settings()
    assert (settings.port, settings.workers, settings.model_dir) == (9001, 4, tmp_path)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("CLAIMSCAN_PORT", "0"),
        ("CLAIMSCAN_PORT", "65536"),
        ("CLAIMSCAN_PORT", "http"),
        ("CLAIMSCAN_WORKERS", "0"),
        ("CLAIMSCAN_MAX_REQUEST_BYTES", "1023"),
        ("CLAIMSCAN_LOG_LEVEL", "verbose"),
    ],
)
def test_invalid_value_raises_validation_error(monkeypatch: pytest.MonkeyPatch, variable: str, value: str) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValidationError) as caught:
        Settings()
    field = variable.removeprefix("CLAIMSCAN_").lower()
    assert [error["loc"] for error in caught.value.errors()] == [(field,)]


def test_settings_are_frozen() -> None:
    settings = Settings()
    with pytest.raises(ValidationError):
        settings.port = 9000  # type: ignore[misc]


# --- The documented table ------------------------------------------------------------------------------------


def table_rows(path: Path) -> list[tuple[str, str, str]]:
    """(variable, default, description) for every markdown table row that documents a CLAIMSCAN_ variable."""
    rows: list[tuple[str, str, str]] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith(ROW_PREFIX):
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        assert len(cells) == 3, f"{path.name}: expected | Variable | Default | Description |, got {line!r}"
        variable, default, description = cells
        rows.append((variable.strip("`"), default.removeprefix("`").removesuffix("`"), description))
    return rows


def readme_or_fallback() -> Path:
    # The README is meant to carry the same table under "## Configuration". Until it does, check the table in
    # docs/configuration.md instead, so that this test still guards the documentation that exists.
    return README if README.exists() and table_rows(README) else CONFIG_DOC


def documented_default(value: object) -> str:
    """A default as the table shows it: paths relative to the checkout, lists as an empty cell."""
    if isinstance(value, Path):
        return value.relative_to(ROOT).as_posix()
    if isinstance(value, list):
        return ", ".join(str(item) for item in value)
    return str(value)


def expected_rows() -> dict[str, tuple[str, str]]:
    return {
        f"CLAIMSCAN_{name.upper()}": (
            documented_default(field.get_default(call_default_factory=True)),
            field.description or "",
        )
        for name, field in Settings.model_fields.items()
    }


@pytest.mark.parametrize("document", [readme_or_fallback(), CONFIG_DOC], ids=lambda path: path.name)
def test_documented_variables_are_exactly_the_settings_fields(document: Path) -> None:
    variables = [variable for variable, _, _ in table_rows(document)]
    assert len(variables) == len(set(variables)), f"{document.name} documents a variable twice"
    assert set(variables) == set(expected_rows())


@pytest.mark.parametrize("document", [readme_or_fallback(), CONFIG_DOC], ids=lambda path: path.name)
def test_documented_defaults_and_descriptions_match_the_code(document: Path) -> None:
    expected = expected_rows()
    for variable, default, description in table_rows(document):
        assert variable in expected, f"{document.name} documents {variable}, which Settings does not have"
        assert default == expected[variable][0], f"{document.name}: default of {variable}"
        assert description == expected[variable][1], f"{document.name}: description of {variable}"


def test_documented_defaults_parse_back_to_the_field_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    """Setting every variable to its documented default changes nothing (paths are resolved from the checkout)."""
    for variable, default, _ in table_rows(readme_or_fallback()):
        field = variable.removeprefix("CLAIMSCAN_").lower()
        value = str(ROOT / default) if isinstance(field_defaults()[field], Path) else default
        monkeypatch.setenv(variable, value)
    assert Settings().model_dump() == field_defaults()
