# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Compiled inner loops of featurising and scoring.

Each of these replaced a chain of numpy and scipy calls on arrays of a few thousand entries,
where the cost was the calls themselves, not the arithmetic. They take and return numpy
arrays and hold no state. Bounds are not checked per access (``boundscheck=False``), so
each kernel checks every index it is given once, up front or as it reads it, and raises
``ValueError`` rather than touch memory outside an array.
"""

import numpy as np

from libc.math cimport log, sqrt
from libc.stdint cimport int32_t, int64_t


def char_block(
    const int64_t[::1] token_starts,
    const int64_t[::1] ids,
    const int64_t[::1] unknown_rows,
    const int64_t[::1] table_indptr,
    const int32_t[::1] table_indices,
    const double[::1] table_data,
    const int64_t[::1] oov_indptr,
    const int32_t[::1] oov_indices,
    const double[::1] oov_data,
    const double[::1] idf,
    double weight,
    int32_t[::1] slots,
):
    """Character n-gram counts and sublinear TF-IDF values, L2-normalised per text.

    Text ``r`` owns tokens ``token_starts[r]:token_starts[r + 1]``; a token's n-gram counts are
    row ``ids[t]`` of the vocabulary table, or row ``unknown_rows[t]`` of the batch's table of
    unknown words when ``ids[t]`` is -1. ``slots`` is scratch as long as the vocabulary, all -1,
    and left so.

    Returns ``(rows, columns, counts, values, entry_starts, entry_slots, entry_counts)``: one
    entry per (text, n-gram), in order of first appearance within each text; then, for token
    ``t``, its table entries ``entry_starts[t]:entry_starts[t + 1]``, each with the entry it was
    added to and its count in the token, which is what explanations need.
    """
    cdef Py_ssize_t n_rows = token_starts.shape[0] - 1
    cdef Py_ssize_t n_tokens = ids.shape[0]
    cdef Py_ssize_t total = 0, t, e, k = 0, nnz = 0, row_start, s, r, table_row
    cdef int64_t column
    cdef double value, norm
    cdef const int64_t* indptr
    cdef const int32_t* indices
    cdef const double* data
    cdef Py_ssize_t n_columns = min(slots.shape[0], idf.shape[0])
    if n_rows < 0 or token_starts[0] != 0 or token_starts[n_rows] != n_tokens or unknown_rows.shape[0] != n_tokens:
        raise ValueError("token_starts, ids and unknown_rows do not describe the same tokens")
    for r in range(n_rows):
        if token_starts[r] > token_starts[r + 1]:
            raise ValueError("token_starts must not decrease")
    if table_indices.shape[0] != table_data.shape[0] or oov_indices.shape[0] != oov_data.shape[0]:
        raise ValueError("a table's columns and counts differ in length")
    # Only the table rows this batch reads are checked: the vocabulary's table is large.
    for t in range(n_tokens):
        if ids[t] >= 0:
            if ids[t] >= table_indptr.shape[0] - 1:
                raise ValueError("a token id is outside the vocabulary table")
            total += _row_length(table_indptr, ids[t], table_indices.shape[0])
        else:
            if not 0 <= unknown_rows[t] < oov_indptr.shape[0] - 1:
                raise ValueError("an unknown token has no row in the table of unknown words")
            total += _row_length(oov_indptr, unknown_rows[t], oov_indices.shape[0])
    rows_array = np.empty(total, np.int64)
    columns_array = np.empty(total, np.int64)
    counts_array = np.empty(total, np.float64)
    values_array = np.empty(total, np.float64)
    entry_starts_array = np.empty(n_tokens + 1, np.int64)
    entry_slots_array = np.empty(total, np.int64)
    entry_counts_array = np.empty(total, np.float64)
    cdef int64_t[::1] rows = rows_array, columns = columns_array
    cdef double[::1] counts = counts_array, values = values_array
    cdef int64_t[::1] entry_starts = entry_starts_array, entry_slots = entry_slots_array
    cdef double[::1] entry_counts = entry_counts_array
    for r in range(n_rows):
        row_start = nnz
        for t in range(token_starts[r], token_starts[r + 1]):
            entry_starts[t] = k
            # Pointers, not memoryview slices: assigning a slice per token costs a reference count.
            if ids[t] >= 0:
                indptr, indices, data, table_row = &table_indptr[0], &table_indices[0], &table_data[0], ids[t]
            else:
                indptr, indices, data, table_row = &oov_indptr[0], &oov_indices[0], &oov_data[0], unknown_rows[t]
            for e in range(indptr[table_row], indptr[table_row + 1]):
                column = indices[e]
                if not 0 <= column < n_columns:
                    for s in range(row_start, nnz):  # leave the scratch as it was given
                        slots[columns[s]] = -1
                    raise ValueError("a character n-gram column is outside the vocabulary")
                s = slots[column]
                if s < 0:
                    s = nnz
                    slots[column] = s
                    rows[s] = r
                    columns[s] = column
                    counts[s] = 0.0
                    nnz += 1
                counts[s] += data[e]
                entry_slots[k] = s
                entry_counts[k] = data[e]
                k += 1
        norm = 0.0
        for s in range(row_start, nnz):
            slots[columns[s]] = -1
            value = _sublinear(counts[s]) * idf[columns[s]]
            values[s] = value
            norm += value * value
        norm = sqrt(norm)
        for s in range(row_start, nnz):
            values[s] = values[s] / norm * weight
    entry_starts[n_tokens] = k
    return (
        rows_array[:nnz],
        columns_array[:nnz],
        counts_array[:nnz],
        values_array[:nnz],
        entry_starts_array,
        entry_slots_array,
        entry_counts_array,
    )


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


cdef Py_ssize_t _row_length(const int64_t[::1] indptr, int64_t row, Py_ssize_t n_entries) except -1:
    if not 0 <= indptr[row] <= indptr[row + 1] <= n_entries:
        raise ValueError("a CSR table's row pointers do not match its entries")
    return indptr[row + 1] - indptr[row]


def decide(
    const int64_t[::1] rows,
    const int64_t[::1] columns,
    const double[::1] values,
    const double[:, ::1] coef_t,
    const double[::1] intercept,
    Py_ssize_t n_rows,
):
    """``X @ coef_t + intercept`` for X given as (row, column, value) triples; repeats add up."""
    cdef Py_ssize_t n_labels = coef_t.shape[1], i, j
    decision_array = np.zeros((n_rows, n_labels), np.float64)
    cdef double[:, ::1] decision = decision_array
    cdef double value
    cdef int64_t row, column
    if columns.shape[0] != rows.shape[0] or values.shape[0] != rows.shape[0] or intercept.shape[0] != n_labels:
        raise ValueError("rows, columns and values must be parallel, and the intercept one per label")
    for i in range(rows.shape[0]):
        row, column, value = rows[i], columns[i], values[i]
        if not (0 <= row < n_rows and 0 <= column < coef_t.shape[0]):
            raise ValueError("a (row, column) pair is outside the decision matrix or the coefficients")
        for j in range(n_labels):
            decision[row, j] += value * coef_t[column, j]
    for i in range(n_rows):
        for j in range(n_labels):
            decision[i, j] += intercept[j]
    return decision_array
