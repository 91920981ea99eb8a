"""The labelled corpus: loading with validation, its hash, and the group split."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.model_selection import GroupShuffleSplit

from app.taxonomy import LABEL_IDS

__all__ = [
    "DATA_DIR",
    "CorpusError",
    "Example",
    "corpus_sha256",
    "data_files",
    "label_matrix",
    "load_corpus",
    "split_by_group",
]

DATA_DIR = Path(__file__).resolve().parent / "data"
REQUIRED_FIELDS = ("id", "text", "labels", "domain", "group")
TEST_SIZE = 0.2


class CorpusError(ValueError):
    """A corpus line that breaks the format; the message names file and line."""


@dataclass(frozen=True, slots=True)
class Example:
    id: str
    text: str
    labels: tuple[str, ...]
    domain: str
    group: str


def data_files(data_dir: Path = DATA_DIR) -> list[Path]:
    return sorted(data_dir.glob("*.jsonl"))


def corpus_sha256(files: list[Path]) -> str:
    """One hash over the corpus files, in name order, so any edit changes it."""
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def load_corpus(files: list[Path], require_group: bool = True) -> list[Example]:
    """Read and validate gold sentences; the first problem stops with ``file:line: reason``."""
    if not files:
        raise CorpusError("no *.jsonl files to read")
    examples: list[Example] = []
    seen_ids: dict[str, str] = {}
    seen_texts: dict[str, str] = {}
    required = REQUIRED_FIELDS if require_group else ("id", "text", "labels")
    for path in files:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            where = f"{path}:{number}"
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise CorpusError(f"{where}: not valid JSON ({exc.msg})") from exc
            if not isinstance(row, dict):
                raise CorpusError(f"{where}: each line must be a JSON object")
            missing = [name for name in required if name not in row]
            if missing:
                raise CorpusError(f"{where}: missing field(s) {', '.join(missing)}")
            text, labels = row["text"], row["labels"]
            if not isinstance(text, str) or not text.strip():
                raise CorpusError(f"{where}: empty text")
            if not isinstance(labels, list) or not all(isinstance(label, str) for label in labels):
                raise CorpusError(f"{where}: labels must be a list of label ids")
            unknown = sorted(set(labels) - set(LABEL_IDS))
            if unknown:
                raise CorpusError(f"{where}: unknown label(s) {', '.join(unknown)}; known: {', '.join(LABEL_IDS)}")
            key = " ".join(text.lower().split())
            if key in seen_texts:
                raise CorpusError(f"{where}: duplicate text (first at {seen_texts[key]})")
            identifier = str(row["id"])
            if identifier in seen_ids:
                raise CorpusError(f"{where}: duplicate id {identifier!r} (first at {seen_ids[identifier]})")
            seen_texts[key], seen_ids[identifier] = where, where
            examples.append(
                Example(
                    identifier,
                    text,
                    tuple(sorted(set(labels))),
                    str(row.get("domain", "")),
                    str(row.get("group", identifier)),
                )
            )
    return examples


def label_matrix(examples: list[Example]) -> np.ndarray:
    return np.array([[label in e.labels for label in LABEL_IDS] for e in examples], dtype=np.int8)


def split_by_group(examples: list[Example], seed: int) -> tuple[list[int], list[int]]:
    """Train and held-out test indices; no page (group) has sentences on both sides."""
    splitter = GroupShuffleSplit(n_splits=1, test_size=TEST_SIZE, random_state=seed)
    train, test = next(splitter.split(examples, groups=[e.group for e in examples]))
    return sorted(train.tolist()), sorted(test.tolist())
