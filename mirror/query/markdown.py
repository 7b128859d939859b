"""One recording as a Markdown note, readable in Obsidian and elsewhere.

The front matter is YAML written in its JSON-compatible flow style, so that
every value (quotes, colons, emoji, right-to-left text) is quoted correctly
without a YAML library.
"""

from __future__ import annotations

import json
from typing import Any

from mirror.query.records import FullRecording
from mirror.query.timecodes import minutes_seconds


def render_markdown(recording: FullRecording) -> str:
    """The whole note: front matter, summary, action items, transcript."""
    sections = [
        front_matter(recording),
        f"# {_one_line(recording.row['title']) or 'Untitled recording'}",
    ]
    if recording.row["description"]:
        sections.append(recording.row["description"].strip())
    if recording.row["summary_markdown"]:
        sections.append("## Summary\n\n" + _nested(recording.row["summary_markdown"]))
    if recording.action_items:
        sections.append("## Action items\n\n" + action_item_list(recording))
    if recording.segments:
        sections.append("## Transcript\n\n" + transcript_list(recording))
    return "\n\n".join(sections) + "\n"


def front_matter(recording: FullRecording) -> str:
    """The YAML properties block: id, date, tags, speakers and a few more."""
    row = recording.row
    properties: dict[str, Any] = {
        "id": recording.id,
        "title": row["title"],
        "date": recording.created_at.date().isoformat(),
        "created_at": recording.created_at.isoformat(),
        "duration_seconds": row["duration_seconds"],
        "language": row["language"],
        "recorded_by": row["recorded_by_name"] or row["recorded_by"],
        "tags": [tag["name"] or tag["tag_id"] for tag in recording.tags],
        "speakers": recording.speakers,
    }
    if row["deletion"]:
        properties["deleted"] = row["deletion"]
    lines = [
        f"{key}: {json.dumps(value, ensure_ascii=False)}"
        for key, value in properties.items()
    ]
    return "---\n" + "\n".join(lines) + "\n---"


def action_item_list(recording: FullRecording) -> str:
    """The action items as unchecked tasks."""
    return "\n".join(
        f"- [ ] {_one_line(item['text']) or '(no text)'}"
        for item in recording.action_items
    )


def transcript_list(recording: FullRecording) -> str:
    """One list item per segment: its time, its speaker, what was said."""
    lines = []
    for segment in recording.segments:
        speaker = f"**{_one_line(segment['speaker'])}:** " if segment["speaker"] else ""
        time = minutes_seconds(segment["start_seconds"])
        lines.append(f"- `{time}` {speaker}{_one_line(segment['text'])}")
    return "\n".join(lines)


def _nested(markdown: str) -> str:
    # The summary's own headings go one level under "## Summary".
    lines = markdown.strip().splitlines()
    return "\n".join("#" + line if line.startswith("#") else line for line in lines)


def _one_line(text: str | None) -> str:
    return " ".join((text or "").split())
