"""The switches for everything the published API reference leaves open.

The mirror must work whichever way the real service behaves, so each open
question of the API notes (soft deletes, shapes, pagination, errors, rate
limits) is one field of :class:`Behaviour`, and tests flip them between runs.
:class:`Fault` scripts one broken response for the next matching request.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Literal

SoftDeleteMode = Literal[
    "hidden_404",
    "hidden_410",
    "hidden_marker",
    "hidden_flag",
    "listed_marker",
    "listed_flag",
]
Endpoint = Literal["list", "detail", "update", "delete"]
ENDPOINTS: tuple[Endpoint, ...] = ("list", "detail", "update", "delete")


@dataclass
class Behaviour:
    """How the emulated service behaves where the reference is silent.

    Attributes:
        soft_delete: how soft-deleted recordings show. ``hidden_404`` and
            ``hidden_410``: gone from the listing, GET answers 404 or 410.
            ``hidden_marker`` and ``hidden_flag``: gone from the listing, GET
            answers 200 with ``deleted_at`` set or with ``deleted: true``.
            ``listed_marker`` and ``listed_flag``: still listed, with that
            marker in the listing and in GET. In the marker modes live
            recordings carry ``deleted_at: null``, in the flag modes
            ``deleted: false``.
        tag_shape: ``id`` (strings), ``object`` (``{id, name, color}``) or
            ``mixed`` (both, within one recording).
        recorder_shape: ``id`` (``recorded_by`` is the user id), ``object``
            (``{user_id, email, display_name}``) or ``mixed`` (per recording).
        transcript_shape: ``list`` (array of ``{speaker, text, start, end}``),
            ``object`` (``{"segments": [...], "text": ...}`` with the segment
            texts joined by newlines) or ``mixed`` (per recording).
        summary_shape: ``markdown`` (``{"markdown": ...}`` with the summaries
            joined by blank lines), ``map`` (``{name: {"markdown": ...}}``) or
            ``mixed`` (per recording).
        omit_null_cursor: leave ``next_cursor`` out on the last page instead
            of sending null.
        limit_over_100: ``cut`` serves 100 items, ``refuse`` answers 400.
        total_lies: ``pagination.total`` is a wrong number.
        pagination_fault: ``repeat_cursor`` sends, from page 2 on, the cursor
            the page was asked with as its ``next_cursor``; ``repeat_ids``
            serves page 1's items again as page 2.
        error_body: ``json`` (``{"error": ...}``), ``html`` or ``text``.
        etags: GET answers carry a strong ETag; ``If-None-Match`` earns 304.
        latency_ms: a pause before every answer.
        fault_seed: seeds the random faults, so a run's faults repeat.
        rate_5xx: share of requests answered 500, 502 or 503.
        rate_429: share of requests answered 429.
        rate_drop: share of requests whose connection is closed unanswered.
        fault_endpoints: the endpoints the random faults apply to.
        retry_after: a 429's ``Retry-After``: ``seconds``, ``date`` (an HTTP
            date that far ahead) or ``absent``.
        retry_after_seconds: the wait a 429 asks for.
    """

    soft_delete: SoftDeleteMode = "hidden_404"
    tag_shape: Literal["id", "object", "mixed"] = "id"
    recorder_shape: Literal["id", "object", "mixed"] = "id"
    transcript_shape: Literal["list", "object", "mixed"] = "list"
    summary_shape: Literal["markdown", "map", "mixed"] = "markdown"
    omit_null_cursor: bool = False
    limit_over_100: Literal["cut", "refuse"] = "cut"
    total_lies: bool = False
    pagination_fault: Literal["repeat_cursor", "repeat_ids"] | None = None
    error_body: Literal["json", "html", "text"] = "json"
    etags: bool = True
    latency_ms: float = 0.0
    fault_seed: int = 0
    rate_5xx: float = 0.0
    rate_429: float = 0.0
    rate_drop: float = 0.0
    fault_endpoints: Collection[str] = frozenset({"list", "detail"})
    retry_after: Literal["seconds", "date", "absent"] = "seconds"
    retry_after_seconds: int | float = 1


@dataclass
class Fault:
    """One scripted misbehaviour, queued with ``Emulator.inject``.

    Fields left at their defaults keep the normal answer: a fault with only
    ``delay_seconds`` serves the real response late, one with only
    ``truncate`` cuts the real body short. A fault with a ``status`` answers
    without touching the state (an update is not applied); a ``drop`` never
    touches it either.

    Attributes:
        status: the status to answer with instead of the real one.
        body: bytes sent as they are (invalid JSON, HTML, empty, cut off).
            With a status but no body, the error body of the behaviour's
            ``error_body`` style is sent.
        content_type: the Content-Type to send with ``body``.
        headers: extra headers, e.g. ``{"Retry-After": "2"}``; scripted 429s
            get no Retry-After unless given here.
        drop: close the connection without any response.
        truncate: announce a Content-Length larger than the bytes sent, then
            close the connection.
        delay_seconds: wait this long before answering, to make clients time
            out.
        trickle_seconds: send the body in small pieces spread over this long.
    """

    status: int | None = None
    body: bytes | None = None
    content_type: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False
    truncate: bool = False
    delay_seconds: float = 0.0
    trickle_seconds: float = 0.0

    @property
    def replaces_answer(self) -> bool:
        """True when the fault answers instead of the real handler."""
        return self.drop or self.status is not None or self.body is not None
