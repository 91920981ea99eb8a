"""Sentence features: the one text-analysis code path for training and serving.

:func:`build_vectorizer` makes the :class:`ClaimVectorizer` that ``training/train.py`` fits
and the service uses, so the two can never disagree. It produces three blocks, each
L2-normalised and weighted:

- word n-grams (TF-IDF over lower-cased tokens, digits folded to ``0``), plus "h:word" and
  "n:word" for words shortly after a hedge or a negation;
- character n-grams inside words, which carry misspellings and word forms ("Hippa",
  "cures"/"cured") to the model;
- cue features from :mod:`app.cues`, which generalise across diseases, agencies and hedges.

Fitting counts grams as strings; transforming looks them up as integers over a whole batch
(:mod:`app.gramindex`), so the cost per sentence is a few numpy operations, not a Python
loop. Every feature can be traced back to the token spans that produced it, which is how
:meth:`ClaimVectorizer.token_scores` spreads a label's score over a sentence's tokens.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from app._kernels import EvidenceTally, find_tokens, token_spans
from app.cuematch import Conjunctions, CueMatches, CuePatterns, compile_cues
from app.cues import CONJUNCTIONS
from app.gramindex import (
    HEDGES,
    NEGATIONS,
    SCOPE,
    CharFeatures,
    GramIndex,
    TokenBatch,
    WordFeatures,
    WordOccurrences,
    char_grams,
)

if TYPE_CHECKING:
    import scipy.sparse as sp

__all__ = ["Analysis", "Block", "ClaimVectorizer", "FeatureConfig", "build_vectorizer", "tokenize"]

# One block of the feature matrix: (row, column, value) arrays, columns counted from the int.
Block = tuple[Any, Any, Any, int]

_FOLDS = [(str(d), "0") for d in range(10)] + [("\u2019", "'")]


def _normalise(text: str) -> str:
    text = text.lower()
    for old, new in _FOLDS:  # ten str.replace calls are several times faster than one str.translate
        if old in text:
            text = text.replace(old, new)
    return text


def tokenize(text: str) -> tuple[list[str], list[tuple[int, int]]]:
    """Normalised tokens of ``text`` with their exact code-point spans in ``text``.

    A token is a run of letters and digits, joined across an apostrophe ("don't"), or one of
    ``%``, ``#`` and ``$`` (:func:`app._kernels.find_tokens`)."""
    normalised = _normalise(text)
    if len(normalised) == len(text):
        tokens = find_tokens(normalised, 0, len(normalised))
        return tokens, token_spans(normalised, tokens)
    found = find_tokens(text, 0, len(text))  # lower() changed the length: normalise token by token
    return [_normalise(token) for token in found], token_spans(text, found)


def _tokens(text: str) -> list[str]:
    normalised = _normalise(text)
    return find_tokens(normalised, 0, len(normalised))


def _token_lists(texts: list[str]) -> tuple[list[list[str]], list[str | None]]:
    """:func:`_tokens` of each text, and each text normalised (None where lower-casing changed its
    length, so that its offsets are no longer the text's). The whole batch is normalised in one
    pass when that keeps its length: case mapping looks no further than the line break that joins
    two texts."""
    joined = "\n".join(texts)
    normalised = _normalise(joined)
    if len(normalised) != len(joined):
        each = [_normalise(text) for text in texts]
        kept = [n if len(n) == len(text) else None for n, text in zip(each, texts, strict=True)]
        return [find_tokens(n, 0, len(n)) for n in each], kept
    found: list[list[str]] = []
    slices: list[str | None] = []
    start = 0
    for text in texts:
        end = start + len(text)
        found.append(find_tokens(normalised, start, end))
        slices.append(normalised[start:end])
        start = end + 1
    return found, slices


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
    """What :meth:`ClaimVectorizer.analyse` computed for a batch, kept for explanations: the
    token lists and normalised texts, the flattened batch, every word gram found, the cue matches
    and the word and character n-gram blocks."""

    token_lists: list[list[str]]
    normalised: list[str | None]  # each text normalised; None where lower() changed its length, and so its offsets
    batch: TokenBatch
    words: WordOccurrences
    cues: CueMatches | None
    word_block: WordFeatures
    chars: CharFeatures | None


def build_vectorizer(config: FeatureConfig | None = None) -> ClaimVectorizer:
    return ClaimVectorizer(config or FeatureConfig())


def _word_grams(tokens: list[str], n_max: int, scope: bool) -> list[str]:
    """Every word gram of ``tokens`` as a string: how fitting counts document frequencies."""
    grams = list(tokens)
    for n in range(2, n_max + 1):
        grams.extend(map(" ".join, zip(*(tokens[k:] for k in range(n)), strict=False)))
    if scope:
        for i, token in enumerate(tokens):
            if token in HEDGES or token in NEGATIONS:
                prefix = "h:" if token in HEDGES else "n:"
                grams.extend(prefix + word for word in tokens[i + 1 : i + 1 + SCOPE])
    return grams


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
    _conjunctions: Conjunctions = field(default_factory=dict)
    # Lookup tables derived from the fields above: built on first use, never pickled.
    _index: GramIndex | None = field(default=None, repr=False)
    _cue_matcher: CuePatterns | None = field(default=None, repr=False)

    # --- fitting ---------------------------------------------------------------------------

    def fit(self, texts: list[str]) -> ClaimVectorizer:
        word_df: Counter[str] = Counter()
        char_df: Counter[str] = Counter()
        for text in texts:
            tokens = _tokens(text)
            word_df.update(set(_word_grams(tokens, self.config.word_ngrams, self.config.scope_features)))
            if self.config.use_chars:
                char_df.update({g for t in set(tokens) for g in char_grams(t, self.config.char_ngrams)})
        n = len(texts)
        self.word_vocabulary_, self.word_idf_ = _vocabulary(word_df, n, self.config.min_df)
        self.char_vocabulary_, self.char_idf_ = _vocabulary(char_df, n, self.config.min_df)
        if self.config.use_cues:
            self.cue_names_, self._cue_patterns, self._prefix_lengths, self._conjunctions = compile_cues(tokenize)
        else:
            self.cue_names_, self._cue_patterns, self._prefix_lengths, self._conjunctions = [], {}, (), {}
        self._index = self._cue_matcher = None
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

    @property
    def index(self) -> GramIndex:
        if self._index is None:
            self._index = GramIndex(
                self.word_vocabulary_,
                self.char_vocabulary_,
                self.config.word_ngrams,
                self.config.char_ngrams,
                self.config.use_chars,
            )
        return self._index

    @property
    def cue_matcher(self) -> CuePatterns:
        if self._cue_matcher is None:
            self._cue_matcher = CuePatterns(
                self.cue_names_,
                self._cue_patterns,
                self._prefix_lengths,
                self._conjunctions,
                list(self.index.token_ids),
            )
        return self._cue_matcher

    # --- transforming ----------------------------------------------------------------------

    def transform(self, texts: list[str]) -> sp.csr_matrix:
        import scipy.sparse as sp  # here, not at the top: serving never builds a matrix, and scipy is 0.13 s to import

        shifted = [(rows, columns + offset, values) for rows, columns, values, offset in self.analyse(texts)[0]]
        rows, columns, values = (np.concatenate(column) for column in zip(*shifted, strict=True))
        return sp.csr_matrix((values, (rows, columns)), shape=(len(texts), self.n_features))

    def fit_transform(self, texts: list[str]) -> sp.csr_matrix:
        return self.fit(texts).transform(texts)

    def analyse(self, texts: list[str]) -> tuple[list[Block], Analysis]:
        """The feature matrix in blocks (word grams, character n-grams, cues), each as (row, column,
        value) arrays with its first column, and what was computed on the way, which
        :meth:`token_scores` reuses rather than tokenising and looking everything up again. Scoring
        reads the blocks one after another (:func:`app._kernels.add_decisions`) and never joins them."""
        return self._analyse(texts, *_token_lists(texts))

    def _analyse(
        self, texts: list[str], token_lists: list[list[str]], normalised: list[str | None]
    ) -> tuple[list[Block], Analysis]:
        index = self.index
        batch = index.batch(token_lists)
        words = index.word_occurrences(batch, self.config.scope_features)
        word_block = index.word_features(batch, words, self.word_idf_, self.config.word_weight)
        blocks: list[Block] = [(word_block.rows, word_block.columns, word_block.values, 0)]
        offset = len(self.word_vocabulary_)
        chars = None
        if self.config.use_chars:
            chars = index.char_features(batch, self.char_idf_, self.config.char_weight)
            blocks.append((chars.rows, chars.columns, chars.values, offset))
        offset += len(self.char_vocabulary_)
        cues = None
        if self.config.use_cues:
            cues = self.cue_matcher.match(texts, batch)
            # np.nonzero's arrays are strided views of one (n, 2) array; the kernels read contiguous ones
            rows, columns = (np.ascontiguousarray(axis) for axis in np.nonzero(cues.fired))
            blocks.append((rows, columns, np.full(len(rows), self.config.cue_weight), offset))
        analysis = Analysis(token_lists, normalised, batch, words, cues, word_block, chars)
        return blocks, analysis

    def fired_cues(self, text: str) -> set[str]:
        """Names of the cue features that fire for ``text`` (the keyword baseline reads these)."""
        _, analysis = self.analyse([text])
        if analysis.cues is None:
            return set()
        return {self.cue_names_[i] for i in np.flatnonzero(analysis.cues.fired[0]).tolist()}

    # --- explaining ------------------------------------------------------------------------

    def token_scores(
        self,
        texts: list[str],
        labels: list[list[int]],
        weights: Any,
        analysis: Analysis | None = None,
        rows: list[int] | None = None,
    ) -> tuple[list[list[tuple[int, int]]], Any, Any]:
        """Each text's token spans, and how much each token adds to each of its labels' scores.

        Pairs (text, label) run text by text, each text's ``labels`` in order; pair ``p`` owns
        ``scores[token_starts[p]:token_starts[p + 1]]``, one score per token of its text, summing
        to ``x . weights[:, label]``: every feature occurrence adds the weight of its share of the
        feature's value to each token it covers (:class:`app._kernels.EvidenceTally`). ``weights``
        is (features x labels). ``analysis`` and ``rows`` are what :meth:`analyse` computed for a
        batch (row ``rows[i]`` holds text ``i``); without them the texts are analysed here.
        """
        if analysis is None or rows is None:
            analysis, rows = self.analyse(texts)[1], list(range(len(texts)))
        spans = []
        for row in rows:
            normalised = analysis.normalised[row]
            if normalised is None:
                # Lower-casing changed this text's length, and so maybe its tokens: explain each on its own.
                return self._token_scores_one_by_one(texts, labels, weights)
            # These are the tokens analyse() found, so only their spans are needed. Text between tokens
            # never holds a character a token starts with, so each token is the next occurrence of itself.
            spans.append(token_spans(normalised, analysis.token_lists[row]))
        pair_starts, pair_labels, token_starts = _pair_layout(labels, spans)
        positions = np.full(len(analysis.token_lists), -1, np.int64)
        positions[rows] = np.arange(len(rows))
        tally = EvidenceTally(positions, pair_starts, pair_labels, token_starts, weights)
        self._tally(analysis, positions, tally)
        return spans, tally.scores, token_starts

    def _tally(self, analysis: Analysis, positions: Any, tally: EvidenceTally) -> None:
        """Add every feature occurrence of the rows ``positions`` marks: word grams, then cue
        phrases, then character n-grams, so each token's contributions add up in one fixed order."""
        words, block = analysis.words, analysis.word_block
        # each word occurrence's share: its entry's value over how often the gram occurs in its text
        values, totals = block.values[block.inverse], block.counts[block.inverse]
        tally.add(words.rows, words.features, words.firsts, words.widths, np.ones(len(words.rows)), values, totals, 0)
        if analysis.cues is not None:
            cue_rows, cues, firsts, widths = analysis.cues.evidence(positions >= 0)
            # a cue's value is its weight, shared by all the phrases of it that the text holds
            pair_keys = cue_rows * len(self.cue_names_) + cues  # each (row, cue) pair as one number
            totals = np.bincount(pair_keys)[pair_keys].astype(np.float64)
            cue_offset = len(self.word_vocabulary_) + len(self.char_vocabulary_)
            weight = np.full(len(cue_rows), self.config.cue_weight)
            tally.add(cue_rows, cues, firsts, widths, np.ones(len(cue_rows)), weight, totals, cue_offset)
        if analysis.chars is not None:
            analysis.chars.add_evidence(tally, len(self.word_vocabulary_))

    def _token_scores_one_by_one(
        self, texts: list[str], labels: list[list[int]], weights: Any
    ) -> tuple[list[list[tuple[int, int]]], Any, Any]:
        """:meth:`token_scores` over the tokens :func:`tokenize` finds, for texts whose lower-casing
        changed length: each text is analysed from its own tokens, then the pairs put together."""
        all_spans: list[list[tuple[int, int]]] = []
        all_scores = []
        for text, label_list in zip(texts, labels, strict=True):
            tokens, spans = tokenize(text)
            all_spans.append(spans)
            # Not token_scores(): this text would send it back here.
            analysis = self._analyse([text], [tokens], [None])[1]
            one_text = np.zeros(1, np.int64)
            tally = EvidenceTally(one_text, *_pair_layout([label_list], [spans]), weights)
            self._tally(analysis, one_text, tally)
            all_scores.append(tally.scores)
        # Each text's pairs follow the last text's, so the scores concatenate in pair order.
        scores = np.concatenate(all_scores) if all_scores else np.zeros(0)
        return all_spans, scores, _pair_layout(labels, all_spans)[2]

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_index"] = state["_cue_matcher"] = None  # derived tables are rebuilt on demand
        # A vocabulary pickles as one string, its grams in index order: a dict of 160,000 small
        # strings takes joblib's pure-Python unpickler most of a second, the string a millisecond.
        for name in ("word_vocabulary_", "char_vocabulary_"):
            state[name] = _packed(state[name])
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        state.setdefault("_index", None)
        state.setdefault("_cue_matcher", None)
        for stale in ("_char_cache", "_cue_cache"):  # caches of artifacts written by older code
            state.pop(stale, None)
        for name in ("word_vocabulary_", "char_vocabulary_"):
            if isinstance(state.get(name), _PackedVocabulary):
                state[name] = state[name].unpack()
        if "_conjunctions" not in state:  # artifacts from before conjunctions were stored with the model
            names = state.get("cue_names_", [])
            state["_conjunctions"] = {name: CONJUNCTIONS[name] for name in names if name in CONJUNCTIONS}
        self.__dict__.update(state)


@dataclass(frozen=True)
class _PackedVocabulary:
    """A vocabulary {gram: index} with indices 0..n-1, as its grams joined in index order."""

    grams: str
    size: int

    def unpack(self) -> dict[str, int]:
        grams = self.grams.split(_SEPARATOR) if self.size else []
        return dict(zip(grams, range(len(grams)), strict=True))


_SEPARATOR = "\n"  # no gram holds a line break: tokens are runs of word characters


def _packed(vocabulary: dict[str, int]) -> _PackedVocabulary | dict[str, int]:
    grams = sorted(vocabulary, key=vocabulary.__getitem__)
    if [vocabulary[gram] for gram in grams] != list(range(len(grams))) or any(_SEPARATOR in g for g in grams):
        return vocabulary  # not 0..n-1, or a gram the string form cannot hold: pickle the dict as it is
    return _PackedVocabulary(_SEPARATOR.join(grams), len(grams))


def _pair_layout(labels: list[list[int]], spans: list[list[tuple[int, int]]]) -> tuple[Any, Any, Any]:
    """(pair_starts, pair_labels, token_starts) for the (text, label) pairs of texts with these labels and
    token spans, text by text: text ``i`` owns pairs ``pair_starts[i]:pair_starts[i + 1]``, and pair ``p``
    one score per token of its text, ``token_starts[p]:token_starts[p + 1]``."""
    per_text = np.fromiter(map(len, labels), np.int64, len(labels))
    pair_starts = np.zeros(len(labels) + 1, np.int64)
    np.cumsum(per_text, out=pair_starts[1:])
    pair_labels = np.fromiter((label for label_list in labels for label in label_list), np.int64, pair_starts[-1])
    tokens_per_text = np.fromiter(map(len, spans), np.int64, len(spans))
    token_starts = np.zeros(pair_starts[-1] + 1, np.int64)
    np.cumsum(np.repeat(tokens_per_text, per_text), out=token_starts[1:])
    return pair_starts, pair_labels, token_starts


def _vocabulary(df: Counter[str], n_docs: int, min_df: int) -> tuple[dict[str, int], Any]:
    kept = sorted(gram for gram, count in df.items() if count >= min_df)
    vocabulary = {gram: i for i, gram in enumerate(kept)}
    idf = np.array([math.log((1 + n_docs) / (1 + df[g])) + 1.0 for g in kept], dtype=np.float64)
    return vocabulary, idf
