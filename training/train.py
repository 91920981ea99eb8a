"""Train the claimscan classifier: ``python -m training.train`` (or ``make train``).

Validates the corpus, splits it by page, compares model families by grouped
cross-validation, calibrates and tunes thresholds out-of-fold, fits the chosen family,
evaluates it and a keyword baseline on the held-out pages, and writes ``models/<version>/``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from app.artifacts import save_model
from app.cues import CONJUNCTIONS, CUES
from app.scoring import Scorer
from app.taxonomy import LABEL_IDS, load_taxonomy
from training.augment import joined_pairs
from training.baseline import predict_baseline
from training.data import CorpusError, corpus_sha256, data_files, label_matrix, load_corpus, split_by_group
from training.metrics import format_table, label_report
from training.report import plot_pr_curves, write_report
from training.selection import FAMILIES, cross_validate, fit_model

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SEED = 20261122


def _progress(message: str, started: float) -> None:
    print(f"[{time.perf_counter() - started:6.1f}s] {message}", file=sys.stderr, flush=True)


def predicted_matrix(scorer: Scorer, texts: list[str]) -> np.ndarray:
    """Labels as the service predicts them: segment each text, union its sentences' flags."""
    found = scorer.predicted_labels(texts)
    return np.array([[label in labels for label in LABEL_IDS] for labels in found], dtype=np.int8)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--data", type=Path, nargs="*", help="corpus files (default: training/data/*.jsonl)")
    parser.add_argument("--models", type=Path, default=ROOT / "models", help="models directory")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument(
        "--jobs", type=int, default=min(5, os.cpu_count() or 1), help="processes fitting CV folds (default: cores)"
    )
    parser.add_argument("--join-fraction", type=float, default=0.6, help="share of sentence pairs joined")
    parser.add_argument("--families", nargs="*", help="limit model selection to these family names")
    parser.add_argument("--no-current", action="store_true", help="write the version but leave models/current")
    args = parser.parse_args(argv)
    started = time.perf_counter()

    files = args.data or data_files()
    try:
        examples = load_corpus(files)
    except CorpusError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    data_hash = corpus_sha256(files)
    _progress(f"read {len(examples)} sentences from {len(files)} file(s), sha256 {data_hash[:12]}", started)

    train_idx, test_idx = split_by_group(examples, args.seed)
    train = [examples[i] for i in train_idx]
    test = [examples[i] for i in test_idx]
    _progress(f"split by page: {len(train)} train / {len(test)} test sentences", started)
    augmented = train + joined_pairs(train, args.seed, args.join_fraction)
    texts, y = [e.text for e in augmented], label_matrix(augmented)
    groups = [e.group for e in augmented]
    _progress(f"added {len(augmented) - len(train)} joined sentence pairs for length robustness", started)

    families = [f for f in FAMILIES if not args.families or f.name in args.families]
    if not families:
        print(f"error: no family among {[f.name for f in FAMILIES]}", file=sys.stderr)
        return 2
    comparison = []
    for family in families:
        result = cross_validate(texts, y, groups, family, args.folds, args.seed, args.jobs)
        comparison.append(result)
        _progress(
            f"CV {family.name}: macro-F1 {result['cv_macro_f1']:.3f}, mean AP "
            f"{result['cv_mean_average_precision']:.3f} ({result['seconds']} s)",
            started,
        )
    best = max(comparison, key=lambda r: (r["cv_macro_f1"], r["cv_mean_average_precision"]))
    family = next(f for f in families if f.name == best["family"]["name"])
    model = fit_model(texts, y, family, best["calibration"], best["thresholds"], args.seed)
    _progress(f"fitted {family.name} on the training split ({model.vectorizer.n_features} features)", started)

    taxonomy = load_taxonomy()
    test_texts, test_y = [e.text for e in test], label_matrix(test)
    scorer = Scorer(model, taxonomy, "candidate")
    test_report = label_report(test_y, predicted_matrix(scorer, test_texts))
    baseline_report = label_report(test_y, predict_baseline(model.vectorizer, test_texts))
    joined_test = joined_pairs(test, args.seed, 1.0)
    joined_report = label_report(label_matrix(joined_test), predicted_matrix(scorer, [e.text for e in joined_test]))
    probabilities = model.predict_proba(test_texts)
    brier = {label: float(np.mean((probabilities[:, k] - test_y[:, k]) ** 2)) for k, label in enumerate(LABEL_IDS)}
    _progress("held-out test:\n" + format_table(test_report), started)
    _progress(f"keyword baseline macro-F1 {baseline_report['macro_f1']:.3f}", started)
    _progress(f"held-out pages joined into long sentences: macro-F1 {joined_report['macro_f1']:.3f}", started)

    # The cue lexicons are part of the model: a changed lexicon is a new version even on the same data.
    config = {"family": family.describe(), "cues": CUES, "conjunctions": CONJUNCTIONS}
    config_hash = hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()
    version = f"{datetime.now(UTC):%Y%m%d}-{data_hash[:8]}-{config_hash[:4]}"
    strip = ("decisions", "calibration", "thresholds")
    comparison_rows = [{k: v for k, v in row.items() if k not in strip} for row in comparison]
    metrics = {
        "test": test_report,
        "baseline": baseline_report,
        "joined_test": joined_report,
        "brier": brier,
        "cv": {row["family"]["name"]: row["cv_macro_f1"] for row in comparison_rows},
    }
    directory = save_model(
        model,
        args.models,
        version,
        {
            "training_data_sha256": data_hash,
            "training_data_files": [f.name for f in files],
            "seed": args.seed,
            "family": family.describe(),
            "n_train": len(train),
            "n_train_joined": len(augmented) - len(train),
            "n_test": len(test),
            "n_features": model.vectorizer.n_features,
            "metrics": metrics,
            "model_selection": comparison_rows,
        },
        make_current=not args.no_current,
    )
    manifest = json.loads((directory / "manifest.json").read_text())
    plot_pr_curves(test_y, probabilities, model.thresholds, directory / "pr_curves.png")
    write_report(
        directory / "report.md",
        {
            "version": version,
            "n_train": len(train),
            "n_test": len(test),
            "n_groups_train": len(set(groups)),
            "n_groups_test": len({e.group for e in test}),
            "seed": args.seed,
            "seconds": time.perf_counter() - started,
            "comparison": comparison_rows,
            "chosen": family.name,
            "test": test_report,
            "baseline": baseline_report,
            "joined_test": joined_report,
            "brier": brier,
            "thresholds": manifest["thresholds"],
            "model_bytes": manifest["model_bytes"],
            "n_features": model.vectorizer.n_features,
        },
    )
    _progress(f"wrote {directory} ({manifest['model_bytes'] / 1e6:.2f} MB)", started)
    return 0


if __name__ == "__main__":
    sys.exit(main())
