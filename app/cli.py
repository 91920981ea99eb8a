"""The ``claimscan`` command: serve the API, or score files from the shell.

    claimscan serve [--host H] [--port P] [--workers N]
    claimscan score FILE... [--format text|html|markdown] [--labels L,L] [--no-explain]
    claimscan score --url http://127.0.0.1:8000 FILE...     (score through a running service)

``score`` prints one JSON result per file (NDJSON), in the /score response shape. A FILE of
``-`` reads standard input; ``*.jsonl`` files are read as one ScoreRequest object per line.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Any

from app.config import get_settings

__all__ = ["main"]

_FORMAT_BY_SUFFIX = {".html": "html", ".htm": "html", ".md": "markdown", ".markdown": "markdown"}


def _requests(paths: list[str], fmt: str | None, labels: list[str] | None, explain: bool) -> Iterator[dict[str, Any]]:
    for name in paths:
        if name.endswith(".jsonl"):
            for number, line in enumerate(Path(name).read_text(encoding="utf-8").splitlines(), 1):
                if line.strip():
                    from_line: dict[str, Any] = json.loads(line)
                    from_line.setdefault("id", f"{name}:{number}")
                    yield from_line
            continue
        text = sys.stdin.read() if name == "-" else Path(name).read_text(encoding="utf-8")
        request: dict[str, Any] = {
            "id": name,
            "text": text,
            "format": fmt or _FORMAT_BY_SUFFIX.get(Path(name).suffix.lower(), "text"),
            "explain": explain,
        }
        if labels:
            request["labels"] = labels
        yield request


def _score_local(requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    from app.api.documents import validate_document
    from app.artifacts import load_model
    from app.errors import ServiceError
    from app.scoring import Scorer
    from app.taxonomy import LABEL_IDS, load_taxonomy

    settings = get_settings()
    loaded = load_model(settings.model_dir, LABEL_IDS)
    scorer = Scorer(loaded.model, load_taxonomy(settings.taxonomy_path), loaded.version)
    results: list[dict[str, Any]] = []
    for request in requests:
        try:
            results.append(scorer.score(validate_document(request, settings.max_document_chars)))
        except ServiceError as error:
            results.append({"id": request.get("id"), **error.body()})
    return results


def _score_remote(url: str, requests: list[dict[str, Any]], api_key: str | None) -> list[dict[str, Any]]:
    import httpx

    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    results: list[dict[str, Any]] = []
    with httpx.Client(base_url=url, headers=headers, timeout=120) as client:
        for start in range(0, len(requests), 100):
            response = client.post("/score/batch", json={"documents": requests[start : start + 100]})
            response.raise_for_status()
            results.extend(response.json()["results"])
    return results


def _exit_cleanly(_signum: int, _frame: FrameType | None) -> None:
    """SIGTERM before uvicorn takes over, or re-raised by uvicorn once it has drained: a clean stop."""
    raise SystemExit(0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="claimscan", description="Flag compliance risks in health marketing.")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the HTTP API")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--workers", type=int)
    score = commands.add_parser("score", help="score files and print one JSON result per line")
    score.add_argument("files", nargs="+")
    score.add_argument("--format", choices=["text", "html", "markdown"])
    score.add_argument("--labels", help="comma-separated label ids to report")
    score.add_argument("--no-explain", action="store_true")
    score.add_argument("--url", help="score through a running service instead of in-process")
    score.add_argument("--api-key")
    args = parser.parse_args(argv)

    if args.command == "serve":
        from app.serve import serve as run_server

        settings = get_settings()
        # uvicorn re-raises SIGTERM after a graceful shutdown, which would end a single-process server
        # "killed by signal" (exit 143) although every request finished; with a handler there, it exits 0.
        signal.signal(signal.SIGTERM, _exit_cleanly)
        return run_server(
            args.host or settings.host,
            args.port or settings.port,
            args.workers or settings.workers,
            log_level=settings.log_level,
            access_log=False,  # claimscan writes its own structured access log
            timeout_graceful_shutdown=30,
        )
    labels = args.labels.split(",") if args.labels else None
    requests = list(_requests(args.files, args.format, labels, not args.no_explain))
    results = _score_remote(args.url, requests, args.api_key) if args.url else _score_local(requests)
    for result in results:
        print(json.dumps(result, ensure_ascii=False))
    return 1 if any("error" in result for result in results) else 0


if __name__ == "__main__":
    sys.exit(main())
