"""An adaptive limit on how many requests are in flight at once.

Pocket does not publish its rate limits, so the client finds a pace the
service accepts: it starts with the configured number of concurrent requests,
halves it on every 429 (multiplicative decrease) and gives one permit back
after each run of successes (additive increase), never above the configured
maximum. A ``Retry-After`` pauses every new request, not only the one that
was refused, since the service limits the whole token.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog

log = structlog.get_logger(__name__)

DEFAULT_RECOVERY_RUN = 20
"""Successes in a row that earn one permit back after a 429."""


class AdaptiveLimiter:
    """An AIMD concurrency limiter for one API client.

    A released permit goes straight to the longest-waiting request, urgent
    ones first: the listing asks for its pages as urgent, so that the next
    page is not queued behind the hundreds of detail requests the pages
    before it released, and the work never runs dry.

    Args:
        maximum: the number of permits to start with and never exceed.
        recovery_run: successes in a row that add one permit back.
    """

    def __init__(self, maximum: int, *, recovery_run: int = DEFAULT_RECOVERY_RUN):
        if maximum < 1:
            raise ValueError("a limiter needs at least one permit")
        self.maximum = maximum
        self.limit = maximum
        self.in_flight = 0
        self._recovery_run = recovery_run
        self._successes = 0
        self._paused_until = 0.0
        self._urgent: deque[asyncio.Future[None]] = deque()
        self._waiting: deque[asyncio.Future[None]] = deque()

    def __repr__(self) -> str:
        return f"AdaptiveLimiter(limit={self.limit}, maximum={self.maximum})"

    @asynccontextmanager
    async def permit(self, *, urgent: bool = False) -> AsyncIterator[None]:
        """Hold one permit for the duration of a request.

        Args:
            urgent: wait ahead of every request that is not urgent.
        """
        await self._wait_out_pause()
        await self._acquire(self._urgent if urgent else self._waiting)
        try:
            yield
        finally:
            self.in_flight -= 1
            self._hand_over()

    def record_success(self) -> None:
        """Count a request the service served; a long enough run adds a permit."""
        self._successes += 1
        if self._successes < self._recovery_run or self.limit >= self.maximum:
            return

        self._successes = 0
        self.limit += 1
        log.debug("api.rate_increased", limit=self.limit, maximum=self.maximum)
        self._hand_over()

    def record_rate_limited(self) -> None:
        """Halve the permits (at least one stays) after a 429."""
        previous = self.limit
        self.limit = max(1, self.limit // 2)
        self._successes = 0
        log.warning("api.rate_reduced", previous=previous, limit=self.limit)

    def pause(self, seconds: float) -> None:
        """Hold back every new request for ``seconds`` from now."""
        if seconds <= 0:
            return
        self._paused_until = max(self._paused_until, time.monotonic() + seconds)

    async def _wait_out_pause(self) -> None:
        while (remaining := self._paused_until - time.monotonic()) > 0:
            await asyncio.sleep(remaining)

    async def _acquire(self, queue: deque[asyncio.Future[None]]) -> None:
        if self.in_flight < self.limit and not (self._urgent or self._waiting):
            self.in_flight += 1
            return
        granted = asyncio.get_running_loop().create_future()
        queue.append(granted)
        self._hand_over()
        try:
            await granted
        except asyncio.CancelledError:
            if granted.done() and not granted.cancelled():
                # The permit was handed over just as the request was
                # cancelled: pass it on rather than lose it.
                self.in_flight -= 1
                self._hand_over()
            else:
                with contextlib.suppress(ValueError):
                    queue.remove(granted)
            raise

    def _hand_over(self) -> None:
        """Give free permits to the waiting requests, urgent ones first."""
        while self.in_flight < self.limit and (self._urgent or self._waiting):
            granted = (self._urgent or self._waiting).popleft()
            if granted.done():
                continue
            self.in_flight += 1
            granted.set_result(None)
