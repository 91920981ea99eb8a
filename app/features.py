"""Sentence features: the one text-analysis code path for training and serving.

:func:`build_vectorizer` makes the :class:`ClaimVectorizer` that ``training/train.py`` fits
and the service uses, so the two can never disagree. It produces three blocks, each
L2-normalised and weighted:

- word n-grams (TF-IDF over lower-cased tokens, digits folded to ``0``);
- character n-grams inside words, which carry misspellings and word forms ("Hippa",
  "cures"/"cured") to the model. A word's character n-grams are computed once and cached, and
  a sentence's block is its word counts times the word table: one sparse product;
- cue features from :mod:`app.cues`, which generalise across diseases, agencies and hedges.

Every feature can be traced back to the token spans that produced it
(:meth:`ClaimVectorizer.occurrences`); evidence spans come from that map.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import repeat
from typing import Any

import numpy as np
import scipy.sparse as sp

from app.cues import CONJUNCTIONS, CUES

__all__ = ["Analysis", "ClaimVectorizer", "FeatureConfig", "Occurrences", "build_vectorizer", "tokenize"]

_TOKEN = re.compile(r"[^\W_]+(?:['\u2019][^\W_]+)*|[%#$]")
_NORMALISE = str.maketrans({**{str(d): "0" for d in range(10)}, "\u2019": "'"})
_MAX_CHAR_WORD = 30  # longer "words" are URLs or junk; their character n-grams only add noise and time
_CACHE_LIMIT = 200_000


def _normalise(text: str) -> str:
    return text.lower().translate(_NORMALISE)


def tokenize(text: str) -> tuple[list[str], list[tuple[int, int]]]:
    """Normalised tokens of ``text`` with their exact code-point spans in ``text``."""
    normalised = _normalise(text)
    if len(normalised) == len(text):
        matches = list(_TOKEN.finditer(normalised))
        return [m.group() for m in matches], [m.span() for m in matches]
    matches = list(_TOKEN.finditer(text))  # lower() changed the length: normalise token by token
    return [_normalise(m.group()) for m in matches], [m.span() for m in matches]


@dataclass(frozen=True)
class FeatureConfig:
    word_ngrams: int = 3
    char_ngrams: tuple[int, int] = (3, 5)
    min_df: int = 2
    word_weight: float = 1.0
    char_weight: float = 1.0
    cue_weight: float = 0.6
    # Words shortly after a hedge ("may") or a negation ("no") also count as "h:word" / "n:word",
    # so "may ease pain" and "eases pain" differ, as do "side effects" and "no side effects".
    scope_features: bool = True
    use_chars: bool = True
    use_cues: bool = True


@dataclass(frozen=True, slots=True)
class Analysis:
    """Per text of a batch: its tokens, the vocabulary ids of its word grams (``gram_ids``, -1 where
    unknown, text ``i`` at ``gram_starts[i]:gram_starts[i + 1]``), its cue matches and derived cues."""

    tokens: list[list[str]]
    gram_ids: Any
    gram_starts: Any
    cue_matches: list[list[tuple[int, int, int]]]
    derived: list[set[int]]


@dataclass(frozen=True, slots=True)
class Occurrences:
    """Parallel arrays: in text ``rows[i]``, feature ``features[i]`` was produced ``counts[i]``
    times by the tokens ``[firsts[i], firsts[i] + widths[i])``."""

    rows: Any
    features: Any
    firsts: Any
    widths: Any
    counts: Any


def build_vectorizer(config: FeatureConfig | None = None) -> ClaimVectorizer:
    return ClaimVectorizer(config or FeatureConfig())


_HEDGES = frozenset(["may", "might", "could", "possibly", "potentially", "perhaps"])
_NEGATIONS = frozenset(
    [
        *("not", "no", "never", "without", "zero", "non", "none", "nor", "cannot"),
        *("don't", "doesn't", "isn't", "aren't", "won't", "can't", "wasn't", "hasn't"),
    ]
)
_SCOPE_CUES = _HEDGES | _NEGATIONS


@lru_cache(maxsize=512)
def _gram_positions_cached(length: int, n_max: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    firsts = tuple(i for n in range(1, n_max + 1) for i in range(length - n + 1))
    widths = tuple(n for n in range(1, n_max + 1) for _ in range(length - n + 1))
    return firsts, widths


def _gram_positions(length: int, n_max: int) -> tuple[list[int], list[int]]:
    """First token and width of each gram _word_grams makes, in the same order."""
    firsts, widths = _gram_positions_cached(length, n_max)
    return list(firsts), list(widths)


_SCOPE = 4  # tokens after a cue that fall in its scope


def _scoped(tokens: list[str]) -> list[tuple[str, int]]:
    """("h:word" or "n:word", position) for every word in a hedge's or negation's scope."""
    found: list[tuple[str, int]] = []
    for i in [i for i, token in enumerate(tokens) if token in _SCOPE_CUES]:
        prefix = "h:" if tokens[i] in _HEDGES else "n:"
        found.extend((prefix + tokens[j], j) for j in range(i + 1, min(i + 1 + _SCOPE, len(tokens))))
    return found


def _word_grams(tokens: list[str], n_max: int, scope: bool = False) -> list[str]:
    grams = list(tokens)
    for n in range(2, n_max + 1):
        # map over zip runs in C: several times faster than joining slices in a generator
        grams.extend(map(" ".join, zip(*(tokens[k:] for k in range(n)), strict=False)))
    if scope:
        grams.extend(gram for gram, _ in _scoped(tokens))
    return grams


def _char_grams(token: str, sizes: tuple[int, int]) -> list[str]:
    if len(token) > _MAX_CHAR_WORD:
        return []
    padded = f" {token} "
    low, high = sizes
    return [padded[i : i + n] for n in range(low, high + 1) for i in range(len(padded) - n + 1)]


def _compile_cues() -> tuple[list[str], dict[str, list[tuple[int, tuple[tuple[str, bool], ...]]]]]:
    """Cue phrases as token patterns, keyed by their first word (or word prefix)."""
    names = list(CUES) + list(CONJUNCTIONS) + ["shape:fragment"]
    by_first: dict[str, list[tuple[int, tuple[tuple[str, bool], ...]]]] = {}
    for cue_id, name in enumerate(CUES):
        for phrase in CUES[name]:
            prefix = phrase.endswith("*")
            words, _ = tokenize(phrase.rstrip("*"))
            pattern = tuple((word, prefix and i == len(words) - 1) for i, word in enumerate(words))
            key = ("*" + words[0]) if pattern[0][1] else words[0]
            by_first.setdefault(key, []).append((cue_id, pattern[1:]))
    return names, by_first


@dataclass
class ClaimVectorizer:
    """Fit on sentences, transform sentences to a CSR matrix. Plain data; pickles safely."""

    config: FeatureConfig
    word_vocabulary_: dict[str, int] = field(default_factory=dict)
    char_vocabulary_: dict[str, int] = field(default_factory=dict)
    word_idf_: Any = None
    char_idf_: Any = None
    cue_names_: list[str] = field(default_factory=list)
    _cue_patterns: dict[str, list[tuple[int, tuple[tuple[str, bool], ...]]]] = field(default_factory=dict)
    _prefix_lengths: tuple[int, ...] = ()
    _char_cache: dict[str, tuple[Any, Any]] = field(default_factory=dict, repr=False)
    _cue_cache: dict[str, list[tuple[int, tuple[tuple[str, bool], ...]]]] = field(default_factory=dict, repr=False)

    # --- fitting ---------------------------------------------------------------------------

    def fit(self, texts: list[str]) -> ClaimVectorizer:
        word_df: Counter[str] = Counter()
        char_df: Counter[str] = Counter()
        for text in texts:
            tokens = _TOKEN.findall(_normalise(text))
            word_df.update(set(_word_grams(tokens, self.config.word_ngrams, self.config.scope_features)))
            if self.config.use_chars:
                char_df.update({g for t in set(tokens) for g in _char_grams(t, self.config.char_ngrams)})
        n = len(texts)
        self.word_vocabulary_, self.word_idf_ = _vocabulary(word_df, n, self.config.min_df)
        self.char_vocabulary_, self.char_idf_ = _vocabulary(char_df, n, self.config.min_df)
        names, patterns = _compile_cues()
        self.cue_names_ = names if self.config.use_cues else []
        self._cue_patterns = patterns if self.config.use_cues else {}
        self._prefix_lengths = tuple(sorted({len(k) - 1 for k in self._cue_patterns if k.startswith("*")}))
        self._char_cache, self._cue_cache = {}, {}
        return self

    @property
    def n_features(self) -> int:
        return len(self.word_vocabulary_) + len(self.char_vocabulary_) + len(self.cue_names_)

    def get_feature_names_out(self) -> list[str]:
        names = [""] * self.n_features
        for gram, index in self.word_vocabulary_.items():
            names[index] = f"w:{gram}"
        offset = len(self.word_vocabulary_)
        for gram, index in self.char_vocabulary_.items():
            names[offset + index] = f"c:{gram}"
        offset += len(self.char_vocabulary_)
        for index, name in enumerate(self.cue_names_):
            names[offset + index] = name if name.startswith("shape:") else f"cue:{name}"
        return names

    # --- transforming ----------------------------------------------------------------------

    def transform(self, texts: list[str]) -> sp.csr_matrix:
        rows, cols, data = self.transform_coo(texts)
        return sp.csr_matrix((data, (rows, cols)), shape=(len(texts), self.n_features))

    def transform_coo(self, texts: list[str]) -> tuple[Any, Any, Any]:
        """The feature matrix as (row, column, value) arrays: scoring needs no CSR."""
        return self.analyse(texts)[0]

    def analyse(self, texts: list[str]) -> tuple[tuple[Any, Any, Any], Analysis]:
        """The feature matrix as (row, column, value) arrays, and what was computed on the way,
        which :meth:`occurrences` reuses rather than tokenising and looking everything up again."""
        token_lists = [_TOKEN.findall(_normalise(text)) for text in texts]
        word_part, gram_ids, gram_starts = self._word_part(token_lists)
        parts = [word_part]
        offset = len(self.word_vocabulary_)
        if self.config.use_chars:
            parts.append(self._char_part(token_lists, offset))
        offset += len(self.char_vocabulary_)
        cue_matches: list[list[tuple[int, int, int]]] = []
        derived: list[set[int]] = []
        if self.config.use_cues:
            parts.append(self._cue_part(texts, token_lists, offset, cue_matches, derived))
        rows, cols, data = (np.concatenate(column) for column in zip(*parts, strict=True))
        return (rows, cols, data), Analysis(token_lists, gram_ids, gram_starts, cue_matches, derived)

    def fit_transform(self, texts: list[str]) -> sp.csr_matrix:
        return self.fit(texts).transform(texts)

    def _word_ids(self, tokens: list[str]) -> list[int]:
        """Vocabulary ids of the word grams of ``tokens`` (-1 where unknown), in _word_grams order."""
        grams = _word_grams(tokens, self.config.word_ngrams, self.config.scope_features)
        return list(map(self.word_vocabulary_.get, grams, repeat(-1)))  # the lookups run in C

    def _word_part(self, token_lists: list[list[str]]) -> tuple[_Part, Any, Any]:
        ids: list[int] = []
        lengths: list[int] = []
        for tokens in token_lists:
            token_ids = self._word_ids(tokens)
            ids += token_ids
            lengths.append(len(token_ids))
        found = np.array(ids, np.int64)
        starts = np.zeros(len(lengths) + 1, np.int64)
        starts[1:] = np.cumsum(lengths)
        rows = np.repeat(np.arange(len(token_lists)), lengths)
        known = found >= 0
        part = _tfidf_part(
            rows[known],
            found[known],
            None,
            self.word_idf_,
            self.config.word_weight,
            0,
        )
        return part, found, starts

    def _char_part(self, token_lists: list[list[str]], offset: int) -> _Part:
        words: dict[str, int] = {}
        rows: list[int] = []
        cols: list[int] = []
        for row, tokens in enumerate(token_lists):
            cols += [words.setdefault(token, len(words)) for token in tokens]
            rows += [row] * len(tokens)
        word_counts = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(token_lists), len(words)))
        grams = (word_counts @ self._word_table(list(words))).tocoo()
        return _tfidf_part(
            grams.row.astype(np.int64),
            grams.col.astype(np.int64),
            grams.data,
            self.char_idf_,
            self.config.char_weight,
            offset,
        )

    def _cue_part(
        self,
        texts: list[str],
        token_lists: list[list[str]],
        offset: int,
        matches_out: list[list[tuple[int, int, int]]],
        derived_out: list[set[int]],
    ) -> _Part:
        rows: list[int] = []
        cols: list[int] = []
        for row, (text, tokens) in enumerate(zip(texts, token_lists, strict=True)):
            matches = self._cue_matches(tokens)
            fired = {cue for cue, _, _ in matches}
            derived = self._derived_cues(text, tokens, fired)
            matches_out.append(matches)
            derived_out.append(derived)
            fired |= derived
            cols += fired
            rows += [row] * len(fired)
        return (
            np.array(rows, np.int64),
            np.array(cols, np.int64) + offset,
            np.full(len(rows), self.config.cue_weight),
        )

    def _word_table(self, words: list[str]) -> sp.csr_matrix:
        """Character n-gram counts of each word, one row per word, from the per-word cache."""
        entries = self._word_entries(words)
        indptr = np.zeros(len(words) + 1, dtype=np.int64)
        indptr[1:] = np.cumsum([len(e[0]) for e in entries])
        indices = np.concatenate([e[0] for e in entries]) if entries else np.zeros(0, np.int32)
        data = np.concatenate([e[1] for e in entries]) if entries else np.zeros(0)
        return sp.csr_matrix((data, indices, indptr), shape=(len(words), len(self.char_vocabulary_)))

    def _word_entries(self, words: list[str]) -> list[tuple[Any, Any]]:
        """(character n-gram indices, counts) of each word, computed once per word and cached."""
        if len(self._char_cache) > _CACHE_LIMIT:
            self._char_cache = {}
        entries = []
        for word in words:
            entry = self._char_cache.get(word)
            if entry is None:
                found = Counter(
                    i
                    for i in map(self.char_vocabulary_.get, _char_grams(word, self.config.char_ngrams))
                    if i is not None
                )
                entry = (
                    np.fromiter(found.keys(), np.int32, len(found)),
                    np.fromiter(found.values(), np.float64, len(found)),
                )
                self._char_cache[word] = entry
            entries.append(entry)
        return entries

    def _cue_block(self, texts: list[str], token_lists: list[list[str]]) -> sp.csr_matrix:
        rows: list[int] = []
        cols: list[int] = []
        for row, (text, tokens) in enumerate(zip(texts, token_lists, strict=True)):
            fired = {cue for cue, _, _ in self._cue_matches(tokens)}
            fired |= self._derived_cues(text, tokens, fired)
            cols.extend(fired)
            rows.extend([row] * len(fired))
        data = np.full(len(rows), self.config.cue_weight)
        return sp.csr_matrix((data, (rows, cols)), shape=(len(token_lists), len(self.cue_names_)))

    def _cue_matches(self, tokens: list[str]) -> list[tuple[int, int, int]]:
        """(cue id, first token, end token) for every cue phrase in ``tokens``."""
        matches = []
        for i, candidates in enumerate(map(self._cue_cache.get, tokens)):
            if candidates is None:
                candidates = self._cue_candidates(tokens[i])
            for cue, tail in candidates:
                end = i + 1
                for word, prefix in tail:
                    if end >= len(tokens) or not (tokens[end].startswith(word) if prefix else tokens[end] == word):
                        break
                    end += 1
                else:
                    matches.append((cue, i, end))
        return matches

    def _cue_candidates(self, token: str) -> list[tuple[int, tuple[tuple[str, bool], ...]]]:
        if len(self._cue_cache) > _CACHE_LIMIT:
            self._cue_cache = {}
        found = list(self._cue_patterns.get(token, ()))
        for length in self._prefix_lengths:
            if len(token) >= length:
                found.extend(self._cue_patterns.get("*" + token[:length], ()))
        self._cue_cache[token] = found
        return found

    def _derived_cues(self, text: str, tokens: list[str], fired: set[int]) -> set[int]:
        derived = {cue for cue, required, excluded in _CONJUNCTION_IDS if required <= fired and not excluded & fired}
        if 0 < len(tokens) <= 8 and not text.rstrip().endswith((".", "!", "?", ":", ";")):
            derived.add(_FRAGMENT_ID)
        return derived

    def fired_cues(self, text: str) -> set[str]:
        """Names of the cue features that fire for ``text`` (the keyword baseline reads these)."""
        tokens = _TOKEN.findall(_normalise(text))
        fired = {cue for cue, _, _ in self._cue_matches(tokens)}
        return {self.cue_names_[i] for i in fired | self._derived_cues(text, tokens, fired)}

    # --- explaining ------------------------------------------------------------------------

    def occurrences(
        self, texts: list[str], analysis: Analysis | None = None, rows: list[int] | None = None
    ) -> tuple[list[list[tuple[int, int]]], Occurrences]:
        """Token spans of each text, and every feature occurrence of all of them as parallel arrays.

        ``analysis`` is what :meth:`analyse` kept for a batch, and ``rows`` says which of its rows
        each text is; without them the texts are analysed here.
        """
        if analysis is None or rows is None:
            analysis, rows = self.analyse(texts)[1], list(range(len(texts)))
        all_spans: list[list[tuple[int, int]]] = []
        word_ids: list[Any] = []
        word_firsts: list[Any] = []
        word_widths: list[Any] = []
        cue_rows: list[int] = []
        cue_features: list[int] = []
        cue_firsts: list[int] = []
        cue_widths: list[int] = []
        char_parts: list[tuple[int, list[str]]] = []
        cue_offset = len(self.word_vocabulary_) + len(self.char_vocabulary_)
        for text_index, (text, row) in enumerate(zip(texts, rows, strict=True)):
            tokens, spans = tokenize(text)
            all_spans.append(spans)
            if tokens == analysis.tokens[row]:
                ids: Any = analysis.gram_ids[analysis.gram_starts[row] : analysis.gram_starts[row + 1]]
                matches = analysis.cue_matches[row] if self.config.use_cues else []
                derived = analysis.derived[row] if self.config.use_cues else set()
            else:  # case folding changed the tokenisation of this text: look it up afresh
                ids = np.array(self._word_ids(tokens), np.int64)
                matches = self._cue_matches(tokens) if self.config.use_cues else []
                fired = {cue for cue, _, _ in matches}
                derived = self._derived_cues(text, tokens, fired) if self.config.use_cues else set()
            firsts, widths = _gram_positions(len(tokens), self.config.word_ngrams)
            if self.config.scope_features:
                scoped = [position for _, position in _scoped(tokens)]
                firsts, widths = firsts + scoped, widths + [1] * len(scoped)
            word_ids.append(ids)
            word_firsts.append(firsts)
            word_widths.append(widths)
            if self.config.use_chars and tokens:
                char_parts.append((text_index, tokens))
            found = list(matches)
            for conjunction in derived:
                required = _CONJUNCTION_REQUIRED.get(conjunction, frozenset())
                found += [(conjunction, first, last) for cue, first, last in matches if cue in required]
            for cue, first, last in found:
                cue_rows.append(text_index)
                cue_features.append(cue_offset + cue)
                cue_firsts.append(first)
                cue_widths.append(last - first)
        lengths = [len(ids) for ids in word_ids]
        all_ids = np.concatenate(word_ids) if word_ids else np.zeros(0, np.int64)
        known = all_ids >= 0
        parts = [
            (
                np.repeat(np.arange(len(texts)), lengths)[known],
                all_ids[known],
                np.array([f for firsts in word_firsts for f in firsts], np.int64)[known],
                np.array([w for widths in word_widths for w in widths], np.int64)[known],
                np.ones(int(known.sum())),
            ),
            (
                np.array(cue_rows, np.int64),
                np.array(cue_features, np.int64),
                np.array(cue_firsts, np.int64),
                np.array(cue_widths, np.int64),
                np.ones(len(cue_rows)),
            ),
        ]
        if char_parts:
            # A word's character n-grams come straight from the cached word table, with their counts.
            offset = len(self.word_vocabulary_)
            for text_index, tokens in char_parts:
                entries = self._word_entries(tokens)
                entry_lengths = [len(entry[0]) for entry in entries]
                total = sum(entry_lengths)
                parts.append(
                    (
                        np.full(total, text_index, np.int64),
                        np.concatenate([entry[0] for entry in entries]).astype(np.int64) + offset,
                        np.repeat(np.arange(len(tokens)), entry_lengths),
                        np.ones(total, np.int64),
                        np.concatenate([entry[1] for entry in entries]),
                    )
                )
        return all_spans, Occurrences(*(np.concatenate(column) for column in zip(*parts, strict=True)))

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_char_cache"], state["_cue_cache"] = {}, {}  # caches are rebuilt on demand
        return state


_CUE_IDS = {name: i for i, name in enumerate(CUES)}
_CONJUNCTION_IDS = [
    (len(CUES) + i, frozenset(_CUE_IDS[r] for r in required), frozenset(_CUE_IDS[e] for e in excluded))
    for i, (required, excluded) in enumerate(CONJUNCTIONS.values())
]
_FRAGMENT_ID = len(CUES) + len(CONJUNCTIONS)
# A conjunction's evidence is the phrases of the cues it requires.
_CONJUNCTION_REQUIRED = {cue: required for cue, required, _ in _CONJUNCTION_IDS}
_Part = tuple[Any, Any, Any]


def _vocabulary(df: Counter[str], n_docs: int, min_df: int) -> tuple[dict[str, int], Any]:
    kept = sorted(gram for gram, count in df.items() if count >= min_df)
    vocabulary = {gram: i for i, gram in enumerate(kept)}
    idf = np.array([math.log((1 + n_docs) / (1 + df[g])) + 1.0 for g in kept], dtype=np.float64)
    return vocabulary, idf


def _tfidf_part(rows: Any, cols: Any, counts: Any, idf: Any, weight: float, offset: int) -> _Part:
    """Sublinear TF-IDF, L2-normalised per row, of (row, column[, count]) triples."""
    if counts is None:  # raw occurrences: count them
        width = int(idf.shape[0]) or 1
        keys, counts = np.unique(rows * width + cols, return_counts=True)
        rows, cols = keys // width, keys % width
    data = (1.0 + np.log(counts)) * idf[cols]
    norms = np.sqrt(np.bincount(rows, weights=data * data)) if len(rows) else np.zeros(0)
    data = data / norms[rows] * weight
    return rows, cols + offset, data
