"""Types of the compiled kernels in app/_kernels.pyx."""

from typing import Any

def char_block(
    token_starts: Any,
    ids: Any,
    unknown_rows: Any,
    table_indptr: Any,
    table_indices: Any,
    table_data: Any,
    oov_indptr: Any,
    oov_indices: Any,
    oov_data: Any,
    idf: Any,
    weight: float,
    slots: Any,
) -> tuple[Any, Any, Any, Any, Any, Any, Any]: ...
def decide(rows: Any, columns: Any, values: Any, coef_t: Any, intercept: Any, n_rows: int) -> Any: ...
