"""Integer lookup tables over a fitted vocabulary, so a whole batch is featurised by compiled loops.

Word grams are looked up by number, not by string: each vocabulary word gets a token id, and an
n-gram is the base-``T`` number its token ids spell. Each n's keys are sorted, and indexed by
their first word, so finding an n-gram is a binary search over the few keys that share its first
word: a cache line or two, where one search over all keys would touch a dozen. The character
n-grams of every vocabulary word are counted once into a CSR table (token id -> character n-gram
counts); words outside the vocabulary get theirs from a bounded cache. :class:`GramIndex` is
derived data: it is rebuilt from the vocabularies after unpickling, never stored in the artifact.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from itertools import repeat
from typing import Any

import numpy as np

from app._kernels import CharTables, EvidenceTally, char_block, flatten_tokens, occurrence_block, word_grams
from app.wordcache import WordCache

__all__ = ["CharFeatures", "GramIndex", "TokenBatch", "WordFeatures", "char_grams"]

MAX_CHAR_WORD = 30  # longer "words" are URLs or junk; their character n-grams only add noise and time
SCOPE = 4  # tokens after a hedge or negation that fall in its scope
_OOV_CACHE_LIMIT = 100_000

HEDGES = frozenset(["may", "might", "could", "possibly", "potentially", "perhaps"])
NEGATIONS = frozenset(
    [
        *("not", "no", "never", "without", "zero", "non", "none", "nor", "cannot"),
        *("don't", "doesn't", "isn't", "aren't", "won't", "can't", "wasn't", "hasn't"),
    ]
)
_SCOPE_KIND = {**dict.fromkeys(HEDGES, 1), **dict.fromkeys(NEGATIONS, 2)}


def char_grams(token: str, sizes: tuple[int, int]) -> list[str]:
    if len(token) > MAX_CHAR_WORD:
        return []
    padded = f" {token} "
    low, high = sizes
    return [padded[i : i + n] for n in range(low, high + 1) for i in range(len(padded) - n + 1)]


@dataclass(frozen=True, slots=True)
class TokenBatch:
    """The tokens of a batch of texts, flattened: text ``i`` owns ``tokens[starts[i]:starts[i + 1]]``."""

    tokens: list[str]
    ids: Any  # token id of each token in the vocabulary, -1 where unknown
    rows: Any  # text of each token
    remaining: Any  # tokens from this one to the end of its text, itself included
    starts: Any
    lengths: Any
    unknown_words: list[str]  # the batch's words outside the vocabulary, each once
    unknown_rows: Any  # for each token, its index in unknown_words; -1 for vocabulary words
    kinds: Any  # for each token: 1 a hedge, 2 a negation, else 0
    derived: dict[str, Any] = field(default_factory=dict)  # tables built from this batch, kept for reuse


CharTable = tuple[Any, Any, Any]  # CSR arrays (row pointers, columns, counts): a word's character n-grams


@dataclass(frozen=True, slots=True)
class CharFeatures:
    """The character n-gram block of a batch: parallel arrays with one entry per (text, n-gram),
    ``rows``, ``columns``, ``counts`` and the TF-IDF ``values``, text ``r`` owning entries
    ``row_starts[r]:row_starts[r + 1]``; and the tables the tokens' n-grams were read from,
    which :meth:`add_evidence` reads again for the few texts that are explained."""

    rows: Any
    columns: Any
    counts: Any
    values: Any
    row_starts: Any
    tables: CharTables
    index: GramIndex

    def add_evidence(self, tally: EvidenceTally, column_offset: int) -> None:
        """Add every character n-gram of every token of the tally's explained rows to it; the
        block's columns are features ``column_offset`` onwards."""
        scratch = self.index._scratch("chars", len(self.index.char_vocabulary))
        tally.add_chars(self.tables, self.columns, self.counts, self.values, self.row_starts, scratch, column_offset)


@dataclass(frozen=True, slots=True)
class WordFeatures:
    """The word gram block of a batch: one entry per (text, gram) with its count and TF-IDF
    value, texts ascending; ``inverse[o]`` is the entry word occurrence ``o`` counts in."""

    rows: Any
    columns: Any
    counts: Any
    values: Any
    inverse: Any


@dataclass(frozen=True, slots=True)
class WordOccurrences:
    """Parallel arrays, one entry per vocabulary word gram found: text, feature, first token, width."""

    rows: Any
    features: Any
    firsts: Any
    widths: Any


class GramIndex:
    """Lookup tables for one fitted vocabulary (word grams, scope grams, character n-grams)."""

    def __init__(
        self,
        word_vocabulary: dict[str, int],
        char_vocabulary: dict[str, int],
        n_max: int,
        char_sizes: tuple[int, int],
        use_chars: bool,
    ) -> None:
        self.n_max = n_max
        self.char_sizes = char_sizes
        self.char_vocabulary = char_vocabulary
        unigrams = sorted(gram for gram in word_vocabulary if " " not in gram and ":" not in gram)
        self.token_ids = {word: i for i, word in enumerate(unigrams)}
        self.size = max(len(unigrams), 1)
        if self.size**n_max >= 2**62:
            raise ValueError(f"{n_max}-grams over {self.size} words do not fit 64-bit keys; lower word_ngrams")
        self.unigram_features = np.array([word_vocabulary[w] for w in unigrams], np.int64)
        self.kind_by_id = np.array([_SCOPE_KIND.get(word, 0) for word in unigrams] or [0], np.int8)
        self.hedge_scope = np.full(self.size, -1, np.int64)
        self.negation_scope = np.full(self.size, -1, np.int64)
        # Tokens hold no ":" and no space, so a ":" marks a scope gram ("h:word", "n:word") and spaces an
        # n-gram. Comprehensions rather than one loop with branches: that loop was a third of the start-up.
        for gram, feature in [(gram, feature) for gram, feature in word_vocabulary.items() if ":" in gram]:
            table = self.hedge_scope if gram[0] == "h" else self.negation_scope
            table[self.token_ids[gram[2:]]] = feature
        ngrams = [(gram.count(" ") + 1, gram, feature) for gram, feature in word_vocabulary.items() if " " in gram]
        by_length = {
            n: ([gram for k, gram, _ in ngrams if k == n], [feature for k, _, feature in ngrams if k == n])
            for n in range(2, n_max + 1)
        }
        # Each n's keys sorted and concatenated, with where the run of keys for each first word starts.
        self.gram_keys, self.gram_features, self.first_starts = self._gram_tables(by_length)
        self.char_table = self._char_table(unigrams) if use_chars else None
        self._oov_entry = WordCache(self._char_entry, _OOV_CACHE_LIMIT)  # a word outside the vocabulary's n-grams
        self._scratch_per_thread = threading.local()

    # --- batches ---------------------------------------------------------------------------

    def batch(self, token_lists: list[list[str]]) -> TokenBatch:
        return TokenBatch(*flatten_tokens(token_lists, self.token_ids, self.kind_by_id, _SCOPE_KIND))

    def word_occurrences(self, batch: TokenBatch, scope: bool) -> WordOccurrences:
        """Every vocabulary word gram of the batch: per text, its unigrams, n-grams, then scope grams."""
        rows, features, firsts, widths = word_grams(
            batch.ids,
            batch.starts,
            batch.kinds,
            self.unigram_features,
            self.gram_keys,
            self.gram_features,
            self.first_starts,
            self.hedge_scope,
            self.negation_scope,
            SCOPE if scope else 0,
        )
        return WordOccurrences(rows, features, firsts, widths)

    def char_features(self, batch: TokenBatch, idf: Any, weight: float) -> CharFeatures:
        """Each text's character n-gram counts and TF-IDF values."""
        assert self.char_table is not None
        oov = self._batch_unknown_table(batch)
        tables = CharTables(batch.starts, batch.ids, batch.unknown_rows, *self.char_table, *oov)
        scratch = self._scratch("chars", len(self.char_vocabulary))
        rows, columns, counts, values, row_starts = char_block(tables, idf, weight, scratch)
        return CharFeatures(rows, columns, counts, values, row_starts, tables, self)

    def word_features(self, batch: TokenBatch, words: WordOccurrences, idf: Any, weight: float) -> WordFeatures:
        """Each text's word gram counts and TF-IDF values, and the entry each occurrence counts in."""
        scratch = self._scratch("words", len(idf))
        rows, columns, counts, values, inverse = occurrence_block(
            words.rows, words.features, len(batch.lengths), idf, weight, scratch
        )
        return WordFeatures(rows, columns, counts, values, inverse)

    def _scratch(self, name: str, size: int) -> Any:
        # One per thread: a kernel marks the columns of the text it is on here, then clears them.
        scratch = getattr(self._scratch_per_thread, name, None)
        if scratch is None or len(scratch) < size:
            scratch = np.full(max(size, 1), -1, np.int32)
            setattr(self._scratch_per_thread, name, scratch)
        return scratch

    def _batch_unknown_table(self, batch: TokenBatch) -> CharTable:
        table = batch.derived.get("unknown_chars")
        if table is None:
            table = batch.derived["unknown_chars"] = self._oov_table(batch.unknown_words)
        return table

    def _gram_tables(self, by_length: dict[int, tuple[list[str], list[int]]]) -> tuple[Any, Any, Any]:
        keys_of, features_of = [], []
        first_starts = np.zeros((max(self.n_max - 1, 0), self.size + 1), np.int64)
        offset = 0
        for n, (grams, features) in sorted(by_length.items()):
            # All n-grams' words in one pass, then their keys column by column.
            words = " ".join(grams).split(" ") if grams else []
            ids = np.fromiter(map(self.token_ids.__getitem__, words), np.int64, len(words)).reshape(-1, n)
            keys = np.zeros(len(grams), np.int64)
            for column in range(n):
                keys = keys * self.size + ids[:, column]
            order = np.argsort(keys)
            keys_of.append(keys[order])
            features_of.append(np.array(features, np.int64)[order])
            first_starts[n - 2] = offset + np.searchsorted(ids[order, 0], np.arange(self.size + 1))
            offset += len(grams)
        empty = np.zeros(0, np.int64)
        keys = np.concatenate(keys_of) if keys_of else empty
        return keys, np.concatenate(features_of) if features_of else empty, first_starts

    # --- character n-gram tables -----------------------------------------------------------

    def _char_table(self, words: list[str]) -> CharTable:
        """Every word's character n-gram counts, built in one pass over all their n-grams: each
        (word, n-gram) pair as one integer key, counted by sorting, so rows come out in word order
        and each row's columns ascending."""
        per_word = [char_grams(word, self.char_sizes) for word in words]
        counts = np.fromiter(map(len, per_word), np.int64, len(words))
        grams = [gram for word_grams in per_word for gram in word_grams]
        columns = np.fromiter(map(self.char_vocabulary.get, grams, repeat(-1)), np.int64, len(grams))
        rows = np.repeat(np.arange(len(words)), counts)
        known = columns >= 0
        n_columns = max(len(self.char_vocabulary), 1)
        keys, repeats = np.unique(rows[known] * n_columns + columns[known], return_counts=True)
        indptr = np.zeros(len(words) + 1, np.int64)
        np.cumsum(np.bincount(keys // n_columns, minlength=len(words)), out=indptr[1:])
        return _char_table_of(indptr, keys % n_columns, repeats.astype(np.float64))

    def _oov_table(self, words: list[str]) -> CharTable:
        # Per word from a cache, not like _char_table: a batch brings ~100 unknown words, mostly seen before,
        # and the cache answers in a tenth of the time a vectorised pass over their n-grams takes.
        entries = [self._oov_entry(word) for word in words]
        indptr = np.zeros(len(entries) + 1, np.int64)
        np.cumsum([len(columns) for columns, _ in entries], out=indptr[1:])
        indices = np.concatenate([c for c, _ in entries]) if entries else np.zeros(0, np.int32)
        data = np.concatenate([v for _, v in entries]) if entries else np.zeros(0)
        return _char_table_of(indptr, indices, data)

    def _char_entry(self, word: str) -> tuple[Any, Any]:
        lookup = self.char_vocabulary.get
        found = Counter(i for i in map(lookup, char_grams(word, self.char_sizes)) if i is not None)
        return np.fromiter(found.keys(), np.int32, len(found)), np.fromiter(found.values(), np.float64, len(found))


def _char_table_of(indptr: Any, indices: Any, data: Any) -> CharTable:
    """The dtypes the kernel reads (int64 row pointers, int32 columns, float64 counts), read-only:
    :class:`app._kernels.CharTables` checks a batch against a table once and trusts it after."""
    table = (
        np.ascontiguousarray(indptr, np.int64),
        np.ascontiguousarray(indices, np.int32),
        np.ascontiguousarray(data, np.float64),
    )
    for array in table:
        array.flags.writeable = False
    return table
