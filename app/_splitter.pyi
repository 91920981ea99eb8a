import re

from app.text import Span

class _Rules:
    def __init__(
        self,
        abbreviations: frozenset[str],
        word_abbreviations: frozenset[str],
        final_abbreviations: frozenset[str],
        bullet_number: re.Pattern[str],
        url_start: re.Pattern[str],
    ) -> None: ...

def split_spans(text: str, rules: _Rules) -> list[Span]: ...
def find_url(
    text: str, block: str | None, position: int, start: int, end: int, rules: _Rules
) -> re.Match[str] | None: ...
def has_astral(text: str) -> bool: ...
