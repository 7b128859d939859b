"""What the mirror holds for one recording, in a form that compares exactly.

The sync engine must know whether a payload changes anything, and which
fields, without rereading every transcript from the database. A
:class:`RecordingContent` is built either from the API's models or from the
mirror's rows; its :func:`fingerprint` is stored with the recording, so an
unchanged payload is recognised by one string comparison, and the full
comparison (for the change history) runs only when the fingerprints differ.

Fingerprints are written in the current form: ``2:`` and 62 hex digits of
the SHA-256 of the content as sorted, compact JSON from orjson. Mirrors
written before hold the earlier form (64 hex digits of the SHA-256 of the
standard library's JSON, three times slower to make); a stored fingerprint
is compared with one made in its own form, so those still match, and each
is replaced by the current form when its recording is next written.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

import orjson

from mirror.api.models import ListedRecording, RecordingDetail

# Fields of a payload that the mirror stores in columns of its own; anything
# else the service sends is an "extra", kept in `raw` and fingerprinted too.
KNOWN_FIELDS = frozenset(
    {
        "id", "title", "description", "duration", "language", "recorded_by",
        "tags", "created_at", "transcript", "summary", "action_items",
        "deleted", "deleted_at",
    }
)  # fmt: skip

# The current form of a fingerprint starts with this (see the module's text).
FINGERPRINT_PREFIX = "2:"
_SORTED = (
    orjson.OPT_SORT_KEYS
    | orjson.OPT_PASSTHROUGH_SUBCLASS
    | orjson.OPT_PASSTHROUGH_DATETIME
)


Segment = tuple[str | None, str, float | None, float | None]
TagRow = tuple[str, str | None, str | None]
ActionItemRow = tuple[str | None, Mapping[str, Any]]


@dataclass(frozen=True, slots=True)
class RecordingContent:
    """The user-visible state of one recording, normalised.

    ``segments`` and ``action_items`` are None while the service has not
    delivered them, which differs from empty.
    """

    title: str | None
    description: str | None
    duration_seconds: float | None
    language: str | None
    recorded_by: str | None
    recorded_by_email: str | None
    recorded_by_name: str | None
    created_at: dt.datetime
    tags: tuple[TagRow, ...]
    summary_markdown: str | None
    transcript_text: str | None
    segments: tuple[Segment, ...] | None
    action_items: tuple[ActionItemRow, ...] | None
    extras: Mapping[str, Any]


def content_from_detail(detail: RecordingDetail) -> RecordingContent:
    """Normalise a fetched recording."""
    listed = detail.listed
    # Segments are named tuples of (speaker, text, start, end) already.
    segments: tuple[Segment, ...] | None = detail.transcript
    items = None
    if detail.action_items is not None:
        items = tuple((item.text, item.raw) for item in detail.action_items)

    return RecordingContent(
        **_listed_fields(listed),
        description=detail.description,
        summary_markdown=detail.summary_markdown,
        transcript_text=detail.transcript_text,
        segments=segments,
        action_items=items,
        extras=_extras(detail.raw),
    )


def content_from_listing(listed: ListedRecording) -> RecordingContent:
    """Normalise a listed recording whose detail has not been fetched."""
    return RecordingContent(
        **_listed_fields(listed),
        description=None,
        summary_markdown=None,
        transcript_text=None,
        segments=None,
        action_items=None,
        extras=_extras(listed.raw),
    )


def listing_fingerprint(listed: ListedRecording, *, like: str | None = None) -> str:
    """A digest of everything a listing item says, unknown fields included.

    Args:
        like: a stored fingerprint to compare with; the digest is made in
            its form.
    """
    values = _listed_fields(listed)
    values["deleted"] = listed.deleted
    values["extras"] = _extras(listed.raw)
    return _digest(values, like)


def fingerprint(content: RecordingContent, *, like: str | None = None) -> str:
    """A digest of a recording's whole content (``like``: as above)."""
    # A shallow mapping is enough: JSON encodes the nested tuples itself, and
    # dataclasses.asdict would deep-copy every transcript segment first.
    values = {name: getattr(content, name) for name in _FIELD_NAMES}
    return _digest(values, like)


_FIELD_NAMES = tuple(field.name for field in fields(RecordingContent))


def changed_fields(old: RecordingContent, new: RecordingContent) -> list[str]:
    """The names of the fields that differ between two contents."""
    return [
        field.name
        for field in fields(RecordingContent)
        if _canonical(getattr(old, field.name)) != _canonical(getattr(new, field.name))
    ]


def _listed_fields(listed: ListedRecording) -> dict[str, Any]:
    recorder = listed.recorded_by
    return {
        "title": listed.title,
        "duration_seconds": listed.duration_seconds,
        "language": listed.language,
        "recorded_by": recorder.user_id if recorder else None,
        "recorded_by_email": recorder.email if recorder else None,
        "recorded_by_name": recorder.display_name if recorder else None,
        "created_at": listed.created_at,
        # Tags are a set (an update replaces it), so their order is not content.
        "tags": tuple(
            sorted(((t.id, t.name, t.color) for t in listed.tags), key=_first)
        ),
    }


def _first(row: TagRow) -> str:
    return row[0]


def _extras(raw: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in raw.items() if key not in KNOWN_FIELDS}


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=_json_default)


def _digest(value: Any, like: str | None = None) -> str:
    if like is not None and not like.startswith(FINGERPRINT_PREFIX):
        return hashlib.sha256(_canonical(value).encode()).hexdigest()
    try:
        text = orjson.dumps(value, option=_SORTED, default=_orjson_default)
    except TypeError:  # an integer beyond 64 bits, a lone surrogate
        text = _canonical(value).encode("utf-8", "surrogatepass")
    return FINGERPRINT_PREFIX + hashlib.sha256(text).hexdigest()[:62]


def _orjson_default(value: Any) -> Any:
    # Named tuples (transcript segments) come here as subclasses of tuple,
    # and times as they do for the standard library: in UTC, ISO 8601.
    if isinstance(value, tuple):
        return list(value)
    return _json_default(value)


def _json_default(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat()
    raise TypeError(f"cannot fingerprint {type(value).__name__}")
