"""Types of the compiled kernels in app/_kernels.pyx."""

from typing import Any

class CharTables:
    n_rows: int
    n_entries: int
    def __init__(
        self,
        token_starts: Any,
        ids: Any,
        unknown_rows: Any,
        table_indptr: Any,
        table_indices: Any,
        table_data: Any,
        oov_indptr: Any,
        oov_indices: Any,
        oov_data: Any,
    ) -> None: ...

def char_block(tables: CharTables, idf: Any, weight: float, slots: Any) -> tuple[Any, Any, Any, Any, Any]: ...
def add_decisions(decision: Any, rows: Any, columns: Any, values: Any, weights: Any, column_offset: int) -> None: ...

class EvidenceTally:
    scores: Any
    def __init__(self, positions: Any, pair_starts: Any, pair_labels: Any, token_starts: Any, weights: Any) -> None: ...
    def add(
        self,
        rows: Any,
        features: Any,
        firsts: Any,
        widths: Any,
        counts: Any,
        values: Any,
        totals: Any,
        feature_offset: int,
    ) -> None: ...
    def add_chars(
        self,
        tables: CharTables,
        block_columns: Any,
        block_counts: Any,
        block_values: Any,
        row_starts: Any,
        slots: Any,
        column_offset: int,
    ) -> None: ...

def positive_runs(scores: Any, token_starts: Any, floor: float) -> tuple[Any, Any, Any, Any, Any, Any]: ...
def round4(x: float) -> float: ...
def evidence_runs(
    scores: Any, token_starts: Any, floor: float, max_runs: int, keep_ratio: float
) -> list[list[tuple[int, int, float]]]: ...
def find_tokens(text: str, start: int, end: int) -> list[str]: ...
def token_spans(text: str, tokens: list[str]) -> list[tuple[int, int]]: ...
def match_phrases(
    tokens: list[str], hits: Any, remaining: Any, ids: Any, unknown_rows: Any, by_id: list[Any], unknown: list[Any]
) -> tuple[list[int], list[int], list[int]]: ...
def occurrence_block(
    rows: Any, features: Any, n_rows: int, idf: Any, weight: float, slots: Any
) -> tuple[Any, Any, Any, Any, Any]: ...
def flatten_tokens(
    token_lists: list[list[str]], token_ids: dict[str, int], kind_by_id: Any, kinds: dict[str, int]
) -> tuple[list[str], Any, Any, Any, Any, Any, list[str], Any, Any]: ...
def word_grams(
    ids: Any,
    token_starts: Any,
    kinds: Any,
    unigram_features: Any,
    gram_keys: Any,
    gram_features: Any,
    first_starts: Any,
    hedge_scope: Any,
    negation_scope: Any,
    scope_reach: int,
) -> tuple[Any, Any, Any, Any]: ...
