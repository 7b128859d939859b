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
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog

log = structlog.get_logger(__name__)

DEFAULT_RECOVERY_RUN = 20
"""Successes in a row that earn one permit back after a 429."""


class AdaptiveLimiter:
    """An AIMD concurrency limiter for one API client.

    Record each outcome while still holding the request's permit: releasing
    the permit wakes the waiters, who then see the new limit.

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
        self._changed = asyncio.Condition()

    def __repr__(self) -> str:
        return f"AdaptiveLimiter(limit={self.limit}, maximum={self.maximum})"

    @asynccontextmanager
    async def permit(self) -> AsyncIterator[None]:
        """Hold one permit for the duration of a request."""
        await self._wait_out_pause()
        async with self._changed:
            await self._changed.wait_for(lambda: self.in_flight < self.limit)
            self.in_flight += 1

        try:
            yield
        finally:
            await self._release()

    def record_success(self) -> None:
        """Count a request the service served; a long enough run adds a permit."""
        self._successes += 1
        if self._successes < self._recovery_run or self.limit >= self.maximum:
            return

        self._successes = 0
        self.limit += 1
        log.debug("api.rate_increased", limit=self.limit, maximum=self.maximum)

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

    async def _release(self) -> None:
        async with self._changed:
            self.in_flight -= 1
            # Wake only as many waiters as there are permits: waking them all
            # would have hundreds of queued requests recheck on every release.
            self._changed.notify(max(1, self.limit - self.in_flight))
