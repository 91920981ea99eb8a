"""app.artifacts refuses model directories that fail their checks, naming the offending file,
and a save/load round trip keeps the model's predictions bit for bit."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from app.artifacts import CURRENT_FILE, MANIFEST_FILE, load_model, save_model
from app.errors import ArtifactError
from app.taxonomy import LABEL_IDS

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "models"

# Fifty sentences written for this test: claims, disclosures, evidence, comparisons and plain copy.
SENTENCES = [
    "Our herbal tonic reverses type 2 diabetes in just three weeks.",
    "This serum erases every wrinkle permanently, guaranteed.",
    "The supplement is approved by the FDA for weight loss.",
    "Clinical trials prove that our tea lowers blood pressure.",
    "Unlike statins, our fish oil clears your arteries without any downside.",
    "Possible side effects include headache, nausea and mild dizziness.",
    "Talk to your doctor before starting any new supplement.",
    "Book your first appointment online in under two minutes.",
    "Our clinic is open Monday to Saturday from 9am to 6pm.",
    "A peer-reviewed study found a 40% drop in joint pain.",
    "Nine out of ten dentists recommend our whitening strips.",
    "Works faster than any prescription sleeping pill on the market.",
    "The detox patch pulls heavy metals out through the soles of your feet.",
    "Results may vary and are not typical for every patient.",
    "This product is not intended to diagnose, treat, cure or prevent any disease.",
    "Free shipping on orders over fifty dollars.",
    "Our cold plunge therapy cures chronic fatigue for good.",
    "Doctors hate this one simple trick for melting belly fat.",
    "Harvard researchers confirmed the benefits of our mushroom blend.",
    "Stronger than ibuprofen, with none of the stomach problems.",
    "Do not use if you are pregnant, nursing or taking blood thinners.",
    "Our team includes two registered nurses and a nutritionist.",
    "The cream is 100% natural, so it is completely safe for everyone.",
    "Cleared by the FDA as a medical device for migraine relief.",
    "In our survey, most clients said they slept better within a week.",
    "Stem cell injections regrow damaged cartilage in a single visit.",
    "Consult a healthcare professional if symptoms persist.",
    "Parking is available behind the building.",
    "The only supplement proven to stop hair loss forever.",
    "Twice as effective as the leading brand of allergy spray.",
    "Our IV drips boost your immune system so you never get sick again.",
    "Ketamine infusions may cause dissociation and raised blood pressure.",
    "Sign up for our newsletter to hear about new classes.",
    "A 2021 meta-analysis supports the use of acupuncture for back pain.",
    "This diet eliminates anxiety without medication.",
    "Hyperbaric oxygen treats autism, according to our founder.",
    "Gift cards are available at the front desk.",
    "Our laser treatment is painless and risk-free.",
    "Compared with surgery, our brace heals herniated discs in days.",
    "Some people experience redness or swelling after the procedure.",
    "Government approved and endorsed by leading hospitals.",
    "Scientifically shown to double your energy levels.",
    "We accept most major insurance plans.",
    "Instantly cures insomnia, even when nothing else has worked.",
    "Rare but serious reactions include allergic shock; seek care immediately.",
    "Better than therapy for treating depression.",
    "Our new location opens next spring.",
    "Every bottle is tested in a certified laboratory.",
    "Lose thirty pounds in thirty days without diet or exercise.",
    "Read the full safety information before booking a session.",
]


@pytest.fixture
def models_dir(tmp_path: Path) -> Path:
    """A private copy of the committed model: ``current`` and the version directory it names."""
    version = (MODELS / CURRENT_FILE).read_text(encoding="utf-8").strip()
    target = tmp_path / "models"
    shutil.copytree(MODELS / version, target / version)
    (target / CURRENT_FILE).write_text(version + "\n", encoding="utf-8")
    return target


def _version_dir(models_dir: Path) -> Path:
    return models_dir / (models_dir / CURRENT_FILE).read_text(encoding="utf-8").strip()


def test_the_copy_loads(models_dir: Path) -> None:
    loaded = load_model(models_dir, LABEL_IDS)
    assert loaded.directory == _version_dir(models_dir)
    assert loaded.version == _version_dir(models_dir).name
    assert tuple(loaded.model.labels) == LABEL_IDS


def test_a_changed_model_file_fails_its_checksum(models_dir: Path) -> None:
    manifest = json.loads((_version_dir(models_dir) / MANIFEST_FILE).read_text(encoding="utf-8"))
    model_path = _version_dir(models_dir) / manifest["model_file"]
    data = bytearray(model_path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    model_path.write_bytes(bytes(data))
    with pytest.raises(ArtifactError) as caught:
        load_model(models_dir, LABEL_IDS)
    assert str(model_path) in str(caught.value)
    assert "SHA-256" in str(caught.value)


def test_a_model_file_with_bytes_appended_fails_its_checksum(models_dir: Path) -> None:
    model_path = _version_dir(models_dir) / "model.joblib"
    with model_path.open("ab") as handle:
        handle.write(b"\0")
    with pytest.raises(ArtifactError, match="does not match the manifest") as caught:
        load_model(models_dir, LABEL_IDS)
    assert str(model_path) in str(caught.value)


def test_a_missing_manifest_is_refused(models_dir: Path) -> None:
    manifest_path = _version_dir(models_dir) / MANIFEST_FILE
    manifest_path.unlink()
    with pytest.raises(ArtifactError, match="manifest is missing") as caught:
        load_model(models_dir, LABEL_IDS)
    assert str(manifest_path) in str(caught.value)


@pytest.mark.parametrize(
    "labels",
    [
        list(reversed(LABEL_IDS)),  # same ids, another order
        list(LABEL_IDS[:-1]),  # one missing
        [*LABEL_IDS, "miracle_claim"],  # one extra
    ],
    ids=["reordered", "missing", "extra"],
)
def test_a_label_list_unlike_the_taxonomy_is_refused(models_dir: Path, labels: list[str]) -> None:
    manifest_path = _version_dir(models_dir) / MANIFEST_FILE
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    manifest["labels"] = labels
    manifest_path.write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(ArtifactError, match="does not match the taxonomy") as caught:
        load_model(models_dir, LABEL_IDS)
    assert str(manifest_path) in str(caught.value)


def test_current_naming_a_missing_version_is_refused(models_dir: Path) -> None:
    (models_dir / CURRENT_FILE).write_text("20990101-00000000-0000\n", encoding="utf-8")
    with pytest.raises(ArtifactError) as caught:
        load_model(models_dir, LABEL_IDS)
    assert str(models_dir / "20990101-00000000-0000") in str(caught.value)


@pytest.mark.parametrize("pointer", ["../x", "..", "a/b", "", ".hidden"])
def test_current_must_name_a_directory_inside_the_models_dir(models_dir: Path, pointer: str) -> None:
    # A model one level up that would load fine if the pointer were followed.
    version = _version_dir(models_dir).name
    shutil.copytree(models_dir / version, models_dir.parent / "x")
    (models_dir / CURRENT_FILE).write_text(pointer + "\n", encoding="utf-8")
    with pytest.raises(ArtifactError, match="must name a version directory") as caught:
        load_model(models_dir, LABEL_IDS)
    assert str(models_dir / CURRENT_FILE) in str(caught.value)


def test_a_missing_current_file_is_refused(models_dir: Path) -> None:
    (models_dir / CURRENT_FILE).unlink()
    with pytest.raises(ArtifactError, match="cannot read the current model pointer") as caught:
        load_model(models_dir, LABEL_IDS)
    assert str(models_dir / CURRENT_FILE) in str(caught.value)


def test_save_and_load_round_trip_keeps_predictions(models_dir: Path, tmp_path: Path) -> None:
    assert len(SENTENCES) == 50
    original = load_model(models_dir, LABEL_IDS)
    saved_dir = tmp_path / "saved"
    directory = save_model(original.model, saved_dir, "roundtrip-1", {"seed": 7})
    assert directory == saved_dir / "roundtrip-1"
    assert (saved_dir / CURRENT_FILE).read_text(encoding="utf-8").strip() == "roundtrip-1"

    reloaded = load_model(saved_dir, LABEL_IDS)
    assert reloaded.version == "roundtrip-1"
    assert reloaded.manifest["seed"] == 7
    assert reloaded.manifest["labels"] == list(LABEL_IDS)
    expected = original.model.predict_proba(SENTENCES)
    actual = reloaded.model.predict_proba(SENTENCES)
    assert expected.shape == (50, len(LABEL_IDS))
    assert np.array_equal(expected, actual)
    # The sentences are varied enough that the comparison is not trivially between constants.
    assert float(expected.max()) > 0.5 > float(expected.min())
