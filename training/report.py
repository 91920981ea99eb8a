"""The training report: ``report.md`` and ``pr_curves.png`` beside the model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from app.taxonomy import LABEL_IDS

__all__ = ["plot_pr_curves", "write_report"]


def plot_pr_curves(y: np.ndarray, probabilities: np.ndarray, thresholds: np.ndarray, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import precision_recall_curve

    figure, axes = plt.subplots(2, 3, figsize=(13, 8), sharex=True, sharey=True)
    for column, (label, axis) in enumerate(zip(LABEL_IDS, axes.ravel(), strict=True)):
        precision, recall, cuts = precision_recall_curve(y[:, column], probabilities[:, column])
        axis.plot(recall, precision, color="#1f5f8b")
        chosen = int(np.searchsorted(cuts, thresholds[column]))
        if chosen < len(cuts):
            axis.plot(
                recall[chosen],
                precision[chosen],
                "o",
                color="#c0392b",
                label=f"threshold {thresholds[column]:.2f}",
            )
            axis.legend(loc="lower left")
        axis.set_title(label)
        axis.grid(alpha=0.3)
    for axis in axes[-1]:
        axis.set_xlabel("recall")
    for axis in axes[:, 0]:
        axis.set_ylabel("precision")
    figure.suptitle("Held-out test: precision-recall per label")
    figure.tight_layout()
    figure.savefig(path, dpi=80)
    plt.close(figure)


def _table(report: dict[str, Any], baseline: dict[str, Any], brier: dict[str, float]) -> list[str]:
    lines = [
        "| label | support | precision | recall | F1 | baseline F1 | Brier |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for label in LABEL_IDS:
        row, base = report["labels"][label], baseline["labels"][label]
        lines.append(
            f"| {label} | {row['support']} | {row['precision']:.3f} | {row['recall']:.3f} | {row['f1']:.3f} "
            f"| {base['f1']:.3f} | {brier[label]:.4f} |"
        )
    lines.append(
        f"| **macro** | {report['n']} | | | **{report['macro_f1']:.3f}** | {baseline['macro_f1']:.3f} | "
        f"{np.mean(list(brier.values())):.4f} |"
    )
    return lines


def write_report(path: Path, facts: dict[str, Any]) -> None:
    lines = [
        f"# claimscan model {facts['version']}",
        "",
        f"Trained by `python -m training.train` on {facts['n_train']} sentences ({facts['n_groups_train']} pages); "
        f"evaluated on {facts['n_test']} held-out sentences from {facts['n_groups_test']} other pages "
        f"(split by page, seed {facts['seed']}). Training took {facts['seconds']:.1f} s.",
        "",
        "## Model selection (grouped 5-fold cross-validation on the training split)",
        "",
        "| family | estimator | C | CV macro-F1 | CV mean AP | seconds |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for row in facts["comparison"]:
        family = row["family"]
        chosen = " (chosen)" if family["name"] == facts["chosen"] else ""
        lines.append(
            f"| {family['name']}{chosen} | {family['estimator']} | {family['C']} | {row['cv_macro_f1']:.3f} "
            f"| {row['cv_mean_average_precision']:.3f} | {row['seconds']} |"
        )
    lines += [
        "",
        "Thresholds are tuned per label on out-of-fold calibrated probabilities (best F1); "
        "probabilities are Platt-calibrated on the same out-of-fold decision values.",
        "",
        "## Held-out test",
        "",
        *_table(facts["test"], facts["baseline"], facts["brier"]),
        "",
        "The baseline labels a sentence when the model's own cue lexicons fire (training/baseline.py).",
        "",
        f"Length robustness: consecutive held-out sentences of one page joined into one long sentence "
        f"({facts['joined_test']['n']} of them) score macro-F1 {facts['joined_test']['macro_f1']:.3f}.",
        "",
        "![precision-recall curves](pr_curves.png)",
        "",
        "## Thresholds",
        "",
        *[f"- `{label}`: {threshold:.2f}" for label, threshold in facts["thresholds"].items()],
        "",
        f"Model file: {facts['model_bytes'] / 1e6:.2f} MB, {facts['n_features']} features.",
        "",
    ]
    path.write_text("\n".join(lines), encoding="utf-8")
