"""The one clock of pocket-mirror: aware UTC, so every stamp compares."""

from __future__ import annotations

import datetime as dt


def utcnow() -> dt.datetime:
    """The current time, timezone-aware, in UTC."""
    return dt.datetime.now(dt.UTC)


FAR_FUTURE = dt.datetime.max.replace(tzinfo=dt.UTC)
