"""Turning what a user typed into search terms that no backend misreads.

A search box is not a query language: quotes, operators and any character at
all are text to find. Double quotes group words into a phrase, as people
expect; everything else is words. Each term then reaches the database as a
quoted FTS5 string (SQLite) or through ``phraseto_tsquery`` (PostgreSQL),
never as syntax.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# A quoted phrase (the closing quote may be missing), or a run of other text.
_TERM = re.compile(r'"([^"]*)"?|([^\s"]+)')

# What both backends count as a word: letters and digits of any script.
_WORD = re.compile(r"[^\W_]+")


@dataclass(frozen=True, slots=True)
class SearchTerms:
    """The terms of one search, each a word or a phrase; all must match."""

    terms: tuple[str, ...]

    @property
    def words(self) -> tuple[str, ...]:
        """Every word of every term, lowercased, for highlighting."""
        return tuple(word.lower() for term in self.terms for word in words_of(term))

    @property
    def searchable(self) -> bool:
        """Whether any term holds a word; a search for "!!!" finds nothing."""
        return bool(self.words)


def parse_terms(text: str) -> SearchTerms:
    """Split typed text into phrases (in double quotes) and words."""
    # A NUL ends an FTS5 string early and PostgreSQL refuses it in text; it
    # separates words like any other character that is not part of one.
    text = text.replace("\x00", " ")
    terms = []
    for match in _TERM.finditer(text):
        term = match.group(1) if match.group(1) is not None else match.group(2)
        if term and term.strip():
            terms.append(term.strip())
    return SearchTerms(tuple(terms))


def words_of(text: str) -> list[str]:
    """The words of a text, as the full-text indexes split it, roughly."""
    return _WORD.findall(text)


def fts5_query(terms: SearchTerms) -> str:
    """An FTS5 MATCH expression: every term as a quoted string, all required.

    Inside double quotes FTS5 reads no operators; a double quote is escaped
    by doubling it. Terms without a word are left out: an empty string
    would match nothing.
    """
    quoted = [
        '"' + term.replace('"', '""') + '"' for term in terms.terms if words_of(term)
    ]
    return " ".join(quoted)
