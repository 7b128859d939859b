"""The emulator's canonical state: one mutable record per recording.

Tests compare the mirror against these records, so they hold the truth in
plain Python values, free of any payload shape. How a record turns into JSON
is decided elsewhere (:mod:`mirror.emulator.render`), by the switches of
:class:`~mirror.emulator.behaviour.Behaviour`.

The transcript, the summaries and the action items are large, so a generated
record computes them only when first read, from the emulator's seed and the
record's id. Assigning any of them stores an override that wins from then on.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, NamedTuple, Protocol, TypeVar, overload

T = TypeVar("T")


class Recorder(NamedTuple):
    """The user who made a recording."""

    user_id: str
    email: str
    display_name: str


NOBODY = Recorder("usr_000", "nobody@example.com", "Nobody")
"""The recorder of a hand-made record that names none."""


class TagRef(NamedTuple):
    """A tag as the organization knows it; only the id is sent in ``id`` shape."""

    id: str
    name: str | None
    color: str | None


class Segment(NamedTuple):
    """One stretch of speech; times are seconds from the start, int or float."""

    speaker: str | None
    text: str
    start: int | float
    end: int | float


Transcript = list[Segment]
Summaries = dict[str, str]
ActionItems = list[dict[str, Any]]


class PartsSource(Protocol):
    """Where a generated record's large parts come from, on demand."""

    def transcript(self, record: EmulatedRecording) -> Transcript | None:
        """The generated transcript, or None while it is still processing."""

    def summaries(self, record: EmulatedRecording) -> Summaries | None:
        """The generated summaries by name, or None."""

    def action_items(self, record: EmulatedRecording) -> ActionItems | None:
        """The generated action items, or None."""


class _Pending:
    """Marks a lazy part that has been neither generated nor assigned yet."""

    def __repr__(self) -> str:
        return "PENDING"


PENDING = _Pending()


class _LazyPart(Generic[T]):
    """A dataclass field whose value is generated on first read.

    The generated value is stored, so that a test which mutates it in place
    (``record.transcript.append(...)``) sees its change served. A record
    without a parts source reads None until a value is assigned.
    """

    def __init__(self, generate: Callable[[PartsSource, EmulatedRecording], T | None]):
        self._generate = generate
        self._slot = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self._slot = f"_{name}"

    @overload
    def __get__(self, record: None, owner: type) -> _Pending: ...

    @overload
    def __get__(self, record: EmulatedRecording, owner: type) -> T | None: ...

    def __get__(
        self, record: EmulatedRecording | None, owner: type
    ) -> T | _Pending | None:
        if record is None:
            return PENDING
        value: T | _Pending | None = record.__dict__.get(self._slot, PENDING)
        if isinstance(value, _Pending):
            value = self.peek(record)
            record.__dict__[self._slot] = value
        return value

    def __set__(self, record: EmulatedRecording, value: T | _Pending | None) -> None:
        record.__dict__[self._slot] = value

    def peek(self, record: EmulatedRecording) -> T | None:
        """The part's value without storing a generated one.

        The server renders through here, so that serving 100,000 generated
        transcripts does not keep 100,000 transcripts in memory.
        """
        value: T | _Pending | None = record.__dict__.get(self._slot, PENDING)
        if not isinstance(value, _Pending):
            return value
        if record.parts is None:
            return None
        return self._generate(record.parts, record)


@dataclass
class EmulatedRecording:
    """One recording's canonical data, including soft-deleted ones.

    Attributes:
        id: ``"rec_"`` and 12 hex digits.
        created_at: aware UTC, millisecond precision.
        transcript: the segments, or None while still processing.
        summaries: markdown by summary name, or None.
        action_items: each item whole, or None.
        extra: unknown fields sent with the recording in every payload.
        segment_extra: unknown fields sent with every transcript segment.
        omitted: optional fields sent absent rather than null when None.
        deleted_at: set while the recording is soft deleted.
        parts: the generator of the lazy parts; None for hand-made records.
    """

    id: str
    created_at: dt.datetime
    title: str | None = None
    description: str | None = None
    duration: int | float = 0
    language: str | None = None
    recorder: Recorder = NOBODY
    tags: list[TagRef] | None = field(default_factory=list)
    transcript: _LazyPart[Transcript] = _LazyPart(
        lambda parts, record: parts.transcript(record)
    )
    summaries: _LazyPart[Summaries] = _LazyPart(
        lambda parts, record: parts.summaries(record)
    )
    action_items: _LazyPart[ActionItems] = _LazyPart(
        lambda parts, record: parts.action_items(record)
    )
    extra: dict[str, Any] = field(default_factory=dict)
    segment_extra: dict[str, Any] = field(default_factory=dict)
    omitted: frozenset[str] = frozenset()
    deleted_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None
    parts: PartsSource | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.updated_at is None:
            self.updated_at = self.created_at

    @property
    def deleted(self) -> bool:
        """True while the recording is soft deleted."""
        return self.deleted_at is not None


LAZY_PARTS = ("transcript", "summaries", "action_items")


def peek_part(record: EmulatedRecording, name: str) -> Any:
    """Read one lazy part of ``record`` without storing a generated value."""
    descriptor: _LazyPart[Any] = EmulatedRecording.__dict__[name]
    return descriptor.peek(record)


def format_timestamp(moment: dt.datetime) -> str:
    """Render an aware datetime as the API does: ``YYYY-MM-DDTHH:MM:SS.mmmZ``."""
    utc = moment.astimezone(dt.UTC)
    return utc.isoformat(timespec="milliseconds")[:23] + "Z"


def to_millis(moment: dt.datetime) -> int:
    """Milliseconds since the epoch; the listing's sort key."""
    delta = moment.astimezone(dt.UTC) - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def from_millis(millis: int) -> dt.datetime:
    """The aware UTC datetime of ``millis`` since the epoch."""
    return EPOCH + dt.timedelta(milliseconds=millis)


EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
