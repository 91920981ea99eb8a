"""Export the OpenAPI contract: ``python -m app.openapi > openapi.yaml`` (``make openapi``)."""

from __future__ import annotations

import sys

import yaml

from app.main import create_app

__all__ = ["render"]


def render() -> str:
    spec = create_app().openapi()
    return yaml.safe_dump(spec, sort_keys=False, allow_unicode=True, width=100)


if __name__ == "__main__":
    sys.stdout.write(render())
