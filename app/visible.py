"""Visible text with an exact map back into the markup it was extracted from.

Every visible character remembers the source span it stands for, so sentence and evidence
offsets found in the visible text point into what the client sent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

__all__ = ["BLOCK_BREAK", "Builder", "Format", "Visible"]

Format = Literal["text", "html", "markdown"]

BLOCK_BREAK = "\n\n"  # between blocks: a blank line always ends a sentence


@dataclass(frozen=True, slots=True)
class Visible:
    """Visible text plus, per visible character, the source span it stands for.

    ``starts``/``ends`` are ``None`` for plain text, where visible and source coincide.
    """

    text: str
    starts: list[int] | None = None
    ends: list[int] | None = None
    # Markup wrapped around visible text ("[text](url)", "`code`", "<https://...>"), keyed by
    # the visible index of its first (last) character: (its last (first) index, source edge).
    wrapped_starts: dict[int, list[tuple[int, int]]] = field(default_factory=dict)
    wrapped_ends: dict[int, list[tuple[int, int]]] = field(default_factory=dict)

    def to_source(self, start: int, end: int) -> tuple[int, int]:
        """Map a non-empty visible span to the source span that renders as it."""
        if self.starts is None or self.ends is None:
            return start, end
        source_start, source_end = self.starts[start], self.ends[end - 1]
        # A span that covers a whole link or code span takes its markup along: "Read [our
        # study](url)", not "Read [our study", which would render as different text.
        for last, outer_start in self.wrapped_starts.get(start, ()):
            if last < end:
                source_start = min(source_start, outer_start)
        for first, outer_end in self.wrapped_ends.get(end - 1, ()):
            if first >= start:
                source_end = max(source_end, outer_end)
        return source_start, source_end


class Builder:
    """Collects visible text and, character by character, the source span each stands for."""

    def __init__(self) -> None:
        self.pieces: list[str] = []
        self.starts: list[int] = []
        self.ends: list[int] = []
        self.wrapped_starts: dict[int, list[tuple[int, int]]] = {}
        self.wrapped_ends: dict[int, list[tuple[int, int]]] = {}

    def emit_source(self, text: str, position: int) -> None:
        """Visible text copied one to one from ``source[position:position + len(text)]``."""
        self.pieces.append(text)
        self.starts.extend(range(position, position + len(text)))
        self.ends.extend(range(position + 1, position + len(text) + 1))

    def emit_decoded(self, text: str, start: int, end: int) -> None:
        """Visible text that stands for a whole source span (an entity, say)."""
        self.pieces.append(text)
        self.starts.extend([start] * len(text))
        self.ends.extend([end] * len(text))

    def emit_break(self, position: int, text: str = BLOCK_BREAK) -> None:
        self.emit_decoded(text, position, position)

    def wrap(self, first: int, start: int, end: int) -> None:
        """The visible characters emitted since index ``first`` are wrapped in ``source[start:end]``."""
        last = len(self.starts) - 1
        if first <= last:
            self.wrapped_starts.setdefault(first, []).append((last, start))
            self.wrapped_ends.setdefault(last, []).append((first, end))

    def build(self) -> Visible:
        return Visible("".join(self.pieces), self.starts, self.ends, self.wrapped_starts, self.wrapped_ends)
