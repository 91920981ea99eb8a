"""The ML core never imports the web framework, and modules declare what they export."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

CORE = [
    "app.text",
    "app.markup",
    "app.features",
    "app.cues",
    "app.model",
    "app.taxonomy",
    "app.artifacts",
    "app.scoring",
]


@pytest.mark.parametrize("module", CORE)
def test_core_modules_do_not_import_fastapi(module: str) -> None:
    code = (
        f"import sys, {module}; sys.exit(1 if any(m.startswith(('fastapi', 'starlette')) for m in sys.modules) else 0)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


@pytest.mark.parametrize("module", [m for m in CORE if m != "app.cues"] + ["app.errors", "app.schemas", "app.scoring"])
def test_all_is_complete_and_sorted(module: str) -> None:
    loaded = importlib.import_module(module)
    exported = loaded.__all__
    assert exported == sorted(exported)
    assert all(hasattr(loaded, name) for name in exported)
