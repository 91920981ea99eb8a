"""Matching the cue lexicons of :mod:`app.cues` over a whole batch of tokenised texts.

A cue phrase is a run of words, the last of which may be a prefix (``"revolution*"``).
Phrases are keyed by their first word, so only tokens that can start a phrase are looked at;
what a token can start is compiled once per vocabulary word, and cached for other words.
Conjunction cues (a disease claim is a treatment verb and a disease with no hedge) are derived
for all texts at once from a boolean matrix.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass
from typing import Any

import numpy as np

from app._kernels import match_phrases
from app.cues import CONJUNCTIONS, CUES
from app.gramindex import TokenBatch
from app.wordcache import WordCache

__all__ = ["CueMatches", "CuePatterns", "compile_cues"]

Pattern = tuple[tuple[str, bool], ...]  # the words after the first, each (word, is_prefix)
Conjunctions = dict[str, tuple[tuple[str, ...], tuple[str, ...]]]  # name: (required cues, excluded cues)
_CACHE_LIMIT = 200_000
_FRAGMENT_WORDS = 8  # a text of at most this many tokens with no closing punctuation is a fragment
_CLOSING = (".", "!", "?", ":", ";")
FRAGMENT = "shape:fragment"


def compile_cues(
    tokenize: Any,
) -> tuple[list[str], dict[str, list[tuple[int, Pattern]]], tuple[int, ...], Conjunctions]:
    """Cue names, phrases keyed by first word (or ``"*" + prefix``), the prefix lengths in use, and
    the conjunctions: everything a fitted vectorizer keeps, so an artifact never depends on how
    :mod:`app.cues` reads today."""
    names = [*CUES, *CONJUNCTIONS, FRAGMENT]
    by_first: dict[str, list[tuple[int, Pattern]]] = {}
    for cue_id, name in enumerate(CUES):
        for phrase in CUES[name]:
            prefix = phrase.endswith("*")
            words, _ = tokenize(phrase.rstrip("*"))
            pattern = tuple((word, prefix and i == len(words) - 1) for i, word in enumerate(words))
            key = ("*" + words[0]) if pattern[0][1] else words[0]
            by_first.setdefault(key, []).append((cue_id, pattern[1:]))
    prefix_lengths = tuple(sorted({len(k) - 1 for k in by_first if k.startswith("*")}))
    return names, by_first, prefix_lengths, dict(CONJUNCTIONS)


@dataclass(frozen=True, slots=True)
class CueMatches:
    """Every phrase match of a batch (parallel arrays: text, cue, first token, end token) and the
    cues each text fires, phrase cues and derived ones, as a (texts x cue names) boolean matrix."""

    rows: Any
    cues: Any
    firsts: Any
    ends: Any
    fired: Any
    patterns: CuePatterns

    def evidence(self, wanted_rows: Any) -> tuple[Any, Any, Any, Any]:
        """(text, cue, first token, width) for the texts marked in the boolean ``wanted_rows``:
        phrase matches, and for each derived conjunction the matches of the cues it requires."""
        wanted = wanted_rows[self.rows]
        rows, cues, firsts = self.rows[wanted], self.cues[wanted], self.firsts[wanted]
        widths = self.ends[wanted] - firsts
        # (match, conjunction) pairs where the match's cue is required and its text fired the conjunction
        columns = self.patterns.conjunction_columns
        holds = self.fired[rows][:, columns] & self.patterns.required[cues].astype(bool)
        match, conjunction = np.nonzero(holds)
        return (
            np.concatenate([rows, rows[match]]),
            np.concatenate([cues, columns[conjunction]]),
            np.concatenate([firsts, firsts[match]]),
            np.concatenate([widths, widths[match]]),
        )


class CuePatterns:
    """The compiled phrases of one fitted vectorizer: what each vocabulary word can start, by token
    id, and a cache of the same for words outside the vocabulary."""

    def __init__(
        self,
        names: list[str],
        by_first: dict[str, list[tuple[int, Pattern]]],
        prefixes: tuple[int, ...],
        conjunctions: Conjunctions,
        vocabulary: list[str],
    ) -> None:
        """``vocabulary``: the words that token batches number, in id order (:attr:`GramIndex.token_ids`)."""
        self.names = names
        self.by_first = by_first
        self.prefixes = prefixes
        self._unknown_word = WordCache(self._phrases_from, _CACHE_LIMIT)  # what a word outside the vocabulary starts
        # Looked up by token id, a batch's words need no string hashing; the final False is what id -1 reads.
        self._by_id: list[_Candidates | tuple[()]] = [()] * len(vocabulary)
        for token_id in self._starting_ids(vocabulary):
            self._by_id[token_id] = self._phrases_from(vocabulary[token_id])
        self._starts_by_id = np.array([bool(entry) for entry in self._by_id] + [False], bool)
        ids = {name: i for i, name in enumerate(names)}
        self.fragment_id = ids.get(FRAGMENT, -1)
        self.conjunction_columns = np.array([ids[name] for name in conjunctions], np.int64)
        # (cue x conjunction): the cue is required by / excludes the conjunction
        self.required = np.zeros((len(names), len(conjunctions)), np.float64)
        self.excluded = np.zeros((len(names), len(conjunctions)), np.float64)
        for column, (required, excluded) in enumerate(conjunctions.values()):
            self.required[[ids[name] for name in required], column] = 1
            self.excluded[[ids[name] for name in excluded], column] = 1
        self._required_counts = self.required.sum(axis=0)

    def match(self, texts: list[str], batch: TokenBatch) -> CueMatches:
        """Match every phrase over the batch's flattened tokens, never across texts, then derive
        the conjunction and shape cues."""
        unknown = [self._unknown_word(word) for word in batch.unknown_words]
        can_start = self._starts_by_id[batch.ids]
        if unknown:
            can_start |= np.array([bool(entry) for entry in unknown] + [False], bool)[batch.unknown_rows]
        starts, cues, ends = match_phrases(
            batch.tokens,
            np.flatnonzero(can_start),
            batch.remaining,
            batch.ids,
            batch.unknown_rows,
            self._by_id,
            unknown,
        )
        first = np.array(starts, np.int64)
        match_rows = batch.rows[first]
        fired = np.zeros((len(texts), len(self.names)), bool)
        fired[match_rows, cues] = True
        self._derive(texts, fired, batch.lengths)
        text_starts = batch.starts[match_rows]
        ends_in_text = np.array(ends, np.int64) - text_starts
        return CueMatches(match_rows, np.array(cues, np.int64), first - text_starts, ends_in_text, fired, self)

    def _derive(self, texts: list[str], fired: Any, lengths: Any) -> None:
        phrase_cues = fired.astype(np.float64)  # float: the products run in BLAS, and small counts stay exact
        met = (phrase_cues @ self.required == self._required_counts) & (phrase_cues @ self.excluded == 0)
        fired[:, self.conjunction_columns] = met
        if self.fragment_id < 0:
            return
        for row in np.flatnonzero((lengths > 0) & (lengths <= _FRAGMENT_WORDS)).tolist():
            if not texts[row].rstrip().endswith(_CLOSING):
                fired[row, self.fragment_id] = True

    def _starting_ids(self, vocabulary: list[str]) -> set[int]:
        """Ids of the words that start some phrase: a first word itself, or a word beginning with a
        first-word prefix, found by bisecting the sorted words (every word tried against every prefix
        length took 20 ms of start-up)."""
        id_of = {word: token_id for token_id, word in enumerate(vocabulary)}
        starting = {id_of[key] for key in self.by_first if key in id_of}
        ordered = sorted(vocabulary)
        for key in self.by_first:
            if key.startswith("*"):
                position = bisect_left(ordered, key[1:])
                while position < len(ordered) and ordered[position].startswith(key[1:]):
                    starting.add(id_of[ordered[position]])
                    position += 1
        return starting

    def _phrases_from(self, token: str) -> _Candidates | tuple[()]:
        """The phrases ``token`` can start, numbered in lexicon order and split by what they need
        next: nothing (one-word phrases), an exact second word, or a second word's prefix."""
        found = list(self.by_first.get(token, ()))
        for length in self.prefixes:
            if len(token) >= length:
                found.extend(self.by_first.get("*" + token[:length], ()))
        single: list[_Numbered] = []
        by_second: dict[str, list[_Numbered]] = {}
        prefixed: list[_Numbered] = []
        for number, (cue, tail) in enumerate(found):
            if not tail:
                single.append((number, cue, tail))
            elif tail[0][1]:
                prefixed.append((number, cue, tail))
            else:
                by_second.setdefault(tail[0][0], []).append((number, cue, tail))
        return (single, by_second, prefixed) if found else ()  # (): known to start no phrase


_Numbered = tuple[int, int, Pattern]  # (place among the token's phrases, cue, words after the first)
_Candidates = tuple[list[_Numbered], dict[str, list[_Numbered]], list[_Numbered]]
