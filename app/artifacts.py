"""Model artifacts on disk: ``models/current`` names a version; ``models/<version>/`` holds
``model.joblib``, ``manifest.json`` and the training report.

joblib files are pickles, and unpickling runs code. So nothing is unpickled until the
manifest has vouched for it: the file's SHA-256 must match, and the manifest's label list
must match the taxonomy. Any failure is an :class:`ArtifactError` naming the file.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import joblib

from app.errors import ArtifactError
from app.model import ClaimModel

__all__ = [
    "CURRENT_FILE",
    "LoadedModel",
    "library_versions",
    "load_model",
    "resolve_version_dir",
    "save_model",
    "sha256_file",
]

CURRENT_FILE = "current"
MODEL_FILE = "model.joblib"
MANIFEST_FILE = "manifest.json"


@dataclass(frozen=True)
class LoadedModel:
    model: ClaimModel
    manifest: dict[str, Any]
    directory: Path

    @property
    def version(self) -> str:
        return str(self.manifest["version"])


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def library_versions() -> dict[str, str]:
    import numpy
    import scipy
    import sklearn

    return {
        "python": platform.python_version(),
        "scikit-learn": sklearn.__version__,
        "numpy": numpy.__version__,
        "scipy": scipy.__version__,
        "joblib": joblib.__version__,
    }


def resolve_version_dir(models_dir: Path) -> Path:
    """The directory ``models/current`` names."""
    pointer = models_dir / CURRENT_FILE
    try:
        version = pointer.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ArtifactError(f"{pointer}: cannot read the current model pointer ({exc.strerror})") from exc
    if not version or "/" in version or version.startswith("."):
        raise ArtifactError(f"{pointer}: must name a version directory, got {version!r}")
    return models_dir / version


def load_model(models_dir: Path, expected_labels: tuple[str, ...]) -> LoadedModel:
    directory = resolve_version_dir(models_dir)
    manifest_path = directory / MANIFEST_FILE
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ArtifactError(f"{manifest_path}: manifest is missing; refusing to load {directory}") from exc
    except (OSError, ValueError) as exc:
        raise ArtifactError(f"{manifest_path}: unreadable manifest ({exc})") from exc
    if not isinstance(manifest, dict) or not {"version", "model_file", "model_sha256", "labels"} <= set(manifest):
        raise ArtifactError(f"{manifest_path}: manifest lacks version, model_file, model_sha256 or labels")
    if tuple(manifest["labels"]) != expected_labels:
        raise ArtifactError(
            f"{manifest_path}: label list {manifest['labels']} does not match the taxonomy {list(expected_labels)}"
        )
    model_path = directory / str(manifest["model_file"])
    if model_path.parent != directory:
        raise ArtifactError(f"{manifest_path}: model_file must be a file inside {directory}")
    try:
        actual = sha256_file(model_path)
    except OSError as exc:
        raise ArtifactError(f"{model_path}: cannot read model file ({exc.strerror})") from exc
    if actual != manifest["model_sha256"]:
        raise ArtifactError(
            f"{model_path}: SHA-256 {actual} does not match the manifest ({manifest['model_sha256']}); refusing to load"
        )
    model = joblib.load(model_path)  # vouched for by the checksum above
    if not isinstance(model, ClaimModel) or tuple(model.labels) != expected_labels:
        raise ArtifactError(f"{model_path}: not a claimscan model for labels {list(expected_labels)}")
    return LoadedModel(model, manifest, directory)


def save_model(
    model: ClaimModel,
    models_dir: Path,
    version: str,
    manifest_fields: dict[str, Any],
    make_current: bool = True,
) -> Path:
    """Write ``models/<version>/model.joblib`` and its manifest; point ``current`` at it."""
    directory = models_dir / version
    directory.mkdir(parents=True, exist_ok=True)
    model_path = directory / MODEL_FILE
    joblib.dump(model, model_path, compress=3)
    manifest = {
        "version": version,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "model_file": MODEL_FILE,
        "model_sha256": sha256_file(model_path),
        "model_bytes": model_path.stat().st_size,
        "labels": list(model.labels),
        "thresholds": dict(zip(model.labels, (round(float(t), 4) for t in model.thresholds), strict=True)),
        "libraries": library_versions(),
        **manifest_fields,
    }
    (directory / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    if make_current:
        pointer = models_dir / CURRENT_FILE
        temporary = pointer.with_suffix(".tmp")
        temporary.write_text(version + "\n", encoding="utf-8")
        os.replace(temporary, pointer)  # atomic: a reloading server never reads half a name
    return directory
