"""Exports on both backends: JSON Lines holds everything, Markdown and
subtitles parse, names are stable, and a second run touches only changes."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from pathlib import Path
from typing import cast

import pytest

from mirror.emulator import Emulator
from mirror.emulator.records import Segment
from mirror.query.export import JSONL_NAME, MANIFEST_NAME, export
from mirror.query.records import Selection
from mirror.store.database import Database
from tests.mirror_state import held
from tests.test_search import (
    mark_deleted,
    run_command,
    shortened,
    write_config,
    write_records,
)

SAME_DAY = dt.datetime(2026, 2, 2, 10, 0, tzinfo=dt.UTC)


@pytest.fixture
def emulated() -> Emulator:
    """Forty generated recordings and two with one title on one day."""
    emulator = Emulator(org_id="org_test", seed=5)
    emulator.generate(40)
    shortened(emulator)
    for minute in (0, 30):
        emulator.new_recording(
            title="Weekly: sync / plan?",
            created_at=SAME_DAY + dt.timedelta(minutes=minute),
            transcript=[
                Segment("Ana", "first <b>&</b> --> words", 1.25, 3.5),
                Segment(None, "second\nline", 3.5, 3.0),
                Segment("Ben", "untimed", None, None),  # type: ignore[arg-type]
            ],
        )
    return emulator


@pytest.fixture
def mirror(database: Database, emulated: Emulator) -> Database:
    """The emulated recordings, stored."""
    write_records(database, emulated.recordings.values())
    return database


def test_jsonl_export_holds_every_recording_and_segment(
    mirror: Database, tmp_path: Path
) -> None:
    """One line per recording, with every column and every part it has."""
    export(mirror, tmp_path, "jsonl", Selection(include_deleted=True))

    lines = (tmp_path / JSONL_NAME).read_text(encoding="utf-8").splitlines()
    documents = {d["id"]: d for d in map(json.loads, lines)}
    state = held(mirror)

    assert set(documents) == set(state)
    for recording_id, want in state.items():
        document = documents[recording_id]
        segments = [
            (s["speaker"], s["text"], s["start_seconds"], s["end_seconds"])
            for s in document["segments"]
        ]
        assert segments == (want["segments"] or []), recording_id
        assert document["title"] == want["title"]
        assert sorted(t["tag_id"] for t in document["tags"]) == sorted(want["tags"])
        assert document["raw"]["id"] == recording_id
        assert {"versions", "action_items", "summary_markdown"} <= set(document)


def front_matter(text: str) -> dict[str, object]:
    """The properties of a note; each value is YAML in its JSON form."""
    assert text.startswith("---\n")
    block = text.split("\n---\n", 1)[0].removeprefix("---\n")
    return {
        key: json.loads(value)
        for key, value in (line.split(": ", 1) for line in block.splitlines())
    }


def test_markdown_notes_parse_with_front_matter_and_transcript(
    mirror: Database, tmp_path: Path
) -> None:
    """Each note has its properties, a heading, and one line per segment."""
    export(mirror, tmp_path, "markdown", Selection())
    state = held(mirror)
    notes = sorted(tmp_path.glob("*.md"))

    assert len(notes) == len(state)
    for note in notes:
        text = note.read_text(encoding="utf-8")
        properties = front_matter(text)
        want = state[str(properties["id"])]
        assert properties["title"] == want["title"]
        assert properties["date"] == want["created_at"].date().isoformat()
        assert sorted(cast(list[str], properties["tags"])) == sorted(want["tags"])
        speakers = {s[0] for s in want["segments"] or [] if s[0]}
        assert set(cast(list[str], properties["speakers"])) == speakers

        lines = [line for line in text.splitlines() if re.match(r"- `\S+` ", line)]
        assert len(lines) == len(want["segments"] or [])
        assert ("## Transcript" in text) == bool(want["segments"])


def test_file_names_are_distinct_and_readable(mirror: Database, tmp_path: Path) -> None:
    """Two recordings with one title on one day get two names, both with it."""
    export(mirror, tmp_path, "markdown", Selection())

    names = sorted(p.name for p in tmp_path.glob("2026-02-02-weekly-sync-plan-*.md"))

    assert len(names) == 2
    assert all(
        re.fullmatch(r"2026-02-02-weekly-sync-plan-rec_\w+\.md", n) for n in names
    )


def parse_cues(text: str, separator: str) -> list[tuple[float, float, str]]:
    """Each cue's start, end and text, from SRT or WebVTT."""
    stamp = rf"(\d\d):(\d\d):(\d\d){re.escape(separator)}(\d\d\d)"
    cues = []
    for block in text.strip().split("\n\n"):
        lines = block.splitlines()
        timing = next(i for i, line in enumerate(lines) if "-->" in line)
        match = re.fullmatch(f"{stamp} --> {stamp}", lines[timing])
        assert match, lines[timing]
        parts = [int(p) for p in match.groups()]
        start = parts[0] * 3600 + parts[1] * 60 + parts[2] + parts[3] / 1000
        end = parts[4] * 3600 + parts[5] * 60 + parts[6] + parts[7] / 1000
        cues.append((start, end, "\n".join(lines[timing + 1 :])))
    return cues


@pytest.mark.parametrize(("export_format", "separator"), [("srt", ","), ("vtt", ".")])
def test_subtitles_parse_with_the_segments_timing(
    mirror: Database, tmp_path: Path, export_format: str, separator: str
) -> None:
    """Every timed segment is a cue at its own times, to the millisecond."""
    export(mirror, tmp_path, export_format, Selection())  # type: ignore[arg-type]
    state = held(mirror)
    files = {p.name.rsplit("-", 1)[-1].split(".")[0]: p for p in tmp_path.glob("*")}

    checked = 0
    for recording_id, want in state.items():
        timed = [s for s in want["segments"] or [] if s[2] is not None]
        if not timed:
            assert recording_id not in files
            continue
        text = files[recording_id].read_text(encoding="utf-8")
        if export_format == "vtt":
            assert text.startswith("WEBVTT\n\n")
            text = text.removeprefix("WEBVTT\n")
        cues = parse_cues(text, separator)
        assert [round(c[0], 3) for c in cues] == [round(s[2], 3) for s in timed]
        assert [round(c[1], 3) for c in cues] == [
            round(max(s[2], s[3]), 3) for s in timed
        ]
        assert all("\n" not in c[2] and "-->" not in c[2] for c in cues)
        checked += 1
    assert checked > 20


def test_vtt_escapes_markup_and_names_the_voice(
    mirror: Database, tmp_path: Path
) -> None:
    """Cue text is escaped and the speaker is a voice span."""
    export(mirror, tmp_path, "vtt", Selection())

    [note, _] = sorted(tmp_path.glob("2026-02-02-*.vtt"))
    cues = parse_cues(note.read_text(encoding="utf-8").removeprefix("WEBVTT\n"), ".")

    assert cues[0] == (1.25, 3.5, "<v Ana>first &lt;b&gt;&amp;&lt;/b&gt; --&gt; words")
    assert cues[1] == (3.5, 3.5, "second line")


def test_second_export_rewrites_only_what_changed(
    mirror: Database, emulated: Emulator, tmp_path: Path
) -> None:
    """After one recording changes, only its note is rewritten, under its name."""
    export(mirror, tmp_path, "markdown", Selection())
    age_all(tmp_path)
    changed = next(iter(emulated.recordings.values()))
    old_names = {p.name for p in tmp_path.glob("*.md")}

    changed.title = "A new title"
    write_records(mirror, [changed])
    report = export(mirror, tmp_path, "markdown", Selection())

    [written] = report.written
    assert changed.id in written
    assert report.unchanged == len(old_names) - 1
    assert {p.name for p in tmp_path.glob("*.md")} == old_names
    assert "# A new title" in (tmp_path / written).read_text(encoding="utf-8")
    touched = [p.name for p in tmp_path.glob("*.md") if p.stat().st_mtime > 1_000_000]
    assert touched == [written]


def age_all(folder: Path) -> None:
    """Set every file's time far back, so that a rewrite shows."""
    for path in folder.iterdir():
        os.utime(path, (1_000, 1_000))


def test_export_deletes_nothing_unless_asked(
    mirror: Database, emulated: Emulator, tmp_path: Path
) -> None:
    """A deleted recording's note stays, and the user's files always do."""
    export(mirror, tmp_path, "markdown", Selection())
    (tmp_path / "my own note.md").write_text("mine")
    gone = next(iter(emulated.recordings.values()))
    mark_deleted(mirror, gone.id)

    kept = export(mirror, tmp_path, "markdown", Selection())
    pruned = export(mirror, tmp_path, "markdown", Selection(), prune=True)

    assert len(kept.kept) == 1 and gone.id in kept.kept[0]
    assert (tmp_path / pruned.removed[0]).exists() is False
    assert gone.id in pruned.removed[0]
    assert (tmp_path / "my own note.md").read_text() == "mine"
    assert (tmp_path / MANIFEST_NAME).exists()


def test_jsonl_second_export_leaves_an_unchanged_file_alone(
    mirror: Database, tmp_path: Path
) -> None:
    """An unchanged mirror leaves the JSON Lines file untouched."""
    export(mirror, tmp_path, "jsonl", Selection())
    age_all(tmp_path)

    report = export(mirror, tmp_path, "jsonl", Selection())

    assert (report.written, report.unchanged) == ([], 1)
    assert (tmp_path / JSONL_NAME).stat().st_mtime == 1_000


def test_export_command_writes_the_folder(
    mirror: Database, tmp_path: Path, emulated: Emulator
) -> None:
    """The command exports and says how many files it wrote."""
    config = write_config(tmp_path / "config.toml", mirror.url)
    out = tmp_path / "notes"

    first = run_command(
        "export", "--format", "markdown", "--out", str(out), config=config
    )
    second = run_command(
        "export", "--format", "markdown", "--out", str(out), config=config
    )

    count = len(emulated.recordings)
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith(f"exported into {out}: {count} written, 0 unchanged")
    assert second.stdout.startswith(
        f"exported into {out}: 0 written, {count} unchanged"
    )
