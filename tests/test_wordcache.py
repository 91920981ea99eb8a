"""app/wordcache.py: a word's value is computed once while remembered, and the memo never outgrows its limit."""

from __future__ import annotations

import pytest

from app.wordcache import WordCache


def test_a_word_is_computed_once_and_the_memo_empties_at_its_limit() -> None:
    computed: list[str] = []

    def length(word: str) -> int:
        computed.append(word)
        return len(word)

    cache = WordCache(length, limit=3)
    assert [cache(word) for word in ["ab", "abc", "ab", "abc"]] == [2, 3, 2, 3]
    assert computed == ["ab", "abc"]
    cache("d")
    assert len(cache) == 3
    assert cache("efgh") == 4  # a fourth word: the memo starts again, never holding more than 3
    assert len(cache) == 1
    assert cache("ab") == 2
    assert computed == ["ab", "abc", "d", "efgh", "ab"]


def test_a_falsy_value_is_remembered_too() -> None:
    computed: list[str] = []
    cache: WordCache[tuple[()]] = WordCache(lambda word: computed.append(word) or (), limit=5)
    assert cache("x") == () and cache("x") == ()
    assert computed == ["x"]


def test_a_limit_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one word"):
        WordCache(len, limit=0)
