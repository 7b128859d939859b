"""Exporting the mirror to files: Markdown notes, JSON Lines, SRT and WebVTT.

An export into a folder can run again and again. Each recording keeps the
file name it was first given (kept in a small manifest in the folder), so a
renamed recording does not leave a second note behind; a file is rewritten
only when its content changed; and nothing is ever deleted unless the user
asks with ``prune``, and then only files this export wrote itself for
recordings that have since been deleted.
"""

from __future__ import annotations

import json
import os
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import sqlalchemy as sa
import structlog

from mirror.errors import (
    ExportFailed,
)
from mirror.query.formats import json_value
from mirror.query.markdown import render_markdown
from mirror.query.records import FullRecording, Selection, read_recordings
from mirror.query.subtitles import has_cues, render_srt, render_vtt
from mirror.store import schema
from mirror.store.database import Database

log = structlog.get_logger(__name__)

ExportFormat = Literal["markdown", "jsonl", "srt", "vtt"]

FORMATS: tuple[ExportFormat, ...] = ("markdown", "jsonl", "srt", "vtt")

MANIFEST_NAME = ".pocket-mirror-export.json"

JSONL_NAME = "recordings.jsonl"

Renderer = Callable[[FullRecording], str | None]

SLUG_CHARS = 48

_NOT_WORD = re.compile(r"[\W_]+")


@dataclass(slots=True)
class ExportReport:
    """What an export did to the folder."""

    written: list[str] = field(default_factory=list)
    unchanged: int = 0
    removed: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)


def export(
    database: Database,
    folder: Path,
    export_format: ExportFormat,
    selection: Selection,
    *,
    prune: bool = False,
) -> ExportReport:
    """Write the selected recordings into ``folder`` in one format.

    Args:
        prune: remove the files of recordings deleted since an earlier
            export (only files this export wrote).

    Raises:
        ExportFailed: the folder cannot be created, read or written.
    """
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if export_format == "jsonl":
            report = export_jsonl(database, folder, selection)
        else:
            report = export_files(database, folder, export_format, selection, prune)
    except OSError as exc:
        raise ExportFailed(
            f"cannot write the export to {folder} ({exc.strerror or exc}); "
            "check that the folder is writable"
        ) from exc

    log.info(
        "export.finished",
        format=export_format,
        folder=str(folder),
        written=len(report.written),
        unchanged=report.unchanged,
        removed=len(report.removed),
    )
    return report


def export_files(
    database: Database,
    folder: Path,
    export_format: ExportFormat,
    selection: Selection,
    prune: bool,
) -> ExportReport:
    """One file per recording, each rewritten only if its content changed."""
    manifest = Manifest.load(folder)
    names = manifest.names(export_format)
    render, suffix = RENDERERS[export_format]
    report, exported = ExportReport(), set()

    for recording in read_recordings(database, selection):
        content = render(recording)
        if content is None:
            continue
        name = names.setdefault(recording.id, file_name(recording, suffix))
        exported.add(recording.id)
        if write_if_changed(folder / name, content):
            report.written.append(name)
        else:
            report.unchanged += 1

    leftovers = {i: n for i, n in names.items() if i not in exported}
    settle_gone(database, folder, leftovers, names, report, prune)
    manifest.save()
    return report


def settle_gone(
    database: Database,
    folder: Path,
    leftovers: dict[str, str],
    names: dict[str, str],
    report: ExportReport,
    prune: bool,
) -> None:
    """Remove (if asked) or keep the files of recordings deleted since."""
    for recording_id in gone_ids(database, leftovers):
        name = names[recording_id]
        if not prune:
            report.kept.append(name)
            continue
        (folder / name).unlink(missing_ok=True)
        del names[recording_id]
        report.removed.append(name)


def gone_ids(database: Database, leftovers: dict[str, str]) -> list[str]:
    """Which of these recordings are deleted upstream, or not in the mirror."""
    if not leftovers:
        return []
    table = schema.recordings
    query = sa.select(table.c.id).where(
        table.c.id.in_(list(leftovers)), table.c.deletion.is_(None)
    )
    with database.read() as connection:
        live = set(connection.execute(query).scalars())
    return sorted(set(leftovers) - live)


def export_jsonl(
    database: Database, folder: Path, selection: Selection
) -> ExportReport:
    """Every selected recording with all it holds, one JSON object a line."""
    target = folder / JSONL_NAME
    partial = folder / (JSONL_NAME + ".partial")
    with partial.open("w", encoding="utf-8", newline="\n") as stream:
        for recording in read_recordings(database, selection):
            stream.write(json.dumps(jsonl_document(recording), **JSON_OPTIONS) + "\n")

    if target.exists() and same_bytes(partial, target):
        partial.unlink()
        return ExportReport(unchanged=1)
    os.replace(partial, target)
    return ExportReport(written=[JSONL_NAME])


JSON_OPTIONS: dict[str, Any] = {
    "ensure_ascii": False,
    "sort_keys": True,
    "default": json_value,
}


def jsonl_document(recording: FullRecording) -> dict[str, Any]:
    """Everything the mirror holds for a recording: its row and every part."""
    return {
        **recording.row,
        "segments": list(recording.segments),
        "tags": list(recording.tags),
        "action_items": list(recording.action_items),
        "versions": list(recording.versions),
    }


def file_name(recording: FullRecording, suffix: str) -> str:
    """``YYYY-MM-DD-title-words-<id><suffix>``: the id keeps names apart."""
    slug = slugify(recording.row["title"] or "")
    parts = [recording.created_at.date().isoformat(), slug, recording.id]
    return "-".join(part for part in parts if part) + suffix


def slugify(text: str) -> str:
    """Letters and digits of any script, lowercased, joined by hyphens."""
    normal = unicodedata.normalize("NFKC", text).lower()
    slug = _NOT_WORD.sub("-", normal).strip("-")
    return slug[:SLUG_CHARS].rstrip("-")


def write_if_changed(path: Path, content: str) -> bool:
    """Write ``content`` unless the file already holds exactly it.

    The new file replaces the old one whole, so that a reader (or a sync
    tool watching the folder) never sees half a file.
    """
    data = content.encode("utf-8")
    if path.exists() and path.read_bytes() == data:
        return False
    partial = path.with_name(path.name + ".partial")
    partial.write_bytes(data)
    os.replace(partial, path)
    return True


def same_bytes(first: Path, second: Path) -> bool:
    """Whether two files hold the same bytes."""
    if first.stat().st_size != second.stat().st_size:
        return False
    with first.open("rb") as one, second.open("rb") as other:
        while True:
            block = one.read(1 << 20)
            if block != other.read(1 << 20):
                return False
            if not block:
                return True


def _markdown(recording: FullRecording) -> str | None:
    return render_markdown(recording)


def _srt(recording: FullRecording) -> str | None:
    return render_srt(recording) if has_cues(recording) else None


def _vtt(recording: FullRecording) -> str | None:
    return render_vtt(recording) if has_cues(recording) else None


RENDERERS: dict[str, tuple[Renderer, str]] = {
    "markdown": (_markdown, ".md"),
    "srt": (_srt, ".srt"),
    "vtt": (_vtt, ".vtt"),
}


class Manifest:
    """The file name given to each recording, by format, kept in the folder."""

    def __init__(self, path: Path, names: dict[str, dict[str, str]]) -> None:
        self.path = path
        self._names = names

    @classmethod
    def load(cls, folder: Path) -> Manifest:
        """The folder's manifest; an empty one if it has none or it is unreadable."""
        path = folder / MANIFEST_NAME
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            document = {}
        files = document.get("files") if isinstance(document, dict) else None
        return cls(path, _valid_names(files))

    def names(self, export_format: str) -> dict[str, str]:
        """Recording id to file name for one format, to read and extend."""
        return self._names.setdefault(export_format, {})

    def save(self) -> None:
        """Write the manifest back, whole."""
        document = {"version": 1, "files": self._names}
        write_if_changed(self.path, json.dumps(document, indent=1, sort_keys=True))


def _valid_names(files: object) -> dict[str, dict[str, str]]:
    # A manifest edited by hand must not make the export write elsewhere.
    if not isinstance(files, dict):
        return {}
    valid: dict[str, dict[str, str]] = {}
    for export_format, names in files.items():
        if isinstance(names, dict):
            valid[str(export_format)] = {
                str(i): n for i, n in names.items() if _plain_name(n)
            }
    return valid


def _plain_name(name: object) -> bool:
    return (
        isinstance(name, str)
        and name == Path(name).name
        and not name.startswith(".")
        and name not in ("", JSONL_NAME)
    )
