"""app/taxonomy.py and taxonomy.yaml: validated at load; its examples are regression tests."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from app.errors import TaxonomyError
from app.scoring import Scorer
from app.taxonomy import DEFAULT_TAXONOMY_PATH, LABEL_IDS, Taxonomy, load_taxonomy, render_message

RAW = yaml.safe_load(DEFAULT_TAXONOMY_PATH.read_text())
EXAMPLES = [
    (label["id"], sentence, kind == "flagged")
    for label in RAW["labels"]
    for kind in ("flagged", "not_flagged")
    for sentence in label["examples"][kind]
]


def test_the_taxonomy_matches_the_labelling_guide(taxonomy: Taxonomy) -> None:
    assert tuple(label.id for label in taxonomy.labels) == LABEL_IDS
    assert {label.id: label.severity for label in taxonomy.labels} == {
        "overstated_efficacy": "high",
        "missing_risk_disclosure": "high",
        "regulatory_claim": "high",
        "evidence_claim": "medium",
        "comparative_claim": "medium",
        "risk_disclosure": "info",
    }
    assert len(taxonomy.sha256) == 64


@pytest.mark.parametrize(("label", "sentence", "flagged"), EXAMPLES, ids=[f"{e[0]}:{e[1][:30]}" for e in EXAMPLES])
def test_taxonomy_examples_are_regression_tests(scorer: Scorer, label: str, sentence: str, flagged: bool) -> None:
    found = scorer.predicted_labels([sentence])[0]
    assert (label in found) is flagged, f"{label} {'missing from' if flagged else 'wrongly on'}: {sentence}"


def _write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "taxonomy.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d["labels"].pop(), "label ids must be exactly"),
        (lambda d: d["labels"][0].update(severity="low"), "severity"),
        (lambda d: d["labels"][3].update(severity="high"), "severity must be 'medium'"),
        (lambda d: d["labels"][0].update(message="No placeholder here at all."), "{evidence}"),
        (lambda d: d["labels"][1]["references"][0].update(url="not a url"), "url"),
        (lambda d: d["labels"][2].update(colour="red"), "colour"),
        (lambda d: d["labels"][2]["examples"].update(flagged=[]), "flagged"),
        (lambda d: d["document_findings"].update(made_up={"message": "A made up finding."}), "unknown labels"),
    ],
)
def test_invalid_taxonomies_fail_at_load_naming_the_problem(tmp_path: Path, mutate: object, message: str) -> None:
    data = yaml.safe_load(DEFAULT_TAXONOMY_PATH.read_text())
    mutate(data)  # type: ignore[operator]
    with pytest.raises(TaxonomyError) as raised:
        load_taxonomy(_write(tmp_path, data))
    assert message in str(raised.value)
    assert "taxonomy.yaml" in str(raised.value)


def test_unreadable_taxonomy_is_a_taxonomy_error(tmp_path: Path) -> None:
    with pytest.raises(TaxonomyError, match="cannot read"):
        load_taxonomy(tmp_path / "missing.yaml")
    with pytest.raises(TaxonomyError, match="mapping"):
        load_taxonomy(_write(tmp_path, ["a", "list"]))


@pytest.mark.parametrize(
    ("message", "evidence", "expected"),
    [
        ("{evidence} overstates.", ["cures it"], "\u201ccures it\u201d overstates."),
        ("{evidence} overstates.", ["cures", "in days"], "\u201ccures\u201d, \u201cin days\u201d overstates."),
        ("{evidence} overstates.", [], "This sentence overstates."),
        ("here {evidence} and {evidence}.", ["x"], "Here \u201cx\u201d and \u201cx\u201d."),
        ("\u00dfe {evidence}", ["x"], "SSe \u201cx\u201d"),  # upper-casing may lengthen the first letter
    ],
)
def test_render_message_quotes_the_evidence_in_place_and_capitalises(
    message: str, evidence: list[str], expected: str
) -> None:
    assert render_message(message.split("{evidence}"), evidence) == expected


def test_every_label_renders_its_message_with_the_evidence() -> None:
    for label in load_taxonomy().labels:
        rendered = render_message(label.message.split("{evidence}"), ["works in hours"])
        assert "\u201cworks in hours\u201d" in rendered
        assert "{evidence}" not in rendered
        assert rendered[0].isupper() or rendered[0] == "\u201c"
