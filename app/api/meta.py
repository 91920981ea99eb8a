"""GET /labels and GET /model: what the service flags, and which model flags it."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from app.api.deps import RuntimeDep, require_api_key
from app.schemas import LabelInfo, LabelsResponse, ModelInfo, Reference

__all__ = ["router"]

router = APIRouter(tags=["metadata"], dependencies=[Depends(require_api_key)])


@router.get("/labels", response_model=LabelsResponse, summary="The label taxonomy")
async def labels(runtime: RuntimeDep) -> LabelsResponse:
    """Every label the service can raise, with its severity, guidance and references."""
    return LabelsResponse(
        labels=[
            LabelInfo(
                id=label.id,
                name=label.name,
                severity=label.severity,
                description=label.description,
                guidance=label.guidance,
                references=[Reference(title=r.title, url=str(r.url)) for r in label.references],
            )
            for label in runtime.taxonomy.labels
        ]
    )


@router.get("/model", response_model=ModelInfo, summary="The loaded model")
async def model(runtime: RuntimeDep) -> ModelInfo:
    """Version, creation time, thresholds and evaluation figures of the loaded model."""
    manifest = runtime.current().loaded.manifest
    return ModelInfo(
        version=str(manifest["version"]),
        created_at=manifest.get("created_at"),
        family=manifest.get("family"),
        thresholds=manifest.get("thresholds", {}),
        metrics=manifest.get("metrics"),
        training_data_sha256=manifest.get("training_data_sha256"),
        libraries=manifest.get("libraries"),
    )
