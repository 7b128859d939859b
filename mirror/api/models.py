"""What the API client hands the rest of pocket-mirror.

The service's payloads vary in shape (see the project's API notes: tags as ids
or objects, transcripts as lists or objects, summaries as one or many). The
parsers in :mod:`mirror.api.parse` normalise every shape into these frozen
models, and keep the payload itself in ``raw`` so that no field the service
sent, known or unknown, is ever dropped.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

JsonObject = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Tag:
    """A tag on a recording; only the id is always known."""

    id: str
    name: str | None = None
    color: str | None = None


@dataclass(frozen=True, slots=True)
class Recorder:
    """The user who made a recording, as much of them as the payload gave."""

    user_id: str | None
    email: str | None = None
    display_name: str | None = None


@dataclass(frozen=True, slots=True)
class ListedRecording:
    """One item of the list endpoint: the fields a listing carries.

    ``deleted`` is True when the item carries a deletion marker
    (``deleted_at`` set, or ``deleted: true``); some services keep soft
    deleted recordings in the listing that way.
    """

    id: str
    created_at: dt.datetime
    title: str | None = None
    duration_seconds: float | None = None
    language: str | None = None
    recorded_by: Recorder | None = None
    tags: tuple[Tag, ...] = ()
    deleted: bool = False
    deleted_at: dt.datetime | None = None
    raw: JsonObject = field(default_factory=dict, compare=False, repr=False)


class TranscriptSegment(NamedTuple):
    """One stretch of speech; times are seconds from the recording's start.

    A named tuple, not a dataclass: a transcript has thousands of them, and
    the mirror stores each as the plain tuple it already is.
    """

    speaker: str | None
    text: str
    start_seconds: float | None
    end_seconds: float | None


@dataclass(frozen=True, slots=True)
class ActionItem:
    """An action item, kept whole in ``raw``; ``text`` is pulled out of it.

    ``text`` comes from the first of ``text``, ``title``, ``task`` or ``label``
    that the item has.
    """

    text: str | None
    raw: JsonObject = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RecordingDetail:
    """A recording as ``GET .../recordings/{id}`` returns it.

    ``transcript``, ``summary_markdown`` and ``action_items`` are None when the
    service did not include them (still processing, or absent), which is not
    the same as an empty transcript or an empty list.
    """

    listed: ListedRecording
    description: str | None = None
    transcript: tuple[TranscriptSegment, ...] | None = None
    transcript_text: str | None = None
    summary_markdown: str | None = None
    action_items: tuple[ActionItem, ...] | None = None
    raw: JsonObject = field(default_factory=dict, compare=False, repr=False)

    @property
    def id(self) -> str:
        return self.listed.id


@dataclass(frozen=True, slots=True)
class Page:
    """One page of the listing.

    Args:
        number: 1-based position of the page within this listing.
        recordings: the parsed items, in the order the service sent them.
        next_cursor: the cursor of the next page, None on the last page.
        total: the service's count, approximate at best; never trusted.
        skipped: items that could not be parsed (no id, wrong types), each
            as a short reason. A listing with skipped items is incomplete.
        cursor: the cursor this page was requested with (None for the first).
    """

    number: int
    recordings: tuple[ListedRecording, ...]
    next_cursor: str | None
    total: int | None = None
    skipped: tuple[str, ...] = ()
    cursor: str | None = None


@dataclass(frozen=True, slots=True)
class DetailFetched:
    """A GET answered 200 with the recording."""

    detail: RecordingDetail
    etag: str | None = None


@dataclass(frozen=True, slots=True)
class DetailNotModified:
    """A GET with ``If-None-Match`` answered 304: nothing changed."""

    recording_id: str
    etag: str | None = None


@dataclass(frozen=True, slots=True)
class DetailGone:
    """A GET answered 404 or 410: the recording is not there to fetch.

    A 410 means the service still knows the recording as deleted (a soft
    delete); a 404 after a complete listing means it is gone for good.
    """

    recording_id: str
    status: int


DetailResult = DetailFetched | DetailNotModified | DetailGone
