"""The errors claimscan raises, as one small typed tree.

    ClaimscanError
    ├── ServiceError                  answered to the client; app.api.errors maps it to HTTP
    │   ├── MalformedRequest          400  malformed_json
    │   ├── Unauthorized              401  unauthorized
    │   ├── NotFound                  404  not_found
    │   ├── MethodNotAllowed          405  method_not_allowed
    │   ├── PayloadTooLarge           413  payload_too_large
    │   ├── UnsupportedMediaType      415  unsupported_media_type
    │   ├── InvalidInput              422  validation_error
    │   └── ModelNotReady             503  model_not_ready
    ├── ArtifactError                 a model directory that must not be loaded (start-up, reload)
    └── TaxonomyError                 an invalid taxonomy file (start-up)

Every client-facing error has the same JSON shape:
``{"error": {"code": str, "message": str, "details": ...}}``.
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = [
    "ArtifactError",
    "ClaimscanError",
    "InvalidInput",
    "MalformedRequest",
    "MethodNotAllowed",
    "ModelNotReady",
    "NotFound",
    "PayloadTooLarge",
    "ServiceError",
    "TaxonomyError",
    "Unauthorized",
    "UnsupportedMediaType",
]


class ClaimscanError(Exception):
    """Base of every error claimscan raises on purpose."""


class ServiceError(ClaimscanError):
    status_code: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"

    def __init__(self, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}


class MalformedRequest(ServiceError):
    status_code = 400
    code = "malformed_json"


class Unauthorized(ServiceError):
    status_code = 401
    code = "unauthorized"


class NotFound(ServiceError):
    status_code = 404
    code = "not_found"


class MethodNotAllowed(ServiceError):
    status_code = 405
    code = "method_not_allowed"


class PayloadTooLarge(ServiceError):
    status_code = 413
    code = "payload_too_large"


class UnsupportedMediaType(ServiceError):
    status_code = 415
    code = "unsupported_media_type"


class InvalidInput(ServiceError):
    status_code = 422
    code = "validation_error"


class ModelNotReady(ServiceError):
    status_code = 503
    code = "model_not_ready"


class ArtifactError(ClaimscanError):
    """A model directory that fails its manifest, checksum or taxonomy check."""


class TaxonomyError(ClaimscanError):
    """The taxonomy file is missing or invalid."""
