"""Times within a recording, written the ways people and players read them."""

from __future__ import annotations


def minutes_seconds(seconds: float | None) -> str:
    """``mm:ss`` from the recording's start (minutes go past 59), ``--:--`` if
    unknown."""
    if seconds is None:
        return "--:--"
    whole = max(0, int(seconds))
    return f"{whole // 60:02d}:{whole % 60:02d}"


def subtitle_time(seconds: float, separator: str) -> str:
    """``HH:MM:SS,mmm`` (SRT, with ``,``) or ``HH:MM:SS.mmm`` (WebVTT, ``.``)."""
    millis = max(0, round(seconds * 1000))
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    whole, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{whole:02d}{separator}{millis:03d}"
