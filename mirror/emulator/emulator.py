"""The emulator of the Pocket organization API that every HTTP test talks to.

The real service cannot be reached from where the project is built and
tested, so :class:`Emulator` stands in for it: it holds canonical recordings
(:mod:`mirror.emulator.records`), serves them over a real loopback socket in
the shapes a :class:`~mirror.emulator.behaviour.Behaviour` selects, and lets
tests change the state, script faults and read a log of the requests.

Change the state through the emulator's methods (``add``, ``edit``,
``soft_delete``...), not by assigning to a record's ``created_at`` or
``deleted_at`` directly: the listing's sorted index is kept by the methods.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import datetime as dt
import gc
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal, Self

import structlog

from mirror.emulator.app import ApiHandler
from mirror.emulator.behaviour import ENDPOINTS, Behaviour, Fault
from mirror.emulator.fake import DEFAULT_NOW, TAGS, RecordingFactory
from mirror.emulator.listing import RecordingIndex
from mirror.emulator.records import EmulatedRecording, TagRef
from mirror.emulator.server import ServerThread

log = structlog.get_logger(__name__)

DROPPED = 0
"""The status the request log records for a connection closed unanswered."""

_BULK_INSERT = 64


@dataclass
class RequestLog:
    """Every request the emulator answered, oldest first.

    Each entry is ``(endpoint, method, path_and_query, status)``; endpoint is
    ``"list"``, ``"detail"``, ``"update"``, ``"delete"`` or ``"other"``, and a
    dropped connection is logged with status :data:`DROPPED` (0).
    """

    entries: list[tuple[str, str, str, int]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record(self, endpoint: str, method: str, target: str, status: int) -> None:
        """Append one entry."""
        with self._lock:
            self.entries.append((endpoint, method, target, status))

    def count(self, endpoint: str | None = None, status: int | None = None) -> int:
        """How many requests matched ``endpoint`` and ``status`` (None: any)."""
        with self._lock:
            return sum(
                1
                for logged_endpoint, _, _, logged_status in self.entries
                if endpoint in (None, logged_endpoint)
                and status in (None, logged_status)
            )

    def reset(self) -> None:
        """Forget every entry."""
        with self._lock:
            self.entries.clear()


class Emulator:
    """An emulated Pocket organization, served on 127.0.0.1.

    Args:
        org_id: the organization the token belongs to.
        token: the only bearer token accepted.
        role: ``admin`` may update and delete; ``viewer`` may only read.
        seed: fixes every generated recording.
        behaviour: the switches for what the API reference leaves open.
        now: generated recordings spread over the three years before it.

    Attributes:
        recordings: canonical state by id, soft-deleted recordings included.
        requests: the log of answered requests.
        before_list_page: called with the page number before each list page
            is served, so a test can change the state mid-listing.
        foreign_orgs: organizations that exist but the token may not see (403).
        lock: held while a request reads the state; re-entrant.
    """

    def __init__(
        self,
        org_id: str = "org_test",
        token: str = "pk_test_token",
        role: Literal["admin", "viewer"] = "admin",
        seed: int = 1,
        behaviour: Behaviour | None = None,
        *,
        now: dt.datetime = DEFAULT_NOW,
    ):
        self.org_id = org_id
        self.token = token
        self.role = role
        self.seed = seed
        self.behaviour = behaviour or Behaviour()
        self.recordings: dict[str, EmulatedRecording] = {}
        self.requests = RequestLog()
        self.before_list_page: Callable[[int], None] | None = None
        self.foreign_orgs: set[str] = set()
        self.lock = threading.RLock()
        self.index = RecordingIndex(self.recordings.__getitem__)
        self._factory = RecordingFactory(seed, now)
        self._faults: dict[str, collections.deque[Fault]] = {
            endpoint: collections.deque() for endpoint in ENDPOINTS
        }
        self._tags = {tag.id: tag for tag in TAGS}
        self._server: ServerThread | None = None

    @property
    def now(self) -> dt.datetime:
        """The moment generated recordings lead up to."""
        return self._factory.now

    @property
    def url(self) -> str:
        """The base URL, ``http://127.0.0.1:PORT``, while started."""
        if self._server is None:
            raise RuntimeError("the emulator is not started")
        return f"http://127.0.0.1:{self._server.port}"

    def start(self, port: int = 0, host: str = "127.0.0.1") -> str:
        """Listen on ``host`` (a free port unless ``port`` is given).

        Returns:
            The base URL.
        """
        if self._server is not None:
            return self.url
        self._server = ServerThread(ApiHandler(self), host, port)
        self._server.start()
        log.debug("emulator.listening", url=self.url, org_id=self.org_id)
        return self.url

    def stop(self) -> None:
        """Stop serving and close every open connection."""
        if self._server is None:
            return
        self._server.stop()
        self._server = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def generate(self, count: int) -> list[str]:
        """Add ``count`` seeded, realistic recordings.

        Returns:
            Their ids, in the order they were made.
        """
        with self.lock, _collector_paused():
            made = self._factory.make_many(count, set(self.recordings))
            self._add_all(made)
        return [record.id for record in made]

    def add(self, record: EmulatedRecording) -> EmulatedRecording:
        """Add ``record``, replacing any recording with the same id."""
        with self.lock:
            self._add_all([record])
        return record

    def new_recording(self, **overrides: Any) -> EmulatedRecording:
        """Generate one recording, created now unless ``created_at`` is given.

        Args:
            overrides: values for any :class:`EmulatedRecording` field, which
                replace the generated ones.
        """
        created_at = overrides.pop("created_at", None) or _now_ms()
        with self.lock:
            record = self._factory.make(set(self.recordings), created_at=created_at)
            _assign(record, overrides)
            if "updated_at" not in overrides:
                record.updated_at = record.created_at
            self._add_all([record])
        return record

    def edit(self, recording_id: str, **fields: Any) -> EmulatedRecording:
        """Change fields of a recording and bump its ``updated_at``.

        Any field may be given, ``created_at`` included; an ``updated_at``
        given explicitly is kept as given.
        """
        with self.lock:
            record = self.recordings[recording_id]
            self.index.remove(record)
            _assign(record, fields)
            if "updated_at" not in fields:
                record.updated_at = _later_than(record.updated_at)
            self.index.add(record)
        return record

    def soft_delete(
        self, recording_id: str, at: dt.datetime | None = None
    ) -> EmulatedRecording:
        """Soft delete a recording: it may still come back with :meth:`restore`."""
        with self.lock:
            record = self.recordings[recording_id]
            record.deleted_at = at or _now_ms()
            self.index.mark_deleted(record)
        return record

    def restore(self, recording_id: str) -> EmulatedRecording:
        """Bring back a soft-deleted recording."""
        with self.lock:
            record = self.recordings[recording_id]
            record.deleted_at = None
            self.index.mark_restored(record)
        return record

    def hard_delete(self, recording_id: str) -> None:
        """Delete a recording and all its data for good."""
        with self.lock:
            record = self.recordings.pop(recording_id)
            self.index.remove(record)

    def inject(self, endpoint: str, fault: Fault, count: int = 1) -> None:
        """Queue ``fault`` for the next ``count`` requests to ``endpoint``.

        Scripted faults are used in the order queued and take precedence over
        the behaviour's random faults.
        """
        if endpoint not in self._faults:
            raise ValueError(f"unknown endpoint {endpoint!r}; use one of {ENDPOINTS}")
        with self.lock:
            self._faults[endpoint].extend(
                dataclasses.replace(fault) for _ in range(count)
            )

    def take_fault(self, endpoint: str) -> Fault | None:
        """The next scripted fault for ``endpoint``, removed from the queue."""
        with self.lock:
            queue = self._faults.get(endpoint)
            return queue.popleft() if queue else None

    def tag(self, tag_id: str) -> TagRef:
        """The organization's tag of that id; unknown ids get a bare tag."""
        return self._tags.get(tag_id) or TagRef(tag_id, None, None)

    def _add_all(self, records: Iterable[EmulatedRecording]) -> None:
        records = list(records)
        for record in records:
            replaced = self.recordings.get(record.id)
            if replaced is not None:
                self.index.remove(replaced)
            self.recordings[record.id] = record
            for tag in record.tags or ():
                self._tags.setdefault(tag.id, tag)
        if len(records) > _BULK_INSERT:
            self.index.rebuild(list(self.recordings.values()))
        else:
            for record in records:
                self.index.add(record)


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while making many records.

    Nothing made is garbage, so collector passes over the growing heap would
    only slow the making of 100,000 records down.
    """
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


def _assign(record: EmulatedRecording, fields: dict[str, Any]) -> None:
    known = {f.name for f in dataclasses.fields(record)}
    unknown = set(fields) - known
    if unknown:
        raise TypeError(f"EmulatedRecording has no field {sorted(unknown)}")
    for name, value in fields.items():
        setattr(record, name, value)


def _now_ms() -> dt.datetime:
    """Now, in UTC, cut to the millisecond precision the API has."""
    now = dt.datetime.now(dt.UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def _later_than(previous: dt.datetime | None) -> dt.datetime:
    """Now, or a millisecond after ``previous`` if the clock has not moved on."""
    now = _now_ms()
    if previous is not None and now <= previous:
        return previous + dt.timedelta(milliseconds=1)
    return now


def serve(
    port: int = 8765,
    recordings: int = 200,
    seed: int = 1,
    behaviour: Behaviour | None = None,
    token: str = "pk_test_token",
    org_id: str = "org_test",
    *,
    role: Literal["admin", "viewer"] = "admin",
    host: str = "127.0.0.1",
) -> None:
    """Serve an emulator with ``recordings`` generated recordings until Ctrl-C.

    Logs ``emulator.started`` with the URL and organization once listening,
    and ``emulator.stopped`` when interrupted.
    """
    emulator = Emulator(org_id, token, role, seed, behaviour)
    emulator.generate(recordings)
    url = emulator.start(port, host)
    log.info("emulator.started", url=url, org_id=org_id, recordings=recordings)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        emulator.stop()
        log.info("emulator.stopped", url=url)
