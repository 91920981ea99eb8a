"""Per-label precision, recall and F1, shared by training reports and ``training.evaluate``."""

from __future__ import annotations

from typing import Any

import numpy as np

from app.taxonomy import LABEL_IDS

__all__ = ["format_table", "label_report"]


def label_report(gold: np.ndarray, predicted: np.ndarray) -> dict[str, Any]:
    """Precision, recall, F1 and support per label, macro-F1 and exact-match ratio."""
    rows: dict[str, dict[str, float]] = {}
    for column, label in enumerate(LABEL_IDS):
        g, p = gold[:, column].astype(bool), predicted[:, column].astype(bool)
        tp, fp, fn = int((g & p).sum()), int((~g & p).sum()), int((g & ~p).sum())
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        rows[label] = {"support": tp + fn, "precision": precision, "recall": recall, "f1": f1}
    exact = float((gold.astype(bool) == predicted.astype(bool)).all(axis=1).mean()) if len(gold) else 0.0
    macro = sum(row["f1"] for row in rows.values()) / len(rows)
    return {"labels": rows, "macro_f1": macro, "exact_match": exact, "n": len(gold)}


def format_table(report: dict[str, Any]) -> str:
    lines = [f"{'label':26} {'support':>7} {'prec':>6} {'rec':>6} {'f1':>6}"]
    for label, row in report["labels"].items():
        lines.append(
            f"{label:26} {int(row['support']):7d} {row['precision']:6.3f} {row['recall']:6.3f} {row['f1']:6.3f}"
        )
    lines.append(f"n={report['n']} exact_match={report['exact_match']:.3f} macro_f1={report['macro_f1']:.3f}")
    return "\n".join(lines)
