"""Score a gold file with the current model: ``python -m training.evaluate --gold FILE.jsonl``.

Each line is ``{"id", "text", "labels"}``. Each text is scored as its own document, as
the service would score it, and its predicted labels are the union of its sentences' flags.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from app.artifacts import load_model
from app.errors import ArtifactError
from app.scoring import Scorer
from app.taxonomy import LABEL_IDS, load_taxonomy
from training.data import CorpusError, label_matrix, load_corpus
from training.metrics import format_table, label_report
from training.train import predicted_matrix

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--gold", type=Path, required=True, help="JSONL with id, text and labels")
    parser.add_argument("--models", type=Path, default=ROOT / "models")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)
    try:
        gold = load_corpus([args.gold], require_group=False)
        loaded = load_model(args.models, LABEL_IDS)
    except (CorpusError, ArtifactError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    scorer = Scorer(loaded.model, load_taxonomy(), loaded.version)
    report = label_report(label_matrix(gold), predicted_matrix(scorer, [g.text for g in gold]))
    report["model_version"] = loaded.version
    print(json.dumps(report, indent=2) if args.json else format_table(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
