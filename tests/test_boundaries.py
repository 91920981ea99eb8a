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


def test_serving_never_imports_scipy_or_scikit_learn() -> None:
    """Each costs a worker a tenth of a second or more at start-up, and scoring needs neither: the
    model's arithmetic is numpy and the compiled kernels (training and tests build sparse matrices)."""
    code = (
        "import sys\n"
        "from app.config import get_settings\n"
        "from app.runtime import Runtime\n"
        "from app.taxonomy import load_taxonomy\n"
        "import app.main\n"
        "settings = get_settings()\n"
        "Runtime(settings.model_dir, load_taxonomy(settings.taxonomy_path)).load()\n"
        "sys.exit(1 if any(m.split('.')[0] in ('scipy', 'sklearn') for m in sys.modules) else 0)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
