"""Snippets of matched text with the search words marked.

The snippet is made here rather than by the database, so that it reads the
same on SQLite and PostgreSQL and marks positions, not markup: the terminal
shows them in bold, JSON output hands them over as character offsets.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

# Characters of context either side of the first match in a long text.
CONTEXT_CHARS = 80

ELLIPSIS = "…"


@dataclass(frozen=True, slots=True)
class Snippet:
    """A piece of text, and the ``(start, end)`` offsets of the marked words."""

    text: str
    marks: tuple[tuple[int, int], ...] = ()

    def render(self, before: str, after: str) -> str:
        """The text with each marked stretch between ``before`` and ``after``."""
        pieces, done = [], 0
        for start, end in self.marks:
            pieces += [self.text[done:start], before, self.text[start:end], after]
            done = end
        pieces.append(self.text[done:])
        return "".join(pieces)


def make_snippet(text: str, words: Sequence[str]) -> Snippet:
    """The part of ``text`` around its first search word, with all marked."""
    flat = " ".join(text.split())
    first = _first_match(flat, words)
    start = max(0, first - CONTEXT_CHARS) if first is not None else 0
    end = min(len(flat), start + 2 * CONTEXT_CHARS + 40)

    window = flat[start:end]
    prefix = ELLIPSIS if start > 0 else ""
    suffix = ELLIPSIS if end < len(flat) else ""
    shown = prefix + window + suffix
    return Snippet(shown, tuple(_marks(shown, words)))


def _pattern(words: Sequence[str]) -> re.Pattern[str] | None:
    if not words:
        return None
    # Longer words first, so that "budgets" wins over "budget".
    alternatives = "|".join(re.escape(w) for w in sorted(set(words), key=len)[::-1])
    return re.compile(rf"(?<![^\W_])(?:{alternatives})(?![^\W_])", re.IGNORECASE)


def _first_match(text: str, words: Sequence[str]) -> int | None:
    pattern = _pattern(words)
    found = pattern.search(text) if pattern else None
    return found.start() if found else None


def _marks(text: str, words: Sequence[str]) -> list[tuple[int, int]]:
    pattern = _pattern(words)
    if pattern is None:
        return []
    return [(found.start(), found.end()) for found in pattern.finditer(text)]
