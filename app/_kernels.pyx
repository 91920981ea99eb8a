# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Compiled inner loops of featurising and scoring.

Each of these replaced a chain of numpy and scipy calls on arrays of a few thousand entries,
where the cost was the calls themselves, not the arithmetic. They take and return numpy
arrays and hold no state. Bounds are not checked per access (``boundscheck=False``), so
each kernel checks every index it is given once, up front or as it reads it, and raises
``ValueError`` rather than touch memory outside an array.
"""

import numpy as np

cimport cython
from libc.math cimport fabs, log, rint, sqrt
from cpython.unicode cimport Py_UNICODE_ISALNUM, PyUnicode_Find
from libc.stdint cimport int8_t, int32_t, int64_t

cdef extern from *:
    void __builtin_prefetch(const void *address) nogil

# Prefetching: the tables a score reads (weights, IDF, character n-gram rows, scratch) are megabytes,
# read at scattered places, so most reads miss the cache, more so when a neighbour on the host
# crowds it. Asking for the cache line a few entries ahead overlaps those misses with the work
# on the entries before. A prefetch is only a hint: it never faults and changes no result.
DEF _PREFETCH_AHEAD = 8


@cython.final  # so that row_of is a plain inlined call
cdef class CharTables:
    """A batch's tokens and the character n-gram tables they read, checked once for the kernels
    below, which then read them unchecked.

    Text ``r`` owns tokens ``token_starts[r]:token_starts[r + 1]``; a token's n-gram counts are
    row ``ids[t]`` of the vocabulary's CSR table, or row ``unknown_rows[t]`` of the batch's table
    of unknown words when ``ids[t]`` is -1. So that nothing can change after the check, the
    batch's arrays are copied (they are small), and the vocabulary's table must be read-only.
    """

    cdef const int64_t[::1] token_starts, ids, unknown_rows, table_indptr, oov_indptr
    cdef const int32_t[::1] table_indices, oov_indices
    cdef const double[::1] table_data, oov_data
    cdef readonly Py_ssize_t n_rows, n_entries  # texts, and the table entries their tokens read in all

    def __init__(self, token_starts, ids, unknown_rows, table_indptr, table_indices, table_data, oov_indptr,
                 oov_indices, oov_data):
        if any(np.asarray(array).flags.writeable for array in (table_indptr, table_indices, table_data)):
            raise ValueError("the vocabulary's character table must be read-only")
        self.token_starts = np.array(token_starts, np.int64)
        self.ids = np.array(ids, np.int64)
        self.unknown_rows = np.array(unknown_rows, np.int64)
        self.table_indptr, self.table_indices, self.table_data = table_indptr, table_indices, table_data
        self.oov_indptr = np.array(oov_indptr, np.int64)
        self.oov_indices = np.array(oov_indices, np.int32)
        self.oov_data = np.array(oov_data, np.float64)
        self.n_rows = self.token_starts.shape[0] - 1
        self.n_entries = self._check()

    cdef Py_ssize_t _check(self) except -1:
        cdef Py_ssize_t n_tokens = self.ids.shape[0], total = 0, r, t
        if (self.n_rows < 0 or self.token_starts[0] != 0 or self.token_starts[self.n_rows] != n_tokens
                or self.unknown_rows.shape[0] != n_tokens):
            raise ValueError("token_starts, ids and unknown_rows do not describe the same tokens")
        for r in range(self.n_rows):
            if self.token_starts[r] > self.token_starts[r + 1]:
                raise ValueError("token_starts must not decrease")
        if (self.table_indices.shape[0] != self.table_data.shape[0]
                or self.oov_indices.shape[0] != self.oov_data.shape[0]):
            raise ValueError("a table's columns and counts differ in length")
        # Only the table rows this batch reads are checked: the vocabulary's table is large.
        for t in range(n_tokens):
            if self.ids[t] >= 0:
                if self.ids[t] >= self.table_indptr.shape[0] - 1:
                    raise ValueError("a token id is outside the vocabulary table")
                total += _row_length(self.table_indptr, self.ids[t], self.table_indices.shape[0])
            else:
                if not 0 <= self.unknown_rows[t] < self.oov_indptr.shape[0] - 1:
                    raise ValueError("an unknown token has no row in the table of unknown words")
                total += _row_length(self.oov_indptr, self.unknown_rows[t], self.oov_indices.shape[0])
        return total

    cdef inline Py_ssize_t row_of(self, Py_ssize_t t, const int64_t** indptr, const int32_t** indices,
                                  const double** data) noexcept:
        """Point at token ``t``'s table and return its row there."""
        if self.ids[t] >= 0:
            indptr[0], indices[0], data[0] = &self.table_indptr[0], &self.table_indices[0], &self.table_data[0]
            return self.ids[t]
        indptr[0], indices[0], data[0] = &self.oov_indptr[0], &self.oov_indices[0], &self.oov_data[0]
        return self.unknown_rows[t]


def char_block(CharTables tables not None, const double[::1] idf, double weight, int32_t[::1] slots):
    """Character n-gram counts and sublinear TF-IDF values, L2-normalised per text. ``slots`` is
    scratch as long as the vocabulary, all -1, and left so.

    Returns ``(rows, columns, counts, values, row_starts)``: one entry per (text, n-gram), in
    order of first appearance within each text, text ``r`` owning entries
    ``row_starts[r]:row_starts[r + 1]``.
    """
    cdef Py_ssize_t t, e, nnz = 0, row_start, s, r, table_row, row_end, total = tables.n_entries
    cdef int64_t column
    cdef const int64_t* indptr
    cdef const int32_t* indices
    cdef const double* data
    cdef Py_ssize_t n_columns = min(slots.shape[0], idf.shape[0])
    rows_array = np.empty(total, np.int64)
    columns_array = np.empty(total, np.int64)
    counts_array = np.empty(total, np.float64)
    values_array = np.empty(total, np.float64)
    row_starts_array = np.empty(tables.n_rows + 1, np.int64)
    cdef int64_t[::1] rows = rows_array, columns = columns_array, row_starts = row_starts_array
    cdef double[::1] counts = counts_array, values = values_array
    for r in range(tables.n_rows):
        row_start = row_starts[r] = nnz
        for t in range(tables.token_starts[r], tables.token_starts[r + 1]):
            table_row = tables.row_of(t, &indptr, &indices, &data)
            row_end = indptr[table_row + 1]
            for e in range(indptr[table_row], row_end):
                if e + _PREFETCH_AHEAD < row_end and 0 <= indices[e + _PREFETCH_AHEAD] < n_columns:
                    __builtin_prefetch(&slots[indices[e + _PREFETCH_AHEAD]])
                column = indices[e]
                if not 0 <= column < n_columns:
                    for s in range(row_start, nnz):  # leave the scratch as it was given
                        slots[columns[s]] = -1
                    raise ValueError("a character n-gram column is outside the vocabulary")
                s = slots[column]
                if s < 0:
                    __builtin_prefetch(&idf[column])  # read when the text is weighed
                    s = nnz
                    slots[column] = s
                    rows[s] = r
                    columns[s] = column
                    counts[s] = 0.0
                    nnz += 1
                counts[s] += data[e]
        _weigh_row(columns, counts, values, idf, weight, slots, row_start, nnz)
    row_starts[tables.n_rows] = nnz
    return rows_array[:nnz], columns_array[:nnz], counts_array[:nnz], values_array[:nnz], row_starts_array


# 1 + log(count) for the small whole counts that nearly every n-gram has: a log call costs
# more than all the rest of the work on an entry.
DEF _SMALL_COUNTS = 64
cdef double _LOG_TABLE[_SMALL_COUNTS]
cdef int _i
for _i in range(1, _SMALL_COUNTS):
    _LOG_TABLE[_i] = 1.0 + log(<double>_i)


cdef inline double _sublinear(double count) noexcept nogil:
    cdef int whole = <int>count
    if whole == count and 0 < whole < _SMALL_COUNTS:
        return _LOG_TABLE[whole]
    return 1.0 + log(count)


cdef inline void _weigh_row(
    const int64_t[::1] columns,
    const double[::1] counts,
    double[::1] values,
    const double[::1] idf,
    double weight,
    int32_t[::1] slots,
    Py_ssize_t first,
    Py_ssize_t end,
) noexcept:
    """Entries ``first:end`` are one text's: clear their slots, and set their values to the
    sublinear TF-IDF, L2-normalised over the text and scaled by ``weight``."""
    cdef Py_ssize_t s
    cdef double value, norm = 0.0
    for s in range(first, end):
        slots[columns[s]] = -1
        value = _sublinear(counts[s]) * idf[columns[s]]
        values[s] = value
        norm += value * value
    norm = sqrt(norm)
    for s in range(first, end):
        values[s] = values[s] / norm * weight


cdef Py_ssize_t _row_length(const int64_t[::1] indptr, int64_t row, Py_ssize_t n_entries) except -1:
    if not 0 <= indptr[row] <= indptr[row + 1] <= n_entries:
        raise ValueError("a CSR table's row pointers do not match its entries")
    return indptr[row + 1] - indptr[row]


def add_decisions(
    double[:, ::1] decision,
    const int64_t[::1] rows,
    const int64_t[::1] columns,
    const double[::1] values,
    const double[:, ::1] weights,
    Py_ssize_t column_offset,
):
    """``decision += X @ weights[column_offset:]`` for one block of X, given as (row, column, value)
    triples whose columns count from ``column_offset``; repeats add up. Blocks added one after
    another sum as their concatenation would, entry by entry, without building it.

    ``weights`` is (features x labels): all of one feature's labels are read together, from one
    cache line or two.
    """
    cdef Py_ssize_t n_labels = weights.shape[1], n = rows.shape[0], n_rows = decision.shape[0], i, j
    if columns.shape[0] != n or values.shape[0] != n or decision.shape[1] != n_labels:
        raise ValueError("rows, columns and values must be parallel, and the decisions one column per label")
    if column_offset < 0:
        raise ValueError("the block's first column is outside the weights")
    for i in range(n):
        if not (0 <= rows[i] < n_rows and 0 <= columns[i] < weights.shape[0] - column_offset):
            raise ValueError("a (row, column) pair is outside the decision matrix or the weights")
    for i in range(n):
        if i + _PREFETCH_AHEAD < n:
            __builtin_prefetch(&weights[columns[i + _PREFETCH_AHEAD] + column_offset, 0])
        for j in range(n_labels):
            decision[rows[i], j] += values[i] * weights[columns[i] + column_offset, j]


@cython.final
cdef class EvidenceTally:
    """Token scores of (text, label) pairs, added up one feature occurrence at a time.

    Batch row ``r`` is explained text ``positions[r]`` (-1: not explained); text ``s`` owns
    pairs ``pair_starts[s]:pair_starts[s + 1]``, and pair ``p`` (label ``pair_labels[p]``) owns
    ``scores[token_starts[p]:token_starts[p + 1]]``, one score per token of its text. An
    occurrence of feature ``f`` over tokens ``first:first + width``, with share ``value *
    count / total / width`` of the feature's value in its text, adds ``weights[f, label] *
    share`` to each of those tokens in every pair of its text, so a pair's scores sum to the
    text's ``x . w`` for its label. The small arrays are copied, so nothing changes after the
    check; ``weights`` (features x labels) is read with every feature index checked.
    """

    cdef const int64_t[::1] positions, pair_starts, pair_labels, token_starts
    cdef const double[:, ::1] weights
    cdef double[::1] _scores
    cdef readonly object scores
    cdef Py_ssize_t n_texts

    def __init__(self, positions, pair_starts, pair_labels, token_starts, const double[:, ::1] weights):
        cdef Py_ssize_t p, s, r
        self.positions = np.array(positions, np.int64)
        self.pair_starts = np.array(pair_starts, np.int64)
        self.pair_labels = np.array(pair_labels, np.int64)
        self.token_starts = np.array(token_starts, np.int64)
        self.weights = weights
        self.n_texts = self.pair_starts.shape[0] - 1
        cdef Py_ssize_t n_pairs = self.pair_labels.shape[0]
        if self.n_texts < 0 or self.pair_starts[0] != 0 or self.pair_starts[self.n_texts] != n_pairs:
            raise ValueError("pair_starts must run from 0 to the number of pairs")
        if self.token_starts.shape[0] != n_pairs + 1 or self.token_starts[0] != 0:
            raise ValueError("token_starts must give every pair's scores, from 0")
        for s in range(self.n_texts):
            if self.pair_starts[s] > self.pair_starts[s + 1]:
                raise ValueError("pair_starts must not decrease")
        for p in range(n_pairs):
            if not (0 <= self.pair_labels[p] < weights.shape[1] and self.token_starts[p] <= self.token_starts[p + 1]):
                raise ValueError("a pair's label or token range is out of range")
        for r in range(self.positions.shape[0]):
            if not -1 <= self.positions[r] < self.n_texts:
                raise ValueError("a batch row's position is not an explained text")
        self.scores = np.zeros(self.token_starts[n_pairs], np.float64)
        self._scores = self.scores

    cdef inline void _prefetch_weights(self, int64_t feature) noexcept:
        if 0 <= feature < self.weights.shape[0]:
            __builtin_prefetch(&self.weights[feature, 0])

    cdef inline int _add(self, int64_t text, int64_t feature, int64_t first, int64_t width, double share) except -1:
        cdef Py_ssize_t p, t, start
        cdef double weight
        if not (0 <= feature < self.weights.shape[0] and first >= 0 and width >= 0):
            raise ValueError("an occurrence's feature or tokens are out of range")
        for p in range(self.pair_starts[text], self.pair_starts[text + 1]):
            start = self.token_starts[p]
            if first + width > self.token_starts[p + 1] - start:
                raise ValueError("an occurrence runs past the end of its text")
            weight = self.weights[feature, self.pair_labels[p]] * share
            for t in range(start + first, start + first + width):
                self._scores[t] += weight
        return 0

    def add(
        self,
        const int64_t[::1] rows,
        const int64_t[::1] features,
        const int64_t[::1] firsts,
        const int64_t[::1] widths,
        const double[::1] counts,
        const double[::1] values,
        const double[::1] totals,
        int64_t feature_offset,
    ):
        """Occurrences as parallel arrays: batch row, feature (plus ``feature_offset``), first
        token and width in the row's text, and count, value and total for the share."""
        cdef Py_ssize_t o, n = rows.shape[0]
        cdef int64_t text
        if (features.shape[0] != n or firsts.shape[0] != n or widths.shape[0] != n or counts.shape[0] != n
                or values.shape[0] != n or totals.shape[0] != n):
            raise ValueError("occurrence arrays must be parallel")
        for o in range(n):
            if o + _PREFETCH_AHEAD < n:
                self._prefetch_weights(features[o + _PREFETCH_AHEAD] + feature_offset)
            if not 0 <= rows[o] < self.positions.shape[0]:
                raise ValueError("an occurrence's row is outside the batch")
            text = self.positions[rows[o]]
            if text >= 0:
                self._add(text, features[o] + feature_offset, firsts[o], widths[o],
                          values[o] * counts[o] / totals[o] / <double>widths[o])

    def add_chars(
        self,
        CharTables tables not None,
        const int64_t[::1] block_columns,
        const double[::1] block_counts,
        const double[::1] block_values,
        const int64_t[::1] row_starts,
        int32_t[::1] slots,
        int64_t column_offset,
    ):
        """Every character n-gram of every token of the explained rows, from the tables and the
        block :func:`char_block` built from them: one occurrence per (token, n-gram), width 1,
        count its count in the token, value and total its text's entry. ``slots`` is scratch as
        there."""
        cdef Py_ssize_t n_entries = block_columns.shape[0], t, e, s, r, table_row, row_end, place
        cdef int64_t column, text
        cdef const int64_t* indptr
        cdef const int32_t* indices
        cdef const double* data
        if (row_starts.shape[0] != tables.n_rows + 1 or row_starts[0] != 0 or row_starts[tables.n_rows] != n_entries
                or block_counts.shape[0] != n_entries or block_values.shape[0] != n_entries):
            raise ValueError("the character block does not belong to these texts")
        if self.positions.shape[0] != tables.n_rows:
            raise ValueError("the tables hold another batch")
        for r in range(tables.n_rows):
            text = self.positions[r]
            if text < 0:
                continue
            if not 0 <= row_starts[r] <= row_starts[r + 1] <= n_entries:
                raise ValueError("a text's entries are outside the character block")
            for s in range(row_starts[r], row_starts[r + 1]):
                if not 0 <= block_columns[s] < slots.shape[0]:
                    raise ValueError("a character n-gram column is outside the scratch")
            for s in range(row_starts[r], row_starts[r + 1]):
                slots[block_columns[s]] = s - row_starts[r]
            try:
                for t in range(tables.token_starts[r], tables.token_starts[r + 1]):
                    place = t - tables.token_starts[r]
                    table_row = tables.row_of(t, &indptr, &indices, &data)
                    row_end = indptr[table_row + 1]
                    for e in range(indptr[table_row], row_end):
                        if e + _PREFETCH_AHEAD < row_end:
                            self._prefetch_weights(indices[e + _PREFETCH_AHEAD] + column_offset)
                        column = indices[e]
                        s = slots[column] if 0 <= column < slots.shape[0] else -1
                        if s < 0:
                            raise ValueError("a token's character n-gram is not in its text's block")
                        s += row_starts[r]
                        self._add(text, column + column_offset, place, 1, block_values[s] * data[e] / block_counts[s] / 1.0)
            finally:
                for s in range(row_starts[r], row_starts[r + 1]):
                    slots[block_columns[s]] = -1


def positive_runs(const double[::1] scores, const int64_t[::1] token_starts, double floor):
    """Per pair's slice of ``scores``, the maximal runs of tokens scoring at least ``floor``
    times the slice's best, when that best is positive: (pair, first token, last token, summed
    score) arrays, in pair then token order. Also, per pair, the best score and the first token
    that has it (-1 for an empty slice)."""
    cdef Py_ssize_t n_pairs = token_starts.shape[0] - 1, p, t, n_runs = 0, start, end
    cdef double best, cut, total
    cdef int64_t first = -1
    if n_pairs < 0 or token_starts[n_pairs] > scores.shape[0]:
        raise ValueError("token ranges run past the scores")
    for p in range(n_pairs):
        if not 0 <= token_starts[p] <= token_starts[p + 1]:
            raise ValueError("token_starts must not decrease")
    run_pairs_array = np.empty(scores.shape[0], np.int64)
    run_firsts_array = np.empty(scores.shape[0], np.int64)
    run_lasts_array = np.empty(scores.shape[0], np.int64)
    run_sums_array = np.empty(scores.shape[0], np.float64)
    best_array = np.zeros(n_pairs, np.float64)
    best_token_array = np.full(n_pairs, -1, np.int64)
    cdef int64_t[::1] run_pairs = run_pairs_array, run_firsts = run_firsts_array, run_lasts = run_lasts_array
    cdef double[::1] run_sums = run_sums_array, bests = best_array
    cdef int64_t[::1] best_tokens = best_token_array
    for p in range(n_pairs):
        start, end = token_starts[p], token_starts[p + 1]
        if start == end:
            continue
        best_tokens[p] = 0
        best = scores[start]
        for t in range(start + 1, end):
            if scores[t] > best:
                best, best_tokens[p] = scores[t], t - start
        bests[p] = best
        if best <= 0:
            continue
        cut = best * floor
        first = -1
        for t in range(start, end + 1):
            if t < end and scores[t] >= cut:
                if first < 0:
                    first, total = t - start, 0.0
                total += scores[t]
            elif first >= 0:
                run_pairs[n_runs], run_firsts[n_runs], run_lasts[n_runs] = p, first, t - start - 1
                run_sums[n_runs] = total
                n_runs += 1
                first = -1
    return (
        run_pairs_array[:n_runs],
        run_firsts_array[:n_runs],
        run_lasts_array[:n_runs],
        run_sums_array[:n_runs],
        best_array,
        best_token_array,
    )


cdef double _round4(double x):
    """``round(x, 4)``, exactly as Python rounds (the float nearest the decimal that the exact
    value of ``x`` rounds to, half to even), without its decimal conversion in the common case:
    when ``x * 10000`` is far enough from a half, ``rint`` of it is the integer Python would pick
    (the product is off by at most 2**-22 below 1e9), and dividing that integer by 10000 gives the
    float nearest the decimal, as Python's conversion back does. Near a half, or out of range,
    Python's own ``round`` decides."""
    cdef double scaled = x * 10000.0, whole
    if not fabs(scaled) < 1e9:  # also NaN and the infinities
        return round(x, 4)
    whole = rint(scaled)
    if fabs(fabs(scaled - whole) - 0.5) < 1e-6:
        return round(x, 4)
    return whole / 10000.0


def round4(double x):
    """:func:`round` to 4 digits, as the kernels do it (exposed for the tests)."""
    return _round4(x)


def evidence_runs(
    const double[::1] scores, const int64_t[::1] token_starts, double floor, Py_ssize_t max_runs, double keep_ratio
):
    """For each pair's slice of ``scores``: the runs of :func:`positive_runs` worth showing, as
    ``(first token, last token, summed score rounded to 4 digits)``, strongest first (ties: the
    earlier run), at most ``max_runs`` and none below ``keep_ratio`` of the strongest. A pair
    whose best token is not positive gets that token alone, with its unrounded score; an empty
    slice gets nothing."""
    if max_runs < 0:
        raise ValueError("max_runs must not be negative")
    run_pairs_array, firsts_array, lasts_array, sums_array, best_array, best_token_array = positive_runs(
        scores, token_starts, floor
    )
    cdef const int64_t[::1] run_pairs = run_pairs_array, firsts = firsts_array, lasts = lasts_array
    cdef const int64_t[::1] best_tokens = best_token_array
    cdef const double[::1] sums = sums_array, bests = best_array
    cdef Py_ssize_t n_runs = run_pairs.shape[0], n_pairs = token_starts.shape[0] - 1, p, i = 0, begin, j, k, chosen
    rounded_array = np.empty(n_runs, np.float64)
    taken_array = np.zeros(n_runs, np.int8)
    cdef double[::1] rounded = rounded_array
    cdef int8_t[::1] taken = taken_array
    cdef double strongest = 0.0
    for j in range(n_runs):
        rounded[j] = _round4(sums[j])
    result = []
    for p in range(n_pairs):
        begin = i
        while i < n_runs and run_pairs[i] == p:
            i += 1
        kept = []
        if begin == i:
            if bests[p] <= 0 and best_tokens[p] >= 0:  # nothing pushes this label up: the least negative token
                kept.append((best_tokens[p], best_tokens[p], bests[p]))
        else:
            for k in range(max_runs):
                chosen = -1
                for j in range(begin, i):
                    if not taken[j] and (chosen < 0 or rounded[j] > rounded[chosen]):
                        chosen = j
                if chosen < 0:
                    break
                if k == 0:
                    strongest = rounded[chosen]
                if not rounded[chosen] >= strongest * keep_ratio:
                    break  # every run left is weaker still
                taken[chosen] = 1
                kept.append((firsts[chosen], lasts[chosen], rounded[chosen]))
        result.append(kept)
    return result


def token_spans(str text, list tokens):
    """Where each of ``tokens`` sits in ``text``, each searched for from the end of the last:
    (start, end) code-point offsets."""
    cdef Py_ssize_t position = 0, length = len(text)
    spans = []
    for token in tokens:
        position = PyUnicode_Find(text, token, position, length, 1)
        if position < 0:
            raise ValueError(f"token {token!r} is not in the text after the previous one")
        spans.append((position, position + len(token)))
        position += len(token)
    return spans


cdef inline bint _joins(Py_UCS4 c) noexcept:
    return c == 0x27 or c == 0x2019  # ' and ’, which join "don't" or "patient's" into one token


def find_tokens(str text, Py_ssize_t start, Py_ssize_t end):
    """The tokens of ``text[start:end]`` in order, as the regular expression
    ``[^\\W_]+(?:['\u2019][^\\W_]+)*|[%#$]`` finds them: runs of letters and digits (what
    ``str.isalnum`` accepts, as the ``re`` module's Unicode ``\\w`` without "_"), joined across
    an apostrophe that has such a character on each side; and each of ``%``, ``#`` and ``$``
    alone. The expression's matcher steps through the text in bytecode; this is one loop."""
    cdef Py_ssize_t i, j, length = len(text)
    cdef Py_UCS4 c
    cdef list tokens = []
    if not 0 <= start <= end <= length:
        raise ValueError("start and end must be offsets into the text, start first")
    i = start
    while i < end:
        c = text[i]
        if Py_UNICODE_ISALNUM(c):
            j = i + 1
            while True:
                while j < end and Py_UNICODE_ISALNUM(text[j]):
                    j += 1
                if j + 1 < end and _joins(text[j]) and Py_UNICODE_ISALNUM(text[j + 1]):
                    j += 2
                else:
                    break
            tokens.append(text[i:j])
            i = j
        else:
            if c == 0x25 or c == 0x23 or c == 0x24:  # % # $
                tokens.append(text[i : i + 1])
            i += 1
    return tokens


def match_phrases(
    list tokens,
    const int64_t[::1] hits,
    const int64_t[::1] remaining,
    const int64_t[::1] ids,
    const int64_t[::1] unknown_rows,
    list by_id,
    list unknown,
):
    """Phrase matches starting at the tokens ``hits``, none running past the end of the token's
    text (``remaining[i]`` tokens from token ``i`` on, itself included): (first tokens, cues, end
    tokens) as lists.

    What token ``i`` can start is ``by_id[ids[i]]``, or, for a word outside the vocabulary (id
    -1), ``unknown[unknown_rows[i]]``, as :class:`app.cuematch.CuePatterns` compiles it: (one-word
    phrases, phrases by exact second word, phrases whose second word is a prefix), each phrase
    (place in lexicon order, cue, words after the first as (word, is_prefix)); ``()`` when it
    starts none. Phrases are tried in lexicon order, so matches come out in the order a plain
    loop over all of them would give.
    """
    cdef Py_ssize_t k, i, limit, end, n_tokens = len(tokens)
    cdef int64_t token_id
    cdef list starts = [], cues = [], ends = [], tried
    cdef tuple entry, phrase, step
    cdef bint matched
    if remaining.shape[0] != n_tokens or ids.shape[0] != n_tokens or unknown_rows.shape[0] != n_tokens:
        raise ValueError("remaining, ids and unknown_rows must have one entry per token")
    for k in range(hits.shape[0]):
        i = hits[k]
        if not (0 <= i < n_tokens and 1 <= remaining[i] <= n_tokens - i):
            raise ValueError("a hit or its text's end is outside the tokens")
        limit = i + remaining[i]
        token_id = ids[i]
        if 0 <= token_id < len(by_id):
            entry = by_id[token_id]
        elif token_id == -1 and 0 <= unknown_rows[i] < len(unknown):
            entry = unknown[unknown_rows[i]]
        else:
            raise ValueError("a hit's token id or unknown word is outside the tables")
        if not entry:
            continue
        tried = entry[0]
        if i + 1 < limit:
            following = entry[1].get(tokens[i + 1])
            if following or entry[2]:
                tried = sorted(tried + (following or []) + entry[2])
        for phrase in tried:
            end = i + 1
            matched = True
            for step in phrase[2]:
                if end >= limit:
                    matched = False
                    break
                if step[1]:
                    if not tokens[end].startswith(step[0]):
                        matched = False
                        break
                elif tokens[end] != step[0]:
                    matched = False
                    break
                end += 1
            if matched:
                starts.append(i)
                cues.append(phrase[1])
                ends.append(end)
    return starts, cues, ends


def occurrence_block(
    const int64_t[::1] rows,
    const int64_t[::1] features,
    Py_ssize_t n_rows,
    const double[::1] idf,
    double weight,
    int32_t[::1] slots,
):
    """Sublinear TF-IDF, L2-normalised per row, of raw (row, feature) occurrences in any order.

    Returns ``(rows, columns, counts, values, inverse)``: one entry per (row, feature), rows
    ascending and, within a row, in order of first occurrence; and for each occurrence the entry
    it was counted in. ``slots`` is scratch as long as ``idf``, all -1, and left so.
    """
    cdef Py_ssize_t n = rows.shape[0], o, k, s, nnz = 0, row_start, r
    cdef int64_t feature
    if features.shape[0] != n or slots.shape[0] < idf.shape[0] or n_rows < 0:
        raise ValueError("rows and features must be parallel, and the scratch as long as idf")
    for o in range(n):
        if not (0 <= features[o] < idf.shape[0] and 0 <= rows[o] < n_rows):
            raise ValueError("an occurrence's row or feature is out of range")
    # Occurrences bucketed by row, keeping their order within a row (a counting sort).
    row_starts_array = np.zeros(n_rows + 1, np.int64)
    order_array = np.empty(n, np.int64)
    cdef int64_t[::1] row_starts = row_starts_array, order = order_array
    for o in range(n):
        row_starts[rows[o] + 1] += 1
    for r in range(n_rows):
        row_starts[r + 1] += row_starts[r]
    for o in range(n):
        order[row_starts[rows[o]]] = o
        row_starts[rows[o]] += 1
    rows_array = np.empty(n, np.int64)
    columns_array = np.empty(n, np.int64)
    counts_array = np.empty(n, np.float64)
    values_array = np.empty(n, np.float64)
    inverse_array = np.empty(n, np.int64)
    cdef int64_t[::1] out_rows = rows_array, out_columns = columns_array, inverse = inverse_array
    cdef double[::1] counts = counts_array, values = values_array
    k = 0
    for r in range(n_rows):  # row_starts[r] is now where row r's bucket ends
        row_start = nnz
        while k < row_starts[r]:
            if k + _PREFETCH_AHEAD < n:
                __builtin_prefetch(&slots[features[order[k + _PREFETCH_AHEAD]]])
            o = order[k]
            feature = features[o]
            s = slots[feature]
            if s < 0:
                __builtin_prefetch(&idf[feature])  # read when the row is weighed
                s = nnz
                slots[feature] = <int32_t>(s - row_start)
                out_rows[s], out_columns[s], counts[s] = r, feature, 0.0
                nnz += 1
            else:
                s += row_start
            counts[s] += 1.0
            inverse[o] = s
            k += 1
        _weigh_row(out_columns, counts, values, idf, weight, slots, row_start, nnz)
    return rows_array[:nnz], columns_array[:nnz], counts_array[:nnz], values_array[:nnz], inverse_array


def flatten_tokens(list token_lists, dict token_ids, const int8_t[::1] kind_by_id, dict kinds):
    """A batch's token lists as one flat run of tokens, with what featurising needs per token.

    ``token_ids`` maps vocabulary words to ids ``0 .. len(kind_by_id) - 1``; a word's scope kind
    (0 none, 1 hedge, 2 negation) is ``kind_by_id[id]``, or ``kinds.get(word, 0)`` for a word
    outside the vocabulary.

    Returns ``(tokens, ids, rows, remaining, starts, lengths, unknown_words, unknown_rows,
    token_kinds)``: per token its id (-1 outside the vocabulary), text and tokens left in its
    text (itself included); per text where its tokens start
    (plus the total) and how many it has; the batch's words outside the vocabulary, each once
    in order of first appearance, and per token its place in that list (-1 for vocabulary
    words); and per token its scope kind.
    """
    cdef Py_ssize_t n_rows = len(token_lists), n = 0, r, p, k = 0, length, n_ids = kind_by_id.shape[0]
    cdef list token_list, tokens = []
    cdef dict unknown = {}
    cdef int64_t token_id
    for token_list in token_lists:
        n += len(token_list)
    ids_array = np.empty(n, np.int64)
    rows_array = np.empty(n, np.int64)
    remaining_array = np.empty(n, np.int64)
    unknown_rows_array = np.empty(n, np.int64)
    kinds_array = np.empty(n, np.int8)
    starts_array = np.empty(n_rows + 1, np.int64)
    lengths_array = np.empty(n_rows, np.int64)
    cdef int64_t[::1] ids = ids_array, rows = rows_array
    cdef int64_t[::1] remaining = remaining_array, unknown_rows = unknown_rows_array
    cdef int64_t[::1] starts = starts_array, lengths = lengths_array
    cdef int8_t[::1] token_kinds = kinds_array
    for r in range(n_rows):
        token_list = token_lists[r]
        length = len(token_list)
        if k + length > n:  # a list grew while the batch was read
            raise ValueError("the token lists changed while they were flattened")
        starts[r], lengths[r] = k, length
        tokens.extend(token_list)
        for p in range(length):
            token = token_list[p]
            value = token_ids.get(token)
            if value is None:
                ids[k] = -1
                place = unknown.get(token)
                if place is None:
                    place = unknown[token] = len(unknown)
                unknown_rows[k] = place
                token_kinds[k] = kinds.get(token, 0)
            else:
                token_id = value
                if not 0 <= token_id < n_ids:
                    raise ValueError("a token id is outside the table of scope kinds")
                ids[k], unknown_rows[k], token_kinds[k] = token_id, -1, kind_by_id[token_id]
            rows[k], remaining[k] = r, length - p
            k += 1
    if k != n:
        raise ValueError("the token lists changed while they were flattened")
    starts[n_rows] = k
    return (
        tokens, ids_array, rows_array, remaining_array, starts_array, lengths_array,
        list(unknown), unknown_rows_array, kinds_array,
    )


cdef inline int64_t _gram_feature(
    const int64_t[::1] keys, const int64_t[::1] features, int64_t low, int64_t high, int64_t key
) noexcept nogil:
    """The feature of ``key`` among the sorted ``keys[low:high]``, or -1."""
    cdef int64_t middle, end = high
    while low < high:
        middle = (low + high) >> 1
        if keys[middle] < key:
            low = middle + 1
        else:
            high = middle
    if low < end and keys[low] == key:
        return features[low]
    return -1


def word_grams(
    const int64_t[::1] ids,
    const int64_t[::1] token_starts,
    const int8_t[::1] kinds,
    const int64_t[::1] unigram_features,
    const int64_t[::1] gram_keys,
    const int64_t[::1] gram_features,
    const int64_t[:, ::1] first_starts,
    const int64_t[::1] hedge_scope,
    const int64_t[::1] negation_scope,
    Py_ssize_t scope_reach,
):
    """Every vocabulary word gram of a flattened batch: (rows, features, firsts, widths), text
    by text, and within a text its unigrams, then its 2-grams, 3-grams, ..., then its scope grams,
    each in token order.

    Token ``t`` has vocabulary id ``ids[t]`` (-1: unknown) and scope kind ``kinds[t]`` (1 hedge,
    2 negation); text ``r`` owns tokens ``token_starts[r]:token_starts[r + 1]``. With ``size``
    ids, an n-gram's key is the base-``size`` number its ids spell; ``first_starts[n - 2, a]``
    to ``first_starts[n - 2, a + 1]`` is the sorted run of ``gram_keys`` (with their
    ``gram_features``) of the n-grams whose first id is ``a``. A hedge or negation puts each of
    the next ``scope_reach`` tokens of its text into its scope, where a word with id ``i`` is
    feature ``hedge_scope[i]`` or ``negation_scope[i]`` (-1: none).
    """
    cdef Py_ssize_t n = ids.shape[0], n_rows = token_starts.shape[0] - 1, r, t, u, i, k = 0, start, end
    cdef Py_ssize_t size = first_starts.shape[1] - 1, n_max = first_starts.shape[0] + 1, gram, n_scoped = 0, capacity
    cdef int64_t key, low, high, feature, limit = (<int64_t>1) << 62
    cdef const int64_t[::1] scope_table
    if (n_rows < 0 or token_starts[0] != 0 or token_starts[n_rows] != n or kinds.shape[0] != n or size < 1
            or unigram_features.shape[0] != size or hedge_scope.shape[0] != size
            or negation_scope.shape[0] != size or gram_keys.shape[0] != gram_features.shape[0] or scope_reach < 0):
        raise ValueError("the tokens, texts and tables do not fit together")
    key = 1
    for gram in range(n_max):
        if key >= limit // size:
            raise ValueError("n-gram keys over this many ids do not fit in 64 bits")
        key *= size
    for r in range(n_rows):
        if token_starts[r] > token_starts[r + 1]:
            raise ValueError("token_starts must not decrease")
    for t in range(n):
        if not -1 <= ids[t] < size:
            raise ValueError("a token id is outside the vocabulary")
        if kinds[t]:
            n_scoped += 1
        if ids[t] >= 0:  # the tables' lines for every token fit in the L2 cache: ask for them all now
            __builtin_prefetch(&unigram_features[ids[t]])
            for gram in range(n_max - 1):
                __builtin_prefetch(&first_starts[gram, ids[t]])
    capacity = n * n_max + n_scoped * scope_reach
    rows_array = np.empty(capacity, np.int64)
    features_array = np.empty(capacity, np.int64)
    firsts_array = np.empty(capacity, np.int64)
    widths_array = np.empty(capacity, np.int64)
    cdef int64_t[::1] out_rows = rows_array, out_features = features_array
    cdef int64_t[::1] out_firsts = firsts_array, out_widths = widths_array
    for r in range(n_rows):
        start, end = token_starts[r], token_starts[r + 1]
        for t in range(start, end):
            if ids[t] >= 0:
                out_rows[k], out_features[k], out_firsts[k], out_widths[k] = r, unigram_features[ids[t]], t - start, 1
                k += 1
        for gram in range(2, n_max + 1):
            for t in range(start, end - gram + 1):
                key = 0
                for u in range(t, t + gram):
                    if ids[u] < 0:
                        break
                    key = key * size + ids[u]
                else:
                    low, high = first_starts[gram - 2, ids[t]], first_starts[gram - 2, ids[t] + 1]
                    if not 0 <= low <= high <= gram_keys.shape[0]:
                        raise ValueError("a run of n-gram keys is outside the key table")
                    feature = _gram_feature(gram_keys, gram_features, low, high, key)
                    if feature >= 0:
                        out_rows[k], out_features[k], out_firsts[k], out_widths[k] = r, feature, t - start, gram
                        k += 1
        for t in range(start, end):
            if not kinds[t]:
                continue
            scope_table = hedge_scope if kinds[t] == 1 else negation_scope
            for u in range(t + 1, min(t + 1 + scope_reach, end)):
                if ids[u] >= 0 and scope_table[ids[u]] >= 0:
                    out_rows[k], out_features[k], out_firsts[k], out_widths[k] = r, scope_table[ids[u]], u - start, 1
                    k += 1
    return rows_array[:k], features_array[:k], firsts_array[:k], widths_array[:k]
