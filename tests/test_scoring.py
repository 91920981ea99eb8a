"""app/scoring.py: large batches are scored in groups with the same answers as one by one."""

from __future__ import annotations

import json

from app.artifacts import LoadedModel
from app.scoring import _GROUP_SENTENCES, DocumentRequest, Scorer
from app.taxonomy import Taxonomy
from tests.conftest import ROOT


def _documents() -> list[DocumentRequest]:
    rows = [json.loads(line) for line in (ROOT / "training/data/sentences.jsonl").read_text().splitlines()[:1500]]
    texts = [" ".join(row["text"] for row in rows[i : i + 37]) for i in range(0, len(rows), 37)]
    return [
        DocumentRequest(text=text, id=str(i), explain=i % 3 != 0, labels=_FILTER if i % 4 == 1 else None)
        for i, text in enumerate(texts)
    ]


_FILTER = ("overstated_efficacy", "evidence_claim")


def test_a_batch_larger_than_one_group_gives_the_answers_of_scoring_one_by_one(scorer: Scorer) -> None:
    documents = _documents()
    together = scorer.score_many(documents)
    assert sum(body["summary"]["sentences"] for body in together) > 2 * _GROUP_SENTENCES
    alone = [scorer.score(document) for document in documents]
    assert [body["id"] for body in together] == [str(i) for i in range(len(documents))]
    assert together == alone
    reported = [{f["label"] for row in body["sentences"] for f in row["flags"]} for body in together]
    assert all(labels <= set(_FILTER) for labels in reported[1::4])  # the label-filtered documents
    assert any(labels - set(_FILTER) for i, labels in enumerate(reported) if i % 4 != 1)


def test_empty_documents_and_an_empty_batch(scorer: Scorer) -> None:
    assert scorer.score_many([]) == []
    bodies = scorer.score_many([DocumentRequest(text="   "), DocumentRequest(text="Our drops cure tinnitus.")])
    assert bodies[0]["sentences"] == [] and bodies[0]["summary"]["sentences"] == 0
    assert bodies[1]["summary"]["sentences"] == 1


def test_warm_up_builds_the_lookup_tables(loaded: LoadedModel, taxonomy: Taxonomy) -> None:
    fresh = Scorer(loaded.model, taxonomy, loaded.version)
    loaded.model.vectorizer._index = None
    fresh.warm_up("Completely safe.")
    assert loaded.model.vectorizer._index is not None
