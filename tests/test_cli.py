"""app/cli.py: `claimscan score` from files, stdin and JSONL."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from app import cli


def test_score_files_prints_one_result_per_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    page = tmp_path / "page.html"
    page.write_text("<h1>Miracle cure</h1><p>Our tea cures arthritis for good.</p>")
    notes = tmp_path / "notes.txt"
    notes.write_text("We are open on Saturdays.")
    assert cli.main(["score", str(page), str(notes), "--no-explain"]) == 0
    results = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["id"] for r in results] == [str(page), str(notes)]
    assert results[0]["summary"]["flagged_sentences"] >= 1
    assert results[0]["sentences"][1]["text"] == "Our tea cures arthritis for good."
    assert results[1]["summary"]["flagged_sentences"] == 0


def test_score_jsonl_reports_bad_lines_and_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    export = tmp_path / "export.jsonl"
    export.write_text(json.dumps({"id": "ok", "text": "FDA approved."}) + "\n" + json.dumps({"text": " "}) + "\n")
    assert cli.main(["score", str(export), "--no-explain"]) == 1
    ok, bad = (json.loads(line) for line in capsys.readouterr().out.splitlines())
    assert ok["id"] == "ok" and ok["sentences"][0]["flags"][0]["label"] == "regulatory_claim"
    assert bad["id"] == f"{export}:2" and bad["error"]["code"] == "validation_error"


def test_score_reads_stdin(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("Guaranteed results in 24 hours."))
    assert cli.main(["score", "-", "--labels", "overstated_efficacy"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result["summary"]["counts"]) == {"overstated_efficacy"}
