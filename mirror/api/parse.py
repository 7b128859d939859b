"""Turn the service's JSON payloads into the models of :mod:`mirror.api.models`.

The API reference leaves many shapes open (see the project's API notes,
sections 2.6 to 2.8): tags come as ids or objects, the recorder as an id or an
object, the transcript as a list or an object, the summary as one markdown or
a map of them. These functions accept every known shape, treat a value of the
wrong type as absent, and keep the payload itself in ``raw`` so that nothing
the service sent is lost. They are pure: no I/O, no logging.

Only a payload that cannot be used at all (not an object, no id, no creation
time) raises :class:`PayloadError`; one bad item never spoils a whole page.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from typing import Any

from mirror.api.models import (
    ActionItem,
    JsonObject,
    ListedRecording,
    Page,
    Recorder,
    RecordingDetail,
    Tag,
    TranscriptSegment,
)

ACTION_ITEM_TEXT_KEYS = ("text", "title", "task", "label")
"""Where an action item's text may be, in the order they are tried."""


class PayloadError(ValueError):
    """A payload cannot be used at all.

    Attributes:
        reason: a short description of what is wrong, for logs and errors.
    """

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


def parse_listed(item: object) -> ListedRecording:
    """Parse one item of the listing (or the list fields of a detail body).

    Raises:
        PayloadError: the item is not an object, or has no usable id or
            creation time.
    """
    payload = _require_object(item, "recording")
    deleted_at, deleted = _deletion_marker(payload)

    return ListedRecording(
        id=_require_id(payload.get("id")),
        created_at=_require_timestamp(payload.get("created_at")),
        title=_optional_string(payload.get("title")),
        duration_seconds=parse_seconds(payload.get("duration")),
        language=_optional_string(payload.get("language")),
        recorded_by=_parse_recorder(payload.get("recorded_by")),
        tags=_parse_tags(payload.get("tags")),
        deleted=deleted,
        deleted_at=deleted_at,
        raw=payload,
    )


def parse_detail(body: object) -> RecordingDetail:
    """Parse the body of ``GET .../recordings/{id}``.

    Raises:
        PayloadError: the body is not an object, or has no usable id or
            creation time.
    """
    listed = parse_listed(body)
    payload = listed.raw
    segments, transcript_text = _parse_transcript(payload.get("transcript"))

    return RecordingDetail(
        listed=listed,
        description=_optional_string(payload.get("description")),
        transcript=segments,
        transcript_text=transcript_text,
        summary_markdown=_parse_summary(payload.get("summary")),
        action_items=_parse_action_items(payload.get("action_items")),
        raw=payload,
    )


def parse_page(body: object, *, number: int, cursor: str | None) -> Page:
    """Parse one page of the listing; items that cannot be used are skipped.

    Args:
        body: the decoded JSON body of the list endpoint.
        number: the page's 1-based position within the listing.
        cursor: the cursor the page was requested with.

    Raises:
        PayloadError: the body is not an object, has no ``recordings`` list,
            or has a ``next_cursor`` that is not a string.
    """
    payload = _require_object(body, "page")
    items = payload.get("recordings")
    if not isinstance(items, list):
        raise PayloadError("the page has no recordings list")

    pagination = _pagination_of(payload)
    recordings, skipped = _parse_items(items)

    return Page(
        number=number,
        recordings=recordings,
        next_cursor=_next_cursor(pagination, payload),
        total=_optional_count(pagination.get("total")),
        skipped=skipped,
        cursor=cursor,
    )


def parse_timestamp(value: object) -> dt.datetime | None:
    """Read an ISO 8601 timestamp as an aware UTC datetime, or None.

    Accepts ``Z`` and numeric offsets, with or without fractions of a second.
    A timestamp without an offset is taken to be UTC, the service's zone.
    """
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        return None

    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=dt.UTC)
    try:
        return parsed.astimezone(dt.UTC)
    except OverflowError:
        return None


def parse_seconds(value: object) -> float | None:
    """Read a number of seconds: an int, a float or a numeric string.

    Booleans, non-finite numbers and anything else read as None.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        number = _float_or_nan(value)
    else:
        return None
    return number if math.isfinite(number) else None


def _float_or_nan(text: str) -> float:
    try:
        return float(text.strip())
    except ValueError:
        return math.nan


def _require_object(value: object, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise PayloadError(f"the {what} is not a JSON object")
    return value


def _require_id(value: object) -> str:
    identifier = _coerce_id(value)
    if identifier is None:
        raise PayloadError("the recording has no string id")
    return identifier


def _coerce_id(value: object) -> str | None:
    """An id is a non-empty string; an integer id is read as its digits."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, str) and value:
        return value
    return None


def _require_timestamp(value: object) -> dt.datetime:
    timestamp = parse_timestamp(value)
    if timestamp is None:
        raise PayloadError("the recording has no parseable created_at")
    return timestamp


def _optional_string(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _first_string(payload: Mapping[str, object], keys: Sequence[str]) -> str | None:
    for key in keys:
        value = payload.get(key)
        if isinstance(value, str):
            return value
    return None


def _optional_count(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return None


def _deletion_marker(payload: Mapping[str, object]) -> tuple[dt.datetime | None, bool]:
    """Read ``deleted_at`` or ``deleted: true``; either marks a soft delete.

    A ``deleted_at`` that is set but cannot be read still marks the recording
    deleted: a marker is a marker, whatever its format.
    """
    marker = payload.get("deleted_at")
    deleted_at = parse_timestamp(marker)
    flagged = payload.get("deleted") is True
    return deleted_at, flagged or marker not in (None, "")


def _parse_recorder(value: object) -> Recorder | None:
    if isinstance(value, str):
        return Recorder(user_id=value)
    if not isinstance(value, dict):
        return None

    recorder = Recorder(
        user_id=_coerce_id(value.get("user_id")) or _coerce_id(value.get("id")),
        email=_optional_string(value.get("email")),
        display_name=_first_string(value, ("display_name", "name")),
    )
    return None if recorder == Recorder(user_id=None) else recorder


def _parse_tags(value: object) -> tuple[Tag, ...]:
    if not isinstance(value, list):
        return ()
    tags = (_parse_tag(item) for item in value)
    return tuple(tag for tag in tags if tag is not None)


def _parse_tag(item: object) -> Tag | None:
    if isinstance(item, str):
        return Tag(id=item) if item else None
    if not isinstance(item, dict):
        return None

    identifier = _coerce_id(item.get("id"))
    if identifier is None:
        return None
    name, color = item.get("name"), item.get("color")
    return Tag(
        id=identifier, name=_optional_string(name), color=_optional_string(color)
    )


def _parse_transcript(
    value: object,
) -> tuple[tuple[TranscriptSegment, ...] | None, str | None]:
    """Read a transcript given as a list of segments or as an object.

    Returns the segments (None when there is no transcript yet) and the plain
    text: the service's own ``text`` when it sent one, else the segments'
    texts joined by newlines.
    """
    given_text: str | None = None
    items: object = value
    if isinstance(value, dict):
        given_text, items = _optional_string(value.get("text")), value.get("segments")
    elif not isinstance(value, list):
        return None, None

    segments = _parse_segments(items)
    if given_text:
        return segments, given_text
    if segments:
        return segments, "\n".join(segment.text for segment in segments)
    return segments, None


def _parse_segments(items: object) -> tuple[TranscriptSegment, ...]:
    """The segments of a transcript; items that are not objects are skipped.

    The hot loop of parsing (a transcript has thousands of segments): the
    common types are checked first, by identity, and the tuples are built
    directly rather than through the named tuple's constructor.
    """
    if not isinstance(items, list):
        return ()
    segments: list[TranscriptSegment] = []
    append, new, segment = segments.append, tuple.__new__, TranscriptSegment
    finite, seconds = math.isfinite, parse_seconds
    for item in items:
        if not isinstance(item, dict):
            continue
        speaker, text = item.get("speaker"), item.get("text")
        start, end = item.get("start"), item.get("end")
        if type(speaker) is not str:
            speaker = _parse_speaker(speaker)
        if not isinstance(text, str):
            text = ""
        if type(start) is not float or not finite(start):
            start = seconds(start)
        if type(end) is not float or not finite(end):
            end = seconds(end)
        append(new(segment, (speaker, text, start, end)))
    return tuple(segments)


def _parse_speaker(value: object) -> str | None:
    if isinstance(value, dict):
        return _first_string(value, ("name", "display_name"))
    return _optional_string(value)


def _parse_summary(value: object) -> str | None:
    """Read a summary: one markdown, a map of named summaries, or a string.

    A map's markdowns are joined by blank lines in the order the service sent
    them.
    """
    if isinstance(value, str):
        return value
    if not isinstance(value, dict):
        return None
    if "markdown" in value:
        return _optional_string(value["markdown"])

    parts = (_summary_markdown(entry) for entry in value.values())
    return "\n\n".join(part for part in parts if part is not None)


def _summary_markdown(entry: object) -> str | None:
    if isinstance(entry, dict):
        return _optional_string(entry.get("markdown"))
    return _optional_string(entry)


def _parse_action_items(value: object) -> tuple[ActionItem, ...] | None:
    if not isinstance(value, list):
        return None
    items = (_parse_action_item(item) for item in value)
    return tuple(item for item in items if item is not None)


def _parse_action_item(item: object) -> ActionItem | None:
    if isinstance(item, str):
        return ActionItem(text=item, raw={"text": item})
    if isinstance(item, dict):
        return ActionItem(text=_first_string(item, ACTION_ITEM_TEXT_KEYS), raw=item)
    return None


def _pagination_of(payload: Mapping[str, object]) -> JsonObject:
    pagination = payload.get("pagination")
    if pagination is None:
        return {}
    if not isinstance(pagination, dict):
        raise PayloadError("the page's pagination is not a JSON object")
    return pagination


def _next_cursor(pagination: JsonObject, payload: Mapping[str, object]) -> str | None:
    """The cursor of the next page; null, absent or empty means the last page.

    A cursor of another type is refused rather than read as "last page",
    because a listing cut short that way would look complete.
    """
    cursor = pagination.get("next_cursor", payload.get("next_cursor"))
    if cursor is None or cursor == "":
        return None
    if not isinstance(cursor, str):
        raise PayloadError("the page's next_cursor is not a string")
    return cursor


def _parse_items(
    items: Sequence[object],
) -> tuple[tuple[ListedRecording, ...], tuple[str, ...]]:
    recordings: list[ListedRecording] = []
    skipped: list[str] = []
    for position, item in enumerate(items, start=1):
        try:
            recordings.append(parse_listed(item))
        except PayloadError as exc:
            skipped.append(f"item {position}: {exc.reason}")
    return tuple(recordings), tuple(skipped)
