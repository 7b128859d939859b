"""When and how long the API client waits before trying a request again.

A request is retried when another attempt may well succeed: a 429, a 5xx, no
response at all, or a 200 whose body is not what the API promises. A 429 or
503 with ``Retry-After`` waits as long as the service asks, up to a cap, so
that a confused service cannot park the daemon for hours; every other retry
uses stamina's exponential backoff with jitter. In stamina's testing mode
(``stamina.set_testing``) no wait passes at all, Retry-After included.

The backoff hook gives up by itself after ``max_attempts``, so that
``api.retry_scheduled`` is logged only for retries that really follow. A test
that caps stamina's attempts below ``max_attempts`` would see one event too
many; cap at ``max_attempts`` or above and let the client's setting decide.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import stamina
import structlog

from mirror.errors import ApiError

log = structlog.get_logger(__name__)

T = TypeVar("T")

RETRY_AFTER_STATUSES = frozenset({429, 503})
"""Statuses whose ``Retry-After`` header the client honours."""

BACKOFF_INITIAL_SECONDS = 0.5
BACKOFF_MAX_SECONDS = 30.0
BACKOFF_JITTER_SECONDS = 1.0


class RetryableError(Exception):
    """An attempt failed in a way that another attempt may fix.

    Only the retry loop sees this wrapper; when the attempts run out it
    raises ``error`` instead.

    Attributes:
        error: the error to raise if no attempt succeeds.
        retry_after_seconds: the wait the service asked for, if any.
    """

    def __init__(self, error: ApiError, *, retry_after_seconds: float | None = None):
        self.error = error
        self.retry_after_seconds = retry_after_seconds
        super().__init__(str(error))

    def log_fields(self) -> dict[str, object]:
        """The fields that tell in a log line what went wrong."""
        cause = self.__cause__
        if self.error.status is None and cause is not None:
            return {"error": type(cause).__name__}
        fields: dict[str, object] = {"status": self.error.status}
        if self.error.status is not None and self.error.status < 400:
            fields["error"] = type(self.error).__name__
        return fields


RetryListener = Callable[[RetryableError, float], None]
"""Told about each retry before its wait: the failure and the wait in seconds."""


def parse_retry_after(
    value: str | None, *, now: dt.datetime | None = None
) -> float | None:
    """Read a ``Retry-After`` header: delta seconds or an HTTP date.

    Returns the seconds to wait (0 for a date in the past), or None when the
    header is absent, negative or unreadable.
    """
    if value is None or not value.strip():
        return None
    text = value.strip()
    seconds = _delta_seconds(text)
    if seconds is not None:
        return seconds
    return _seconds_until(text, now or dt.datetime.now(dt.UTC))


def _delta_seconds(text: str) -> float | None:
    """Whole seconds as the standard says, or decimals as some services send."""
    try:
        seconds = float(text)
    except ValueError:
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def _seconds_until(http_date: str, now: dt.datetime) -> float | None:
    try:
        moment = email.utils.parsedate_to_datetime(http_date)
    except (TypeError, ValueError):
        return None

    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return max(0.0, (moment - now).total_seconds())


def honoured_wait(seconds: float) -> float:
    """The part of a wait that really passes: none in stamina's testing mode."""
    return 0.0 if stamina.is_testing() else seconds


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How many attempts a request gets, and the longest Retry-After obeyed.

    Args:
        max_attempts: attempts in all, the first included.
        max_retry_after_seconds: the cap on a wait the service asks for.
    """

    max_attempts: int = 6
    max_retry_after_seconds: float = 120.0

    async def run(
        self,
        operation: Callable[[], Awaitable[T]],
        *,
        method: str,
        path: str,
        on_retry: RetryListener | None = None,
    ) -> T:
        """Run ``operation`` until it succeeds or the attempts run out.

        ``operation`` raises :class:`RetryableError` for a failure worth
        another attempt; any other exception ends the loop at once.

        Raises:
            ApiError: the last attempt's error, once no attempt is left.
        """
        schedule = _RetrySchedule(self, method=method, path=path, on_retry=on_retry)
        try:
            return await schedule.run(operation)
        except RetryableError as exc:
            raise exc.error from exc.__cause__

    def wait_for(self, failure: RetryableError) -> float | None:
        """The wait the service asked for, capped; None means use the backoff."""
        asked = failure.retry_after_seconds
        if asked is None or failure.error.status not in RETRY_AFTER_STATUSES:
            return None
        if asked <= self.max_retry_after_seconds:
            return asked

        wait = self.max_retry_after_seconds
        log.warning("api.retry_after_capped", asked_s=asked, wait_s=wait)
        return wait


class _RetrySchedule:
    """One request's retry loop, and the backoff hook stamina consults."""

    def __init__(
        self,
        policy: RetryPolicy,
        *,
        method: str,
        path: str,
        on_retry: RetryListener | None,
    ) -> None:
        self._policy = policy
        self._method = method
        self._path = path
        self._on_retry = on_retry
        self._attempt: stamina.Attempt | None = None

    async def run(self, operation: Callable[[], Awaitable[T]]) -> T:
        attempts = stamina.retry_context(
            on=self._decide,
            attempts=self._policy.max_attempts,
            timeout=None,
            wait_initial=BACKOFF_INITIAL_SECONDS,
            wait_max=BACKOFF_MAX_SECONDS,
            wait_jitter=BACKOFF_JITTER_SECONDS,
        )
        async for attempt in attempts:
            self._attempt = attempt
            with attempt:
                return await operation()
        raise AssertionError("stamina ended the retry loop without an outcome")

    def _decide(self, exc: Exception) -> bool | float:
        """Stamina's backoff hook: False to give up, else True or a wait."""
        number = self._attempt.num if self._attempt else 1
        if not isinstance(exc, RetryableError) or number >= self._policy.max_attempts:
            return False

        asked = self._policy.wait_for(exc)
        wait = asked if asked is not None else self._backoff_lower_bound()
        self._announce(exc, number, wait)
        return True if asked is None else asked

    def _backoff_lower_bound(self) -> float:
        """Stamina's coming backoff without its jitter (0 in testing mode)."""
        return self._attempt.next_wait if self._attempt else 0.0

    def _announce(self, failure: RetryableError, number: int, wait: float) -> None:
        log.warning(
            "api.retry_scheduled",
            method=self._method,
            path=self._path,
            attempt=number,
            wait_s=round(wait, 3),
            **failure.log_fields(),
        )
        if self._on_retry is not None:
            self._on_retry(failure, wait)
