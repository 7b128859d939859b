"""The payload parsers accept every shape the API notes list, and refuse only
payloads that cannot be used at all."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from mirror.api.models import ActionItem, Recorder, Tag, TranscriptSegment
from mirror.api.parse import (
    PayloadError,
    parse_detail,
    parse_listed,
    parse_page,
    parse_seconds,
    parse_timestamp,
)

CREATED = "2026-03-15T09:00:00.000Z"
CREATED_AT = dt.datetime(2026, 3, 15, 9, 0, tzinfo=dt.UTC)
GREETING = "مرحبا 👋"


def item(**fields: Any) -> dict[str, Any]:
    """A minimal list item with ``fields`` added or replaced."""
    return {"id": "rec_1", "created_at": CREATED, **fields}


def detail(**fields: Any) -> dict[str, Any]:
    """A minimal detail body with ``fields`` added or replaced."""
    return item(**fields)


def test_listed_reads_the_published_example() -> None:
    """The list item of the API reference parses into every model field."""
    payload = item(
        title="Team Standup",
        duration=1800,
        language="English",
        recorded_by="usr_001",
        tags=["tag_meeting"],
    )

    listed = parse_listed(payload)

    assert listed.id == "rec_1"
    assert listed.created_at == CREATED_AT
    assert listed.title == "Team Standup"
    assert listed.duration_seconds == 1800
    assert listed.language == "English"
    assert listed.recorded_by == Recorder(user_id="usr_001")
    assert listed.tags == (Tag(id="tag_meeting"),)
    assert listed.deleted is False
    assert listed.deleted_at is None


def test_listed_keeps_the_whole_payload_as_raw() -> None:
    """Unknown fields survive in ``raw``, untouched."""
    payload = item(folder={"id": "f1"}, shared=True)

    assert parse_listed(payload).raw == payload


@pytest.mark.parametrize("payload", [None, [], "rec_1", 42])
def test_listed_refuses_a_payload_that_is_not_an_object(payload: object) -> None:
    """A payload that is not a JSON object raises PayloadError."""
    with pytest.raises(PayloadError, match="not a JSON object"):
        parse_listed(payload)


@pytest.mark.parametrize("identifier", [None, "", 1.5, True, ["rec_1"]])
def test_listed_refuses_a_payload_without_a_string_id(identifier: object) -> None:
    """An id that is absent, empty or not a string raises PayloadError."""
    with pytest.raises(PayloadError) as caught:
        parse_listed(item(id=identifier))

    assert caught.value.reason == "the recording has no string id"


def test_listed_reads_an_integer_id_as_a_string() -> None:
    """An integer id is taken as its digits."""
    assert parse_listed(item(id=1234)).id == "1234"


@pytest.mark.parametrize(
    "created_at",
    [None, "", "yesterday", 1773565200, "2026-13-01", "0001-01-01T00:00:00+01:00"],
)
def test_listed_refuses_a_payload_without_a_parseable_created_at(
    created_at: object,
) -> None:
    """A created_at that is absent or unreadable raises PayloadError."""
    with pytest.raises(PayloadError, match="created_at"):
        parse_listed(item(created_at=created_at))


@pytest.mark.parametrize(
    "text",
    [
        "2026-03-15T09:00:00.000Z",
        "2026-03-15T09:00:00Z",
        "2026-03-15T09:00:00+00:00",
        "2026-03-15T10:00:00+01:00",
        "2026-03-15T04:00:00.000-05:00",
        "2026-03-15T09:00:00",
        " 2026-03-15T09:00:00.000000Z ",
    ],
)
def test_timestamps_of_every_iso_form_read_as_aware_utc(text: str) -> None:
    """Z, offsets, fractions or none, and no offset all give the same UTC time."""
    parsed = parse_timestamp(text)

    assert parsed == CREATED_AT
    assert parsed is not None and parsed.utcoffset() == dt.timedelta(0)


def test_timestamps_keep_milliseconds() -> None:
    """A millisecond fraction is kept exactly."""
    parsed = parse_timestamp("2025-12-31T23:59:59.999Z")

    assert parsed == dt.datetime(2025, 12, 31, 23, 59, 59, 999000, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1800, 1800.0),
        (12.25, 12.25),
        ("95", 95.0),
        (" 3.5 ", 3.5),
        (0, 0.0),
        (True, None),
        (False, None),
        ("long", None),
        ("nan", None),
        (float("inf"), None),
        (None, None),
        ([1], None),
    ],
)
def test_seconds_accept_ints_floats_and_numeric_strings(
    value: object, expected: float | None
) -> None:
    """Durations and segment times are ints, floats or numeric strings; not bools."""
    assert parse_seconds(value) == expected


def test_listed_reads_a_wrong_typed_duration_as_absent() -> None:
    """A duration of the wrong type is None, and stays in raw."""
    listed = parse_listed(item(duration="an hour"))

    assert listed.duration_seconds is None
    assert listed.raw["duration"] == "an hour"


@pytest.mark.parametrize("field", ["title", "language"])
@pytest.mark.parametrize("value", [None, 7, ["x"], {"text": "x"}])
def test_listed_reads_wrong_typed_strings_as_absent(field: str, value: object) -> None:
    """A title or language that is null or not a string is None."""
    listed = parse_listed(item(**{field: value}))

    assert getattr(listed, field) is None


def test_listed_reads_absent_optional_fields_as_none() -> None:
    """A payload with only id and created_at has empty optional fields."""
    listed = parse_listed(item())

    assert listed.title is None
    assert listed.duration_seconds is None
    assert listed.language is None
    assert listed.recorded_by is None
    assert listed.tags == ()


def test_tags_as_ids_objects_and_mixed() -> None:
    """Tags may be string ids or {id, name, color} objects, in one list."""
    tags = ["tag_a", {"id": "tag_b", "name": "Sales", "color": "#ff0000"}, {"id": "c"}]

    assert parse_listed(item(tags=tags)).tags == (
        Tag(id="tag_a"),
        Tag(id="tag_b", name="Sales", color="#ff0000"),
        Tag(id="c"),
    )


def test_tags_without_a_usable_id_are_left_out() -> None:
    """Tag entries with no id, an empty id or another type are skipped."""
    tags = ["", None, 5, {"name": "no id"}, {"id": None}, "tag_ok"]

    assert parse_listed(item(tags=tags)).tags == (Tag(id="tag_ok"),)


@pytest.mark.parametrize("tags", [None, "tag_a", {"id": "tag_a"}])
def test_tags_that_are_not_a_list_read_as_none(tags: object) -> None:
    """A tags value that is not a list gives no tags."""
    assert parse_listed(item(tags=tags)).tags == ()


def test_tag_with_wrong_typed_name_keeps_its_id() -> None:
    """A tag's name or color of the wrong type is None; the tag stays."""
    tags = [{"id": "t", "name": 3, "color": ["red"]}]

    assert parse_listed(item(tags=tags)).tags == (Tag(id="t"),)


@pytest.mark.parametrize(
    ("recorded_by", "expected"),
    [
        ("usr_001", Recorder(user_id="usr_001")),
        (
            {"user_id": "usr_1", "email": "a@example.com", "display_name": "Ada"},
            Recorder(user_id="usr_1", email="a@example.com", display_name="Ada"),
        ),
        (
            {"id": "usr_2", "name": "Bo"},
            Recorder(user_id="usr_2", display_name="Bo"),
        ),
        ({"email": "c@example.com"}, Recorder(user_id=None, email="c@example.com")),
        ({}, None),
        (None, None),
        (17, None),
    ],
)
def test_recorder_as_an_id_or_an_object(
    recorded_by: object, expected: Recorder | None
) -> None:
    """recorded_by is a user id, or an object with user_id/id, email, name."""
    assert parse_listed(item(recorded_by=recorded_by)).recorded_by == expected


def test_recorder_prefers_user_id_and_display_name() -> None:
    """With both spellings present, user_id and display_name win."""
    recorded_by = {"user_id": "u1", "id": "u2", "display_name": "A", "name": "B"}

    assert parse_listed(item(recorded_by=recorded_by)).recorded_by == Recorder(
        user_id="u1", display_name="A"
    )


def test_deleted_at_marks_a_soft_delete() -> None:
    """A deleted_at timestamp sets deleted and is parsed."""
    listed = parse_listed(item(deleted_at="2026-04-01T12:00:00.000Z"))

    assert listed.deleted is True
    assert listed.deleted_at == dt.datetime(2026, 4, 1, 12, tzinfo=dt.UTC)


def test_deleted_flag_marks_a_soft_delete() -> None:
    """``deleted: true`` sets deleted, with no time."""
    listed = parse_listed(item(deleted=True))

    assert listed.deleted is True
    assert listed.deleted_at is None


def test_unreadable_deleted_at_still_marks_a_soft_delete() -> None:
    """A deleted_at that is set but unreadable still counts as a marker."""
    listed = parse_listed(item(deleted_at="some time ago"))

    assert listed.deleted is True
    assert listed.deleted_at is None


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"deleted_at": None},
        {"deleted": False},
        {"deleted": "yes"},
        {"deleted_at": ""},
    ],
)
def test_no_marker_means_not_deleted(fields: dict[str, object]) -> None:
    """Null, false, empty or odd markers do not mark a recording deleted."""
    assert parse_listed(item(**fields)).deleted is False


def test_detail_reads_the_published_example() -> None:
    """The detail of the API reference parses, transcript and summary included."""
    body = detail(
        title="Team Standup",
        description="Weekly sync",
        transcript=[
            {"speaker": "Alice", "text": "Let's go.", "start": 0.0, "end": 3.5},
        ],
        summary={"markdown": "## Key Decisions\n\n..."},
    )

    parsed = parse_detail(body)

    assert parsed.id == "rec_1"
    assert parsed.listed.title == "Team Standup"
    assert parsed.description == "Weekly sync"
    assert parsed.transcript == (TranscriptSegment("Alice", "Let's go.", 0.0, 3.5),)
    assert parsed.transcript_text == "Let's go."
    assert parsed.summary_markdown == "## Key Decisions\n\n..."
    assert parsed.action_items is None
    assert parsed.raw == body


def test_detail_refuses_what_the_listing_refuses() -> None:
    """A detail body without an id raises PayloadError."""
    with pytest.raises(PayloadError):
        parse_detail({"created_at": CREATED})


@pytest.mark.parametrize("description", [None, 3, ["a"]])
def test_detail_reads_a_wrong_typed_description_as_absent(description: object) -> None:
    """A description that is null or not a string is None."""
    assert parse_detail(detail(description=description)).description is None


@pytest.mark.parametrize("transcript", [None, "plain words", 12, True])
def test_transcript_missing_or_wrong_typed_is_not_yet_available(
    transcript: object,
) -> None:
    """A transcript that is null or of another type reads as not available."""
    parsed = parse_detail(detail(transcript=transcript))

    assert parsed.transcript is None
    assert parsed.transcript_text is None


def test_transcript_absent_is_not_yet_available() -> None:
    """A body without a transcript field has transcript None."""
    parsed = parse_detail(detail())

    assert parsed.transcript is None
    assert parsed.transcript_text is None


def test_transcript_as_a_list_joins_its_texts() -> None:
    """A list transcript's text is the segments' texts joined by newlines."""
    segments = [
        {"speaker": "A", "text": "Hello", "start": 0, "end": 1.5},
        {"speaker": "B", "text": GREETING, "start": 1.5, "end": 3},
    ]

    parsed = parse_detail(detail(transcript=segments))

    assert parsed.transcript == (
        TranscriptSegment("A", "Hello", 0.0, 1.5),
        TranscriptSegment("B", GREETING, 1.5, 3.0),
    )
    assert parsed.transcript_text == f"Hello\n{GREETING}"


def test_transcript_as_an_object_uses_its_plain_text() -> None:
    """An object transcript's own text wins over the joined segments."""
    transcript = {
        "segments": [{"speaker": "A", "text": "Hi"}, {"speaker": "B", "text": "Yo"}],
        "text": "A: Hi\nB: Yo",
    }

    parsed = parse_detail(detail(transcript=transcript))

    assert parsed.transcript is not None
    assert [segment.text for segment in parsed.transcript] == ["Hi", "Yo"]
    assert parsed.transcript_text == "A: Hi\nB: Yo"


def test_transcript_object_without_text_joins_its_segments() -> None:
    """An object transcript with no plain text gets the joined segment texts."""
    transcript = {"segments": [{"text": "one"}, {"text": "two"}], "text": None}

    assert parse_detail(detail(transcript=transcript)).transcript_text == "one\ntwo"


def test_transcript_object_with_only_text_has_no_segments() -> None:
    """An object transcript with text but no segments list has zero segments."""
    parsed = parse_detail(detail(transcript={"text": "all in one"}))

    assert parsed.transcript == ()
    assert parsed.transcript_text == "all in one"


@pytest.mark.parametrize("transcript", [[], {"segments": [], "text": ""}])
def test_empty_transcript_is_available_but_has_no_text(transcript: object) -> None:
    """An empty transcript is an empty tuple, not None, and has no text."""
    parsed = parse_detail(detail(transcript=transcript))

    assert parsed.transcript == ()
    assert parsed.transcript_text is None


def test_segments_that_are_not_objects_are_skipped() -> None:
    """Strings, numbers and nulls among the segments are left out."""
    segments = ["stray", None, 3, {"speaker": "A", "text": "kept"}]

    parsed = parse_detail(detail(transcript=segments))

    assert parsed.transcript == (TranscriptSegment("A", "kept", None, None),)


@pytest.mark.parametrize(
    ("speaker", "expected"),
    [
        ("Alice", "Alice"),
        ({"name": "Bo", "id": "spk_1"}, "Bo"),
        ({"display_name": "Cy"}, "Cy"),
        ({"id": "spk_2"}, None),
        (None, None),
        (4, None),
    ],
)
def test_segment_speaker_as_a_string_or_an_object(
    speaker: object, expected: str | None
) -> None:
    """A speaker is a name, or an object whose name/display_name is taken."""
    parsed = parse_detail(detail(transcript=[{"speaker": speaker, "text": "x"}]))

    assert parsed.transcript is not None
    assert parsed.transcript[0].speaker == expected


@pytest.mark.parametrize("text", [None, 12, ["x"]])
def test_segment_text_missing_or_wrong_typed_is_empty(text: object) -> None:
    """A segment's text that is null, absent or not a string reads as ''."""
    parsed = parse_detail(detail(transcript=[{"speaker": "A", "text": text}, {}]))

    assert parsed.transcript is not None
    assert [segment.text for segment in parsed.transcript] == ["", ""]


def test_segment_times_accept_ints_floats_and_strings() -> None:
    """Segment start and end are ints, floats or numeric strings; bools are absent."""
    segments = [
        {"text": "a", "start": 1, "end": "2.5"},
        {"text": "b", "start": True, "end": "later"},
    ]

    parsed = parse_detail(detail(transcript=segments))

    assert parsed.transcript == (
        TranscriptSegment(None, "a", 1.0, 2.5),
        TranscriptSegment(None, "b", None, None),
    )


@pytest.mark.parametrize(
    ("summary", "expected"),
    [
        ({"markdown": "# One"}, "# One"),
        ("plain summary", "plain summary"),
        (
            {"overview": {"markdown": "# A"}, "decisions": {"markdown": "# B"}},
            "# A\n\n# B",
        ),
        ({"overview": "# A", "next": {"markdown": "# C"}}, "# A\n\n# C"),
        ({"overview": {"markdown": "# A"}, "broken": 3, "empty": {}}, "# A"),
        ({"markdown": None}, None),
        (None, None),
        (["# A"], None),
        (5, None),
    ],
)
def test_summary_in_every_shape(summary: object, expected: str | None) -> None:
    """A summary is {markdown}, a map of named summaries, or a plain string."""
    assert parse_detail(detail(summary=summary)).summary_markdown == expected


def test_summary_absent_is_none() -> None:
    """A body without a summary has summary_markdown None."""
    assert parse_detail(detail()).summary_markdown is None


def test_action_items_keep_each_item_whole() -> None:
    """Each action item is kept as raw, with text from text/title/task/label."""
    items: list[Any] = [
        {"text": "Send notes"},
        {"task": "Book room", "assignee": "usr_1"},
        {
            "label": "Ship",
            "priority": "high",
            "dueDate": "2026-04-01",
            "status": "open",
        },
        {"title": "Review", "text": 3},
        {"assignee": "usr_2"},
        "Call back",
    ]

    parsed = parse_detail(detail(action_items=items))

    assert parsed.action_items == (
        ActionItem("Send notes", items[0]),
        ActionItem("Book room", items[1]),
        ActionItem("Ship", items[2]),
        ActionItem("Review", items[3]),
        ActionItem(None, items[4]),
        ActionItem("Call back", {"text": "Call back"}),
    )


def test_action_item_text_follows_the_key_order() -> None:
    """With several text keys present, text beats title beats task beats label."""
    items = [
        {"label": "d", "task": "c", "title": "b", "text": "a"},
        {"label": "d", "task": "c"},
    ]

    parsed = parse_detail(detail(action_items=items))

    assert parsed.action_items is not None
    assert [action.text for action in parsed.action_items] == ["a", "c"]


def test_action_items_that_are_neither_objects_nor_strings_are_skipped() -> None:
    """Numbers, nulls and lists among the action items are left out."""
    parsed = parse_detail(detail(action_items=[None, 1, ["x"], {"text": "ok"}]))

    assert parsed.action_items == (ActionItem("ok", {"text": "ok"}),)


@pytest.mark.parametrize("action_items", [None, "do it", {"text": "x"}])
def test_action_items_missing_or_wrong_typed_are_none(action_items: object) -> None:
    """Action items that are null or not a list read as not available."""
    assert parse_detail(detail(action_items=action_items)).action_items is None


def test_empty_action_items_are_an_empty_tuple() -> None:
    """An empty action item list is available and empty, not None."""
    assert parse_detail(detail(action_items=[])).action_items == ()


def test_page_reads_the_published_example() -> None:
    """A page's recordings, next cursor and total are read."""
    body = {
        "recordings": [item(id="rec_a"), item(id="rec_b")],
        "pagination": {"page": 1, "limit": 10, "total": 42, "next_cursor": "eyJpZCI6"},
    }

    page = parse_page(body, number=3, cursor="prev")

    assert [recording.id for recording in page.recordings] == ["rec_a", "rec_b"]
    assert page.next_cursor == "eyJpZCI6"
    assert page.total == 42
    assert page.number == 3
    assert page.cursor == "prev"
    assert page.skipped == ()


@pytest.mark.parametrize(
    "pagination",
    [{"next_cursor": None}, {"next_cursor": ""}, {"total": 2}, None],
)
def test_page_without_next_cursor_is_the_last(pagination: object) -> None:
    """A next_cursor that is null, empty or absent ends the listing."""
    body: dict[str, object] = {"recordings": []}
    if pagination is not None:
        body["pagination"] = pagination

    assert parse_page(body, number=1, cursor=None).next_cursor is None


def test_page_reads_a_top_level_next_cursor() -> None:
    """A next_cursor beside the recordings, outside pagination, is followed too."""
    body = {"recordings": [], "next_cursor": "abc"}

    assert parse_page(body, number=1, cursor=None).next_cursor == "abc"


def test_page_refuses_a_next_cursor_of_another_type() -> None:
    """A non-string next_cursor raises, rather than reading as the last page."""
    body = {"recordings": [], "pagination": {"next_cursor": 7}}

    with pytest.raises(PayloadError, match="next_cursor"):
        parse_page(body, number=1, cursor=None)


@pytest.mark.parametrize("total", ["42", True, None, 4.5])
def test_page_total_of_another_type_is_none(total: object) -> None:
    """A total that is not an integer is None."""
    body = {"recordings": [], "pagination": {"total": total}}

    assert parse_page(body, number=1, cursor=None).total is None


@pytest.mark.parametrize(
    "body",
    [None, [], "text", {"items": []}, {"recordings": None}, {"recordings": {"a": 1}}],
)
def test_page_without_a_recordings_list_is_refused(body: object) -> None:
    """A body that is not an object with a recordings list raises PayloadError."""
    with pytest.raises(PayloadError):
        parse_page(body, number=1, cursor=None)


def test_page_refuses_a_pagination_of_another_type() -> None:
    """A pagination that is not an object raises PayloadError."""
    with pytest.raises(PayloadError, match="pagination"):
        parse_page({"recordings": [], "pagination": [1]}, number=1, cursor=None)


def test_page_skips_bad_items_with_a_reason() -> None:
    """Items without an id or created_at are skipped, each with a reason."""
    body = {
        "recordings": [
            item(id="rec_a"),
            "rec_b",
            {"created_at": CREATED},
            item(id="rec_c", created_at="soon"),
            item(id="rec_d"),
        ]
    }

    page = parse_page(body, number=1, cursor=None)

    assert [recording.id for recording in page.recordings] == ["rec_a", "rec_d"]
    assert page.skipped == (
        "item 2: the recording is not a JSON object",
        "item 3: the recording has no string id",
        "item 4: the recording has no parseable created_at",
    )
