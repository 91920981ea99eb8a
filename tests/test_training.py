"""training/: corpus validation, determinism, the artifacts it writes, and evaluate."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.artifacts import load_model
from app.taxonomy import LABEL_IDS
from training import evaluate, train
from training.data import CorpusError, corpus_sha256, data_files, load_corpus, split_by_group

ROOT = Path(__file__).resolve().parent.parent


def _row(**fields: object) -> str:
    base: dict[str, object] = {"id": "x1", "text": "Fine.", "labels": [], "domain": "d", "group": "g"}
    base.update(fields)
    return json.dumps({k: v for k, v in base.items() if v is not None})


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        ([_row(labels=["made_up"])], ":1: unknown label(s) made_up"),
        ([_row(text="   ")], ":1: empty text"),
        ([_row(), _row(id="x2")], ":2: duplicate text (first at"),
        ([_row(), _row(text="Other.")], ":2: duplicate id 'x1'"),
        ([_row(group=None)], ":1: missing field(s) group"),
        (["{not json"], ":1: not valid JSON"),
        ([_row(labels="risk_disclosure")], "labels must be a list"),
    ],
)
def test_corpus_errors_name_file_and_line(tmp_path: Path, lines: list[str], message: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(CorpusError) as raised:
        load_corpus([path])
    assert str(path) in str(raised.value)
    assert f"{path}{message}" in str(raised.value) if message.startswith(":") else message in str(raised.value)


def test_train_stops_with_exit_2_on_bad_data(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(_row(labels=["nope"]) + "\n")
    assert train.main(["--data", str(path), "--models", str(tmp_path / "models")]) == 2
    assert f"{path}:1: unknown label(s) nope" in capsys.readouterr().err


def test_split_keeps_pages_together() -> None:
    examples = load_corpus(data_files())
    train_idx, test_idx = split_by_group(examples, 7)
    assert {examples[i].group for i in train_idx}.isdisjoint({examples[i].group for i in test_idx})
    assert 0.1 < len(test_idx) / len(examples) < 0.3


def test_committed_model_was_trained_on_the_committed_corpus() -> None:
    manifest = json.loads(
        (ROOT / "models" / (ROOT / "models" / "current").read_text().strip() / "manifest.json").read_text()
    )
    assert manifest["training_data_sha256"] == corpus_sha256(data_files())
    assert manifest["labels"] == list(LABEL_IDS)
    assert manifest["model_bytes"] < 20_000_000
    assert manifest["metrics"]["test"]["macro_f1"] >= 0.85
    assert min(row["f1"] for row in manifest["metrics"]["test"]["labels"].values()) >= 0.75
    assert manifest["metrics"]["test"]["macro_f1"] > manifest["metrics"]["baseline"]["macro_f1"]


@pytest.fixture(scope="module")
def small_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every fifth page of the real corpus: small enough to train in seconds."""
    examples = load_corpus(data_files())
    groups = sorted({e.group for e in examples})
    keep = set(groups[::5])
    path = tmp_path_factory.mktemp("corpus") / "small.jsonl"
    lines = (
        json.dumps({"id": e.id, "text": e.text, "labels": list(e.labels), "domain": e.domain, "group": e.group})
        for e in examples
        if e.group in keep
    )
    path.write_text("\n".join(lines) + "\n")
    return path


def _train(corpus: Path, models: Path) -> dict[str, object]:
    code = train.main(
        ["--data", str(corpus), "--models", str(models), "--families", "linear_svm_words_chars_cues", "--folds", "3"]
    )
    assert code == 0
    directory = models / (models / "current").read_text().strip()
    manifest: dict[str, object] = json.loads((directory / "manifest.json").read_text())
    return manifest


def test_training_writes_a_loadable_versioned_model_and_is_deterministic(small_corpus: Path, tmp_path: Path) -> None:
    first = _train(small_corpus, tmp_path / "a")
    second = _train(small_corpus, tmp_path / "b")
    assert first["metrics"] == second["metrics"]
    assert first["thresholds"] == second["thresholds"]
    directory = tmp_path / "a" / str(first["version"])
    assert {p.name for p in directory.iterdir()} == {"model.joblib", "manifest.json", "report.md", "pr_curves.png"}
    report = (directory / "report.md").read_text()
    assert "Model selection" in report and "baseline" in report and "Brier" in report
    loaded_a = load_model(tmp_path / "a", LABEL_IDS)
    loaded_b = load_model(tmp_path / "b", LABEL_IDS)
    texts = ["Our pills cure diabetes.", "Talk to your doctor.", "We ship worldwide."]
    assert (loaded_a.model.predict_proba(texts) == loaded_b.model.predict_proba(texts)).all()
    assert first["training_data_sha256"] == corpus_sha256([small_corpus])


def test_evaluate_scores_a_gold_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    gold = tmp_path / "gold.jsonl"
    rows = [
        {"id": "1", "text": "Our drops cure tinnitus forever.", "labels": ["overstated_efficacy"]},
        {"id": "2", "text": "Side effects include headache and nausea.", "labels": ["risk_disclosure"]},
        {"id": "3", "text": "We are open from nine to five.", "labels": []},
    ]
    gold.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    assert evaluate.main(["--gold", str(gold), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["n"] == 3
    assert set(report["labels"]) == set(LABEL_IDS)
    assert report["labels"]["overstated_efficacy"]["recall"] == 1.0
    assert report["labels"]["risk_disclosure"]["recall"] == 1.0
