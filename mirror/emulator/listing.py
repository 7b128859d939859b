"""The list endpoint's query language, cursors and sorted index.

Recordings are listed newest first: by ``created_at`` descending, then by id.
The index keeps every recording's sort key ``(-created_ms, id)`` in one sorted
list, so a date window is two binary searches and a keyset cursor is one; a
page costs its own size, not a scan of 100,000 recordings. Filters the index
cannot answer (tags, recorder, hidden soft deletes) are applied once per state
version and cached, so walking a filtered listing page by page scans it once.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import datetime as dt
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from mirror.emulator.behaviour import Behaviour
from mirror.emulator.records import EmulatedRecording, to_millis

SortKey = tuple[int, str]
DAY_MS = 86_400_000
DEFAULT_LIMIT = 20
MAX_LIMIT = 100
_CACHE_SIZE = 64


class InvalidQuery(Exception):
    """A list parameter the service refuses with 400."""


@dataclass(frozen=True)
class Filters:
    """What a listing is narrowed to; every field None or empty means all."""

    first_day: dt.date | None = None
    last_day: dt.date | None = None
    tag_ids: frozenset[str] = frozenset()
    tag_mode: str = "any"
    recorded_by: str | None = None
    recorded_by_email: str | None = None

    @property
    def needs_scan(self) -> bool:
        """True when the filters reach beyond the date window."""
        return bool(self.tag_ids or self.recorded_by or self.recorded_by_email)

    def matches(self, record: EmulatedRecording) -> bool:
        """True when ``record`` passes the tag and recorder filters."""
        if self.recorded_by and record.recorder.user_id != self.recorded_by:
            return False
        email = self.recorded_by_email
        if email and record.recorder.email.casefold() != email.casefold():
            return False
        if not self.tag_ids:
            return True
        tag_ids = {tag.id for tag in record.tags or ()}
        if self.tag_mode == "all":
            return self.tag_ids <= tag_ids
        return bool(self.tag_ids & tag_ids)


@dataclass(frozen=True)
class Cursor:
    """Where a page starts: after ``after``; ``page`` numbers that page."""

    after: SortKey
    page: int


@dataclass(frozen=True)
class ListQuery:
    """A parsed, validated list request."""

    filters: Filters
    limit: int
    page: int | None = None
    cursor: Cursor | None = None

    @property
    def page_number(self) -> int:
        """The 1-based number of the page asked for."""
        if self.cursor is not None:
            return self.cursor.page
        return self.page or 1


@dataclass(frozen=True)
class ListedPage:
    """One page to render: its recordings' ids and its pagination block."""

    ids: list[str]
    page: int
    limit: int
    total: int
    next_cursor: str | None


def sort_key(record: EmulatedRecording) -> SortKey:
    """The key that orders ``record`` within the listing."""
    return (-to_millis(record.created_at), record.id)


def encode_cursor(after: SortKey, page: int) -> str:
    """An opaque cursor for the page that starts after ``after``."""
    raw = json.dumps({"t": -after[0], "i": after[1], "p": page}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(text: str) -> Cursor:
    """The position a cursor names.

    Raises:
        InvalidQuery: the cursor was not made by :func:`encode_cursor`.
    """
    try:
        padded = text + "=" * (-len(text) % 4)
        fields = json.loads(base64.urlsafe_b64decode(padded.encode()))
        millis, recording_id, page = fields["t"], fields["i"], fields["p"]
    except (binascii.Error, ValueError, TypeError, KeyError) as exc:
        raise InvalidQuery("invalid cursor") from exc
    if not (isinstance(millis, int) and isinstance(recording_id, str)):
        raise InvalidQuery("invalid cursor")
    if not isinstance(page, int) or page < 2:
        raise InvalidQuery("invalid cursor")
    return Cursor((-millis, recording_id), page)


def parse_query(params: dict[str, str], behaviour: Behaviour) -> ListQuery:
    """Validate the list endpoint's query parameters.

    Raises:
        InvalidQuery: a bad date, limit, page, tag mode or cursor, or ``page``
            together with ``cursor``.
    """
    if "page" in params and "cursor" in params:
        raise InvalidQuery("page and cursor cannot be combined")
    limit = _parse_limit(params.get("limit"), behaviour)
    page = _parse_positive(params["page"], "page") if "page" in params else None
    cursor = decode_cursor(params["cursor"]) if "cursor" in params else None
    return ListQuery(_parse_filters(params), limit, page, cursor)


def _parse_filters(params: dict[str, str]) -> Filters:
    first_day = _parse_day(params.get("startDate"), "startDate")
    last_day = _parse_day(params.get("endDate"), "endDate")
    day = _parse_day(params.get("date"), "date")
    if day is not None:
        first_day = max(day, first_day) if first_day else day
        last_day = min(day, last_day) if last_day else day

    tag_mode = params.get("tagMode", "any")
    if tag_mode not in ("any", "all"):
        raise InvalidQuery("tagMode must be any or all")
    tag_ids = frozenset(t.strip() for t in params.get("tagIds", "").split(","))
    return Filters(
        first_day=first_day,
        last_day=last_day,
        tag_ids=tag_ids - {""},
        tag_mode=tag_mode,
        recorded_by=params.get("recordedBy") or None,
        recorded_by_email=params.get("recordedByEmail") or None,
    )


def _parse_day(text: str | None, name: str) -> dt.date | None:
    if text is None:
        return None
    try:
        if len(text) != 10:
            raise ValueError(text)
        return dt.date.fromisoformat(text)
    except ValueError as exc:
        raise InvalidQuery(f"{name} must be a date as YYYY-MM-DD") from exc


def _parse_positive(text: str, name: str) -> int:
    if not text.isascii() or not text.isdigit() or int(text) < 1:
        raise InvalidQuery(f"{name} must be a positive integer")
    return int(text)


def _parse_limit(text: str | None, behaviour: Behaviour) -> int:
    if text is None:
        return DEFAULT_LIMIT
    limit = _parse_positive(text, "limit")
    if limit <= MAX_LIMIT:
        return limit
    if behaviour.limit_over_100 == "refuse":
        raise InvalidQuery(f"limit must be at most {MAX_LIMIT}")
    return MAX_LIMIT


def _day_start_ms(day: dt.date) -> int:
    return to_millis(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC))


class RecordingIndex:
    """Every recording's sort key, kept sorted, and cached filtered views.

    Args:
        lookup: the canonical record of an id.
    """

    def __init__(self, lookup: Callable[[str], EmulatedRecording]):
        self._lookup = lookup
        self._keys: list[SortKey] = []
        self._deleted: list[SortKey] = []
        self._version = 0
        self._views: dict[tuple[Filters, bool], tuple[int, list[SortKey]]] = {}

    def rebuild(self, records: Sequence[EmulatedRecording]) -> None:
        """Index exactly ``records``, replacing what was indexed."""
        self._keys = sorted(sort_key(record) for record in records)
        self._deleted = sorted(sort_key(r) for r in records if r.deleted)
        self.touch()

    def add(self, record: EmulatedRecording) -> None:
        """Index one more recording."""
        bisect.insort(self._keys, sort_key(record))
        if record.deleted:
            bisect.insort(self._deleted, sort_key(record))
        self.touch()

    def remove(self, record: EmulatedRecording) -> None:
        """Stop indexing ``record``; call before changing its ``created_at``."""
        _discard(self._keys, sort_key(record))
        _discard(self._deleted, sort_key(record))
        self.touch()

    def mark_deleted(self, record: EmulatedRecording) -> None:
        """Note that ``record`` became soft deleted."""
        _discard(self._deleted, sort_key(record))
        bisect.insort(self._deleted, sort_key(record))
        self.touch()

    def mark_restored(self, record: EmulatedRecording) -> None:
        """Note that ``record`` is no longer soft deleted."""
        _discard(self._deleted, sort_key(record))
        self.touch()

    def touch(self) -> None:
        """Note that some record changed, which invalidates cached views."""
        self._version += 1

    def page(self, query: ListQuery, behaviour: Behaviour) -> ListedPage:
        """The page ``query`` asks for, faults of the behaviour included."""
        listed_deleted = behaviour.soft_delete.startswith("listed")
        keys, lo, hi = self._view(query.filters, listed_deleted)
        number = query.page_number
        start = self._start(query, keys, lo)
        end = min(start + query.limit, hi)

        shown = start
        if behaviour.pagination_fault == "repeat_ids" and number == 2:
            shown = lo
        ids = [key[1] for key in keys[shown : shown + (end - start)]]
        next_cursor = encode_cursor(keys[end - 1], number + 1) if end < hi else None
        if behaviour.pagination_fault == "repeat_cursor" and number >= 2 and start > 0:
            next_cursor = encode_cursor(keys[start - 1], number)
        total = _reported_total(hi - lo, behaviour)
        return ListedPage(ids, number, query.limit, total, next_cursor)

    def _start(self, query: ListQuery, keys: list[SortKey], lo: int) -> int:
        if query.cursor is not None:
            return bisect.bisect_right(keys, query.cursor.after, lo)
        return lo + (query.page_number - 1) * query.limit

    def _view(
        self, filters: Filters, listed_deleted: bool
    ) -> tuple[list[SortKey], int, int]:
        """The sorted keys a listing walks, and the bounds within them."""
        lo, hi = self._window(self._keys, filters)
        hidden_lo, hidden_hi = self._window(self._deleted, filters)
        hides_some = not listed_deleted and hidden_hi > hidden_lo
        if not filters.needs_scan and not hides_some:
            return self._keys, lo, hi

        cached = self._views.get((filters, listed_deleted))
        if cached is not None and cached[0] == self._version:
            return cached[1], 0, len(cached[1])
        view = self._filtered(self._keys[lo:hi], filters, listed_deleted)
        if len(self._views) >= _CACHE_SIZE:
            self._views.clear()
        self._views[(filters, listed_deleted)] = (self._version, view)
        return view, 0, len(view)

    def _filtered(
        self, keys: list[SortKey], filters: Filters, listed_deleted: bool
    ) -> list[SortKey]:
        kept = []
        for key in keys:
            record = self._lookup(key[1])
            if (listed_deleted or not record.deleted) and filters.matches(record):
                kept.append(key)
        return kept

    @staticmethod
    def _window(keys: list[SortKey], filters: Filters) -> tuple[int, int]:
        """The bounds of the keys whose UTC day lies in the filters' days."""
        lo, hi = 0, len(keys)
        if filters.last_day is not None:
            last_ms = _day_start_ms(filters.last_day) + DAY_MS - 1
            lo = bisect.bisect_left(keys, (-last_ms, ""))
        if filters.first_day is not None:
            first_ms = _day_start_ms(filters.first_day)
            hi = bisect.bisect_left(keys, (-first_ms + 1, ""))
        return lo, max(lo, hi)


def _discard(keys: list[SortKey], key: SortKey) -> None:
    position = bisect.bisect_left(keys, key)
    if position < len(keys) and keys[position] == key:
        del keys[position]


def _reported_total(true_total: int, behaviour: Behaviour) -> int:
    """The count the listing claims; with ``total_lies`` always a wrong one."""
    if not behaviour.total_lies:
        return true_total
    if true_total >= 2:
        return true_total // 2
    return true_total + 3
