"""Subtitles from a recording's transcript segments: SRT and WebVTT.

Only segments with a start time become cues; a missing or earlier end time
is replaced by the start, so that every cue is well formed.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from mirror.query.records import FullRecording
from mirror.query.timecodes import subtitle_time


def has_cues(recording: FullRecording) -> bool:
    """Whether the recording has any timed segment to subtitle."""
    return any(s["start_seconds"] is not None for s in recording.segments)


def render_srt(recording: FullRecording) -> str:
    """SubRip: numbered cues, ``HH:MM:SS,mmm`` times, the speaker in the text."""
    cues = []
    for number, (start, end, segment) in enumerate(_timed(recording), start=1):
        text = _one_line(segment["text"]).replace("-->", "->")
        if segment["speaker"]:
            text = f"{_one_line(segment['speaker'])}: {text}"
        timing = f"{subtitle_time(start, ',')} --> {subtitle_time(end, ',')}"
        cues.append(f"{number}\n{timing}\n{text}\n")
    return "\n".join(cues)


def render_vtt(recording: FullRecording) -> str:
    """WebVTT: ``HH:MM:SS.mmm`` times, the speaker as a voice span."""
    cues = ["WEBVTT\n"]
    for start, end, segment in _timed(recording):
        text = _escaped(_one_line(segment["text"]))
        if segment["speaker"]:
            text = f"<v {_escaped(_one_line(segment['speaker']))}>{text}"
        timing = f"{subtitle_time(start, '.')} --> {subtitle_time(end, '.')}"
        cues.append(f"{timing}\n{text}\n")
    return "\n".join(cues)


def _timed(
    recording: FullRecording,
) -> Iterator[tuple[float, float, Mapping[str, Any]]]:
    for segment in recording.segments:
        start = segment["start_seconds"]
        if start is None:
            continue
        end = segment["end_seconds"]
        yield start, max(start, end if end is not None else start), segment


def _escaped(text: str) -> str:
    # WebVTT cue text is markup: these three must be character references.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _one_line(text: str | None) -> str:
    return " ".join((text or "").split())
