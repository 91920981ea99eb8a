"""A bounded memo of what is computed per word outside a vocabulary.

Scoring meets the same unknown words again and again (names, misspellings, brand words), and
computing their tables each time costs more than looking them up; but there is no end to them,
so the memo is emptied when it grows past its limit rather than growing with the traffic.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

__all__ = ["WordCache"]

_Value = TypeVar("_Value")


class WordCache(Generic[_Value]):
    """``compute(word)``, remembered for at most ``limit`` words at a time."""

    def __init__(self, compute: Callable[[str], _Value], limit: int) -> None:
        if limit < 1:
            raise ValueError("a word cache must hold at least one word")
        self._compute = compute
        self._limit = limit
        self._entries: dict[str, _Value] = {}

    def __call__(self, word: str) -> _Value:
        try:
            return self._entries[word]
        except KeyError:
            pass
        if len(self._entries) >= self._limit:
            self._entries = {}
        value = self._entries[word] = self._compute(word)
        return value

    def __len__(self) -> int:
        return len(self._entries)
