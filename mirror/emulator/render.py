"""Canonical records to JSON payloads, in the shapes the behaviour asks for.

Rendering is kept apart from the state so that one record can be served in
every shape the API notes allow, and tests compare the mirror with the record,
not with one payload. The rules:

- A list item has ``id``, ``title``, ``duration``, ``language``,
  ``recorded_by``, ``tags`` and ``created_at`` (``YYYY-MM-DDTHH:MM:SS.mmmZ``),
  then the record's ``extra`` fields (which never replace a known one).
- A detail adds ``description``, and ``transcript``, ``summary`` and
  ``action_items`` only when named in ``include=``.
- An optional field (``description``, ``tags``, ``language``, ``transcript``,
  ``summary``, ``action_items``) whose canonical value is None is sent as null,
  or left out when the record lists it in ``omitted``.
- ``mixed`` shapes pick per recording (per tag, for tags) from a hash of the
  id, so a recording keeps its shape from one request to the next.
- Soft-delete markers follow ``Behaviour.soft_delete``: the marker modes send
  ``deleted_at`` (null while live), the flag modes send ``deleted``.
"""

from __future__ import annotations

import html
import zlib
from typing import Any

from mirror import jsoncodec
from mirror.emulator.behaviour import Behaviour
from mirror.emulator.records import (
    EmulatedRecording,
    Segment,
    TagRef,
    format_timestamp,
    peek_part,
)

JSON_TYPE = "application/json; charset=utf-8"


def list_item(record: EmulatedRecording, behaviour: Behaviour) -> dict[str, Any]:
    """The recording as one item of the list endpoint."""
    payload: dict[str, Any] = {"id": record.id, "title": record.title}
    payload["duration"] = record.duration
    _put_optional(payload, record, "language", record.language)
    payload["recorded_by"] = _recorder(record, behaviour)
    _put_optional(payload, record, "tags", _tags(record, behaviour))
    payload["created_at"] = format_timestamp(record.created_at)

    _put_deletion_marker(payload, record, behaviour)
    return _with_extra(payload, record)


def detail(
    record: EmulatedRecording, behaviour: Behaviour, include: set[str]
) -> dict[str, Any]:
    """The recording as ``GET .../recordings/{id}`` answers it.

    Args:
        include: the names given in ``include=``; ``transcript``, ``summary``
            and ``action_items`` are understood, others are ignored.
    """
    payload = list_item(record, behaviour)
    _put_optional(payload, record, "description", record.description)
    if "transcript" in include:
        _put_optional(payload, record, "transcript", _transcript(record, behaviour))
    if "summary" in include:
        _put_optional(payload, record, "summary", _summary(record, behaviour))
    if "action_items" in include:
        _put_optional(
            payload, record, "action_items", peek_part(record, "action_items")
        )
    return payload


def update_result(record: EmulatedRecording, behaviour: Behaviour) -> dict[str, Any]:
    """The metadata a PUT answers with, ``updated_at`` included."""
    updated = record.updated_at or record.created_at
    return {
        "id": record.id,
        "title": record.title,
        "description": record.description,
        "duration": record.duration,
        "tags": _tags(record, behaviour),
        "updated_at": format_timestamp(updated),
    }


def encode(payload: Any) -> bytes:
    """Compact UTF-8 JSON, non-ASCII characters left as they are."""
    return jsoncodec.encode(payload)


def error_body(message: str, behaviour: Behaviour) -> tuple[bytes, str]:
    """An error body in the behaviour's style, with its content type."""
    if behaviour.error_body == "json":
        return encode({"error": message}), JSON_TYPE
    if behaviour.error_body == "html":
        page = (
            "<!DOCTYPE html><html><head><title>Error</title></head>"
            f"<body><h1>Error</h1><p>{html.escape(message)}</p></body></html>"
        )
        return page.encode(), "text/html; charset=utf-8"
    return message.encode(), "text/plain; charset=utf-8"


def _put_optional(
    payload: dict[str, Any], record: EmulatedRecording, key: str, value: Any
) -> None:
    if value is None and key in record.omitted:
        return
    payload[key] = value


def _with_extra(payload: dict[str, Any], record: EmulatedRecording) -> dict[str, Any]:
    for key, value in record.extra.items():
        payload.setdefault(key, value)
    return payload


def _put_deletion_marker(
    payload: dict[str, Any], record: EmulatedRecording, behaviour: Behaviour
) -> None:
    mode = behaviour.soft_delete
    if mode.endswith("_marker"):
        marker = record.deleted_at
        payload["deleted_at"] = format_timestamp(marker) if marker else None
    elif mode.endswith("_flag"):
        payload["deleted"] = record.deleted_at is not None


def _picks_rich(record_id: str, salt: str) -> bool:
    """A stable per-recording coin flip for the ``mixed`` shapes."""
    return zlib.crc32(f"{salt}:{record_id}".encode()) % 2 == 1


def _recorder(record: EmulatedRecording, behaviour: Behaviour) -> Any:
    shape = behaviour.recorder_shape
    if shape == "mixed":
        shape = "object" if _picks_rich(record.id, "recorder") else "id"
    recorder = record.recorder
    if shape == "id":
        return recorder.user_id
    return {
        "user_id": recorder.user_id,
        "email": recorder.email,
        "display_name": recorder.display_name,
    }


def _tags(record: EmulatedRecording, behaviour: Behaviour) -> list[Any] | None:
    if record.tags is None:
        return None
    offset = 1 if _picks_rich(record.id, "tags") else 0
    return [
        _tag(tag, behaviour.tag_shape, index + offset)
        for index, tag in enumerate(record.tags)
    ]


def _tag(tag: TagRef, shape: str, position: int) -> Any:
    if shape == "id" or (shape == "mixed" and position % 2 == 0):
        return tag.id
    return {"id": tag.id, "name": tag.name, "color": tag.color}


def _transcript(record: EmulatedRecording, behaviour: Behaviour) -> Any:
    segments: list[Segment] | None = peek_part(record, "transcript")
    if segments is None:
        return None
    rendered = [_segment(segment, record.segment_extra) for segment in segments]

    shape = behaviour.transcript_shape
    if shape == "mixed":
        shape = "object" if _picks_rich(record.id, "transcript") else "list"
    if shape == "list":
        return rendered
    text = "\n".join(segment.text for segment in segments)
    return {"segments": rendered, "text": text}


def _segment(segment: Segment, extra: dict[str, Any]) -> dict[str, Any]:
    rendered: dict[str, Any] = {
        "speaker": segment.speaker,
        "text": segment.text,
        "start": segment.start,
        "end": segment.end,
    }
    for key, value in extra.items():
        rendered.setdefault(key, value)
    return rendered


def _summary(record: EmulatedRecording, behaviour: Behaviour) -> Any:
    summaries: dict[str, str] | None = peek_part(record, "summaries")
    if summaries is None:
        return None

    shape = behaviour.summary_shape
    if shape == "mixed":
        shape = "map" if _picks_rich(record.id, "summary") else "markdown"
    if shape == "markdown":
        return {"markdown": "\n\n".join(summaries.values())}
    return {name: {"markdown": text} for name, text in summaries.items()}
