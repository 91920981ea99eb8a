"""app/cuematch.py: phrase cues over a batch never cross texts; conjunctions are derived per text."""

from __future__ import annotations

import numpy as np

from app.features import build_vectorizer

CORPUS = ["Our drops cure tinnitus in days.", "Book a free consultation today."] * 2


def test_a_phrase_split_across_two_texts_does_not_match() -> None:
    vectorizer = build_vectorizer().fit(CORPUS)
    texts = ["It is FDA", "approved for adults."]
    _, analysis = vectorizer.analyse(texts)
    assert analysis.cues is not None
    both = vectorizer.analyse(["It is FDA approved for adults."])[1].cues
    assert both is not None
    status = vectorizer.cue_names_.index("regulatory_status")  # needs "FDA" and "approved" in one text
    assert both.fired[0, status]
    assert not analysis.cues.fired[:, status].any()


def test_matches_are_positions_within_their_own_text() -> None:
    vectorizer = build_vectorizer().fit(CORPUS)
    _, analysis = vectorizer.analyse(["Book now.", "Results in days, guaranteed"])
    cues = analysis.cues
    assert cues is not None
    speed = cues.cues == vectorizer.cue_names_.index("speed")
    assert cues.rows[speed].tolist() == [1]
    assert (cues.firsts[speed] >= 0).all() and (cues.ends[speed] <= 5).all()
    fragment = vectorizer.cue_names_.index("shape:fragment")
    assert cues.fired[1, fragment] and not cues.fired[0, fragment]


def test_conjunction_evidence_is_the_phrases_of_its_required_cues() -> None:
    vectorizer = build_vectorizer().fit(CORPUS)
    _, analysis = vectorizer.analyse(["Our drops treat tinnitus.", "Our drops may treat tinnitus."])
    cues = analysis.cues
    assert cues is not None
    rows, found, firsts, widths = cues.evidence(np.array([True, False]))
    names = [vectorizer.cue_names_[i] for i in found.tolist()]
    assert set(rows.tolist()) == {0}
    assert "disease_claim" in names
    claim = [i for i, name in enumerate(names) if name == "disease_claim"]
    covered = {int(firsts[i]) + k for i in claim for k in range(int(widths[i]))}
    assert covered >= {2, 3}  # "treat" and "tinnitus"
    assert cues.fired[1, vectorizer.cue_names_.index("disease_claim_hedged")]


def test_phrases_match_alike_whether_their_words_are_in_the_vocabulary_or_not() -> None:
    # Vocabulary words find their phrases by token id, other words through a cache of their own.
    text = "Guaranteed results: clinically proven, FDA approved and the best clinic in town."
    outside = build_vectorizer().fit(CORPUS)
    inside = build_vectorizer().fit([text, text, *CORPUS])
    assert {"guaranteed", "clinically", "fda"} <= set(inside.index.token_ids)
    assert not {"guaranteed", "clinically", "fda"} & set(outside.index.token_ids)
    matches = []
    for vectorizer in (outside, inside):
        for _ in range(2):  # the second time, the unknown words come from the cache
            cues = vectorizer.analyse([text])[1].cues
            assert cues is not None
            matches.append(
                (cues.cues.tolist(), cues.firsts.tolist(), cues.ends.tolist(), np.flatnonzero(cues.fired[0]).tolist())
            )
    assert len(matches[0][0]) >= 4
    assert all(found == matches[0] for found in matches)


def test_the_words_found_to_start_phrases_are_those_that_compile_to_some() -> None:
    # Start-up finds them by bisecting for first-word prefixes; compiling every word must agree.
    words = "revolutionary revolutionise revolt clinically clinic fda guaranteed guarantee zzz a miracle"
    vectorizer = build_vectorizer().fit([words] * 2 + CORPUS)
    matcher = vectorizer.cue_matcher
    vocabulary = list(vectorizer.index.token_ids)
    compiled = [matcher._phrases_from(word) for word in vocabulary]
    assert matcher._by_id == compiled
    assert 4 <= sum(map(bool, compiled)) < len(vocabulary)
    assert matcher._starts_by_id.tolist() == [bool(entry) for entry in compiled] + [False]
