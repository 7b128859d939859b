"""The emulator answers as the API notes describe, over a real socket."""

from __future__ import annotations

import datetime as dt
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from mirror.emulator import (
    DROPPED,
    Behaviour,
    EmulatedRecording,
    Emulator,
    Fault,
    Segment,
    TagRef,
)
from tests.fixtures_emulator import TEST_TOKEN, EmulatorFactory

LIST = "/api/v1/organization/org_test/recordings"
INCLUDE_ALL = {"include": "transcript,summary,action_items"}


def at(text: str) -> dt.datetime:
    """An aware UTC datetime from ``YYYY-MM-DDTHH:MM:SS.mmm``."""
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)


@pytest.fixture
def client(emulator: Emulator) -> Iterator[httpx.Client]:
    """A keep-alive client of the fixture emulator, with the right token."""
    headers = {"Authorization": f"Bearer {TEST_TOKEN}"}
    with httpx.Client(base_url=emulator.url, headers=headers, timeout=5) as http:
        yield http


def walk(client: httpx.Client, **params: Any) -> list[dict[str, Any]]:
    """Every item of a listing, following cursors to the end."""
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = dict(params, **({"cursor": cursor} if cursor else {}))
        page = client.get(LIST, params=query).json()
        items.extend(page["recordings"])
        cursor = page["pagination"].get("next_cursor")
        if not cursor:
            return items


def listed_ids(client: httpx.Client, **params: Any) -> list[str]:
    """The ids of a whole listing, in the order served."""
    params.setdefault("limit", 100)
    return [item["id"] for item in walk(client, **params)]


def detail(client: httpx.Client, recording_id: str) -> httpx.Response:
    """GET one recording with every part included."""
    return client.get(f"{LIST}/{recording_id}", params=INCLUDE_ALL)


# Listing


def test_cursor_walk_lists_every_recording_exactly_once(
    emulator: Emulator, client: httpx.Client
) -> None:
    """Following next_cursor serves each recording once, newest first."""
    emulator.generate(537)

    items = walk(client, limit=50)

    ids = [item["id"] for item in items]
    assert len(ids) == len(set(ids)) == 537
    expected = sorted(
        emulator.recordings.values(), key=lambda r: (-r.created_at.timestamp(), r.id)
    )
    assert ids == [record.id for record in expected]


def test_offset_pages_list_every_recording_exactly_once(
    emulator: Emulator, client: httpx.Client
) -> None:
    """``page=N`` serves the same order as the cursors, page by page."""
    emulator.generate(95)

    ids: list[str] = []
    for number in range(1, 6):
        page = client.get(LIST, params={"page": number, "limit": 20}).json()
        assert page["pagination"]["page"] == number
        ids.extend(item["id"] for item in page["recordings"])

    assert ids == listed_ids(client)
    assert len(ids) == 95


def test_last_page_cursor_is_null_or_absent(
    emulator: Emulator, client: httpx.Client
) -> None:
    """The last page sends next_cursor null, or leaves it out when so switched."""
    emulator.generate(3)

    assert client.get(LIST).json()["pagination"]["next_cursor"] is None
    emulator.behaviour.omit_null_cursor = True
    assert "next_cursor" not in client.get(LIST).json()["pagination"]


def test_default_limit_is_20(emulator: Emulator, client: httpx.Client) -> None:
    """Without ``limit`` a page holds 20 recordings."""
    emulator.generate(30)

    page = client.get(LIST).json()

    assert len(page["recordings"]) == 20
    assert page["pagination"]["limit"] == 20
    assert page["pagination"]["total"] == 30


def test_limit_over_100_is_cut_or_refused(
    emulator: Emulator, client: httpx.Client
) -> None:
    """A limit over 100 serves 100, or answers 400 in ``refuse`` mode."""
    emulator.generate(150)

    page = client.get(LIST, params={"limit": 500}).json()
    assert len(page["recordings"]) == 100
    assert page["pagination"]["limit"] == 100

    emulator.behaviour.limit_over_100 = "refuse"
    assert client.get(LIST, params={"limit": 101}).status_code == 400
    assert client.get(LIST, params={"limit": 100}).status_code == 200


@pytest.mark.parametrize(
    "params",
    [
        {"limit": "0"},
        {"limit": "ten"},
        {"limit": "-5"},
        {"page": "0"},
        {"date": "2026-13-01"},
        {"date": "20260101"},
        {"startDate": "yesterday"},
        {"tagMode": "some"},
        {"cursor": "not-a-cursor"},
        {"cursor": "eyJ4IjoxfQ"},
        {"page": "2", "cursor": "eyJ0IjoxLCJpIjoicmVjIiwicCI6Mn0"},
    ],
)
def test_bad_list_parameters_answer_400(
    client: httpx.Client, params: dict[str, str]
) -> None:
    """Bad limits, pages, dates, tag modes and cursors, and page with cursor."""
    response = client.get(LIST, params=params)

    assert response.status_code == 400
    assert "error" in response.json()


def test_date_filters_are_inclusive_utc_days(
    emulator: Emulator, client: httpx.Client
) -> None:
    """date, startDate and endDate select whole UTC days, edges included."""
    before = emulator.new_recording(created_at=at("2026-03-09T23:59:59.999"))
    first = emulator.new_recording(created_at=at("2026-03-10T00:00:00.000"))
    last = emulator.new_recording(created_at=at("2026-03-10T23:59:59.999"))
    after = emulator.new_recording(created_at=at("2026-03-11T00:00:00.000"))

    assert listed_ids(client, date="2026-03-10") == [last.id, first.id]
    assert listed_ids(client, startDate="2026-03-10") == [after.id, last.id, first.id]
    assert listed_ids(client, endDate="2026-03-10") == [last.id, first.id, before.id]
    window = {"startDate": "2026-03-09", "endDate": "2026-03-09"}
    assert listed_ids(client, **window) == [before.id]
    assert listed_ids(client, startDate="2026-03-12") == []


def test_created_at_is_sent_with_milliseconds_and_z(
    emulator: Emulator, client: httpx.Client
) -> None:
    """created_at reads YYYY-MM-DDTHH:MM:SS.mmmZ."""
    emulator.new_recording(created_at=at("2026-03-10T00:00:00.000"))

    item = client.get(LIST).json()["recordings"][0]

    assert item["created_at"] == "2026-03-10T00:00:00.000Z"


def test_tag_and_recorder_filters(emulator: Emulator, client: httpx.Client) -> None:
    """tagIds with tagMode any or all, recordedBy and recordedByEmail filter."""
    red, blue = TagRef("tag_red", "Red", "#f00"), TagRef("tag_blue", "Blue", None)
    both = emulator.new_recording(tags=[red, blue])
    only_red = emulator.new_recording(tags=[red])
    emulator.new_recording(tags=None)

    any_ids = listed_ids(client, tagIds="tag_red,tag_blue")
    assert set(any_ids) == {both.id, only_red.id}
    all_ids = listed_ids(client, tagIds="tag_red,tag_blue", tagMode="all")
    assert all_ids == [both.id]

    user = both.recorder
    mine = {r.id for r in emulator.recordings.values() if r.recorder == user}
    assert set(listed_ids(client, recordedBy=user.user_id)) == mine
    by_email = listed_ids(client, recordedByEmail=user.email.upper())
    assert set(by_email) == mine


def test_total_is_true_or_a_lie(emulator: Emulator, client: httpx.Client) -> None:
    """pagination.total counts the listing, or is wrong with ``total_lies``."""
    emulator.generate(40)

    assert client.get(LIST).json()["pagination"]["total"] == 40
    emulator.behaviour.total_lies = True
    assert client.get(LIST).json()["pagination"]["total"] != 40


def test_repeat_cursor_fault_sends_the_same_cursor_again(
    emulator: Emulator, client: httpx.Client
) -> None:
    """With ``repeat_cursor`` page 2's next_cursor is the cursor it was asked with."""
    emulator.generate(100)
    emulator.behaviour.pagination_fault = "repeat_cursor"

    first = client.get(LIST, params={"limit": 10}).json()
    cursor = first["pagination"]["next_cursor"]
    second = client.get(LIST, params={"limit": 10, "cursor": cursor}).json()

    assert second["pagination"]["next_cursor"] == cursor


def test_repeat_ids_fault_serves_page_one_again(
    emulator: Emulator, client: httpx.Client
) -> None:
    """With ``repeat_ids`` page 2 holds page 1's items."""
    emulator.generate(100)
    emulator.behaviour.pagination_fault = "repeat_ids"

    first = client.get(LIST, params={"limit": 10}).json()
    cursor = first["pagination"]["next_cursor"]
    second = client.get(LIST, params={"limit": 10, "cursor": cursor}).json()

    assert second["recordings"] == first["recordings"]
    assert second["pagination"]["next_cursor"] not in (None, cursor)


def test_before_list_page_runs_before_each_page(
    emulator: Emulator, client: httpx.Client
) -> None:
    """The hook sees each page number and its changes show in that page."""
    emulator.generate(30)
    seen: list[int] = []
    newest: list[str] = []

    def hook(number: int) -> None:
        seen.append(number)
        if number == 2:
            newest.append(emulator.new_recording().id)

    emulator.before_list_page = hook
    ids = listed_ids(client, limit=10)

    assert seen == [1, 2, 3]
    assert len(ids) == 30
    assert newest[0] not in ids


def test_listing_of_100000_recordings_pages_quickly(emulator: Emulator) -> None:
    """Deep cursor pages of 100,000 recordings cost no more than the first."""
    emulator.generate(100_000)
    emulator.soft_delete(next(iter(emulator.recordings)))
    headers = {"Authorization": f"Bearer {TEST_TOKEN}"}

    with httpx.Client(base_url=emulator.url, headers=headers, timeout=10) as http:
        http.get(LIST, params={"limit": 100})
        started = time.perf_counter()
        cursor = None
        for _ in range(50):
            query = {"limit": 100, **({"cursor": cursor} if cursor else {})}
            page = http.get(LIST, params=query).json()
            cursor = page["pagination"]["next_cursor"]
        elapsed = time.perf_counter() - started

    assert page["pagination"]["total"] == 99_999
    assert elapsed < 5


# Soft and hard deletes


@pytest.mark.parametrize(
    ("mode", "listed", "status", "marker"),
    [
        ("hidden_404", False, 404, None),
        ("hidden_410", False, 410, None),
        ("hidden_marker", False, 200, "deleted_at"),
        ("hidden_flag", False, 200, "deleted"),
        ("listed_marker", True, 200, "deleted_at"),
        ("listed_flag", True, 200, "deleted"),
    ],
)
def test_soft_delete_modes(
    emulator: Emulator,
    client: httpx.Client,
    mode: Any,
    listed: bool,
    status: int,
    marker: str | None,
) -> None:
    """Each soft-delete mode hides or marks the recording as described."""
    emulator.behaviour.soft_delete = mode
    live, gone = emulator.new_recording(), emulator.new_recording()
    emulator.soft_delete(gone.id)

    items = {item["id"]: item for item in walk(client)}
    response = detail(client, gone.id)

    assert (gone.id in items) is listed
    assert response.status_code == status
    if marker == "deleted_at":
        assert response.json()["deleted_at"].endswith("Z")
        assert items[live.id]["deleted_at"] is None
    if marker == "deleted":
        assert response.json()["deleted"] is True
        assert items[live.id]["deleted"] is False
    if listed and marker == "deleted_at":
        assert items[gone.id]["deleted_at"] is not None


def test_restore_brings_a_soft_deleted_recording_back(
    emulator: Emulator, client: httpx.Client
) -> None:
    """A restored recording is listed and fetched again."""
    record = emulator.new_recording()
    emulator.soft_delete(record.id)
    assert listed_ids(client) == []

    emulator.restore(record.id)

    assert listed_ids(client) == [record.id]
    assert detail(client, record.id).status_code == 200


@pytest.mark.parametrize("mode", ["hidden_marker", "listed_flag"])
def test_hard_deleted_recording_is_gone_and_404(
    emulator: Emulator, client: httpx.Client, mode: Any
) -> None:
    """A hard delete removes the recording from listing and GET in every mode."""
    emulator.behaviour.soft_delete = mode
    record = emulator.new_recording()

    emulator.hard_delete(record.id)

    assert listed_ids(client) == []
    assert detail(client, record.id).status_code == 404
    assert record.id not in emulator.recordings


# Auth and errors


def test_wrong_or_missing_token_answers_401(
    emulator: Emulator, client: httpx.Client
) -> None:
    """Any token but the emulator's is refused."""
    wrong = {"Authorization": "Bearer pk_wrong"}

    assert client.get(LIST, headers=wrong).status_code == 401
    assert httpx.get(emulator.url + LIST).status_code == 401


def test_other_organizations_answer_403_or_404(
    emulator: Emulator, client: httpx.Client
) -> None:
    """A foreign organization is forbidden, an unknown one not found."""
    emulator.foreign_orgs.add("org_other")

    foreign = client.get("/api/v1/organization/org_other/recordings")
    unknown = client.get("/api/v1/organization/org_nope/recordings")

    assert foreign.status_code == 403
    assert unknown.status_code == 404


def test_unknown_recording_and_path_answer_404(client: httpx.Client) -> None:
    """GET of an id that never existed, or of another path, is 404."""
    assert detail(client, "rec_000000000000").status_code == 404
    assert client.get("/api/v1/elsewhere").status_code == 404


def test_viewer_may_read_but_not_update_or_delete(
    make_emulator: EmulatorFactory,
) -> None:
    """PUT and DELETE need the admin role."""
    emulator = make_emulator(role="viewer")
    record = emulator.new_recording()
    headers = {"Authorization": f"Bearer {TEST_TOKEN}"}

    with httpx.Client(base_url=emulator.url, headers=headers) as http:
        read = http.get(f"{LIST}/{record.id}")
        update = http.put(f"{LIST}/{record.id}", json={"title": "x"})
        delete = http.delete(f"{LIST}/{record.id}")

    assert (read.status_code, update.status_code, delete.status_code) == (
        200,
        403,
        403,
    )
    assert not record.deleted


@pytest.mark.parametrize(
    ("style", "content_type", "sample"),
    [
        ("json", "application/json", b'{"error":'),
        ("html", "text/html", b"<!DOCTYPE html>"),
        ("text", "text/plain", b"recording not found"),
    ],
)
def test_error_body_styles(
    emulator: Emulator,
    client: httpx.Client,
    style: Any,
    content_type: str,
    sample: bytes,
) -> None:
    """Error bodies come as JSON, HTML or plain text."""
    emulator.behaviour.error_body = style

    response = detail(client, "rec_000000000000")

    assert response.headers["content-type"].startswith(content_type)
    assert sample in response.content


# Updates and deletes over HTTP


def test_put_replaces_given_fields_and_bumps_updated_at(
    emulator: Emulator, client: httpx.Client
) -> None:
    """PUT replaces title, description and tags, and answers with updated_at."""
    record = emulator.new_recording(tags=[TagRef("tag_old", None, None)])
    previous = record.updated_at
    assert previous is not None

    response = client.put(
        f"{LIST}/{record.id}",
        json={"title": "Neu ✨", "tags": ["tag_meeting", "tag_new"]},
    )

    body = response.json()
    assert response.status_code == 200
    assert body["title"] == "Neu ✨"
    assert body["tags"] == ["tag_meeting", "tag_new"]
    assert body["updated_at"].endswith("Z")
    assert record.title == "Neu ✨"
    assert record.tags == [emulator.tag("tag_meeting"), TagRef("tag_new", None, None)]
    assert record.updated_at is not None and record.updated_at > previous


@pytest.mark.parametrize(
    "body",
    [{"title": 5}, {"description": None}, {"tags": "tag_a"}, {"tags": [1]}, [1]],
)
def test_put_with_wrong_types_answers_422(
    emulator: Emulator, client: httpx.Client, body: Any
) -> None:
    """Titles and descriptions must be strings, tags a list of strings."""
    record = emulator.new_recording(title="kept")

    response = client.put(f"{LIST}/{record.id}", json=body)

    assert response.status_code == 422
    assert record.title == "kept"


def test_put_with_invalid_json_answers_400(
    emulator: Emulator, client: httpx.Client
) -> None:
    """A body that is not JSON is a bad request."""
    record = emulator.new_recording()

    response = client.put(f"{LIST}/{record.id}", content=b"{title:")

    assert response.status_code == 400


def test_delete_is_soft_unless_permanent(
    emulator: Emulator, client: httpx.Client
) -> None:
    """DELETE soft-deletes; ``?permanent=true`` removes the recording for good."""
    record = emulator.new_recording()

    soft = client.delete(f"{LIST}/{record.id}")
    assert soft.json() == {"success": True}
    assert record.deleted
    hard = client.delete(f"{LIST}/{record.id}", params={"permanent": "true"})

    assert hard.json() == {"success": True}
    assert record.id not in emulator.recordings


@pytest.mark.parametrize(
    ("mode", "status"),
    [("hidden_404", 404), ("hidden_410", 410), ("hidden_flag", 200)],
)
def test_soft_deleted_recording_answers_updates_like_its_get(
    emulator: Emulator, client: httpx.Client, mode: Any, status: int
) -> None:
    """PUT and a second soft DELETE of a hidden recording answer as GET does."""
    emulator.behaviour.soft_delete = mode
    record = emulator.new_recording()
    emulator.soft_delete(record.id)

    update = client.put(f"{LIST}/{record.id}", json={"title": "x"})
    again = client.delete(f"{LIST}/{record.id}")
    purge = client.delete(f"{LIST}/{record.id}", params={"permanent": "true"})

    assert (update.status_code, again.status_code) == (status, status)
    assert purge.json() == {"success": True}
    assert record.id not in emulator.recordings


# ETags


def test_etag_earns_304_until_the_recording_changes(
    emulator: Emulator, client: httpx.Client
) -> None:
    """If-None-Match with the current ETag answers 304 with no body."""
    record = emulator.new_recording()
    first = detail(client, record.id)
    etag = first.headers["etag"]

    unchanged = client.get(
        f"{LIST}/{record.id}", params=INCLUDE_ALL, headers={"If-None-Match": etag}
    )
    emulator.edit(record.id, title="changed")
    changed = client.get(
        f"{LIST}/{record.id}", params=INCLUDE_ALL, headers={"If-None-Match": etag}
    )

    assert etag.startswith('"') and not etag.startswith("W/")
    assert unchanged.status_code == 304
    assert unchanged.content == b""
    assert changed.status_code == 200
    assert changed.headers["etag"] != etag


def test_etags_can_be_switched_off(emulator: Emulator, client: httpx.Client) -> None:
    """Without ETags, GET sends none and ignores If-None-Match."""
    emulator.behaviour.etags = False
    record = emulator.new_recording()

    response = client.get(f"{LIST}/{record.id}", headers={"If-None-Match": '"x"'})

    assert response.status_code == 200
    assert "etag" not in response.headers


# Scripted faults


def test_scripted_drop_closes_the_connection_unanswered(
    emulator: Emulator, client: httpx.Client
) -> None:
    """A drop fault gives the client a dropped connection, then service resumes."""
    emulator.inject("list", Fault(drop=True))

    with pytest.raises(httpx.RemoteProtocolError):
        client.get(LIST)

    assert client.get(LIST).status_code == 200
    assert emulator.requests.count("list", DROPPED) == 1


def test_scripted_truncate_cuts_the_body_short(
    emulator: Emulator, client: httpx.Client
) -> None:
    """A truncate fault announces more bytes than it sends."""
    emulator.generate(5)
    emulator.inject("list", Fault(truncate=True))

    with pytest.raises(httpx.RemoteProtocolError):
        client.get(LIST)

    assert client.get(LIST).status_code == 200


@pytest.mark.parametrize(
    ("fault", "status"),
    [
        (Fault(status=200, body=b'{"recordings": ['), 200),
        (Fault(status=200, body=b""), 200),
        (
            Fault(
                status=502, body=b"<html>Bad Gateway</html>", content_type="text/html"
            ),
            502,
        ),
    ],
)
def test_scripted_invalid_bodies_are_sent_as_is(
    emulator: Emulator, client: httpx.Client, fault: Fault, status: int
) -> None:
    """Scripted bodies reach the client byte for byte."""
    emulator.inject("list", fault)

    response = client.get(LIST)

    assert response.status_code == status
    assert response.content == fault.body


def test_scripted_faults_run_in_order_then_stop(
    emulator: Emulator, client: httpx.Client
) -> None:
    """``count`` repeats a fault; queued faults apply first come, first served."""
    emulator.inject("list", Fault(status=503), count=2)
    emulator.inject("list", Fault(status=429, headers={"Retry-After": "7"}))

    statuses = [client.get(LIST).status_code for _ in range(4)]
    emulator.inject("list", Fault(status=429, headers={"Retry-After": "7"}))

    assert statuses == [503, 503, 429, 200]
    assert client.get(LIST).headers["retry-after"] == "7"


def test_scripted_fault_only_hits_its_endpoint(
    emulator: Emulator, client: httpx.Client
) -> None:
    """A fault queued for detail leaves the listing alone."""
    record = emulator.new_recording()
    emulator.inject("detail", Fault(status=500))

    assert client.get(LIST).status_code == 200
    assert detail(client, record.id).status_code == 500
    assert detail(client, record.id).status_code == 200


def test_scripted_fault_with_status_does_not_apply_an_update(
    emulator: Emulator, client: httpx.Client
) -> None:
    """A faulted PUT leaves the state as it was."""
    record = emulator.new_recording(title="before")
    emulator.inject("update", Fault(status=500))

    response = client.put(f"{LIST}/{record.id}", json={"title": "after"})

    assert response.status_code == 500
    assert record.title == "before"


def test_scripted_delay_makes_a_client_time_out(
    emulator: Emulator, client: httpx.Client
) -> None:
    """A delay longer than the client's timeout ends in a read timeout."""
    emulator.inject("list", Fault(delay_seconds=0.5))

    with pytest.raises(httpx.ReadTimeout):
        client.get(LIST, timeout=0.1)

    assert client.get(LIST).status_code == 200


def test_scripted_trickle_sends_the_whole_body_slowly(
    emulator: Emulator, client: httpx.Client
) -> None:
    """A trickled body arrives complete, spread over the given time."""
    emulator.generate(5)
    expected = client.get(LIST).json()
    emulator.inject("list", Fault(trickle_seconds=0.3))

    started = time.perf_counter()
    response = client.get(LIST)

    assert time.perf_counter() - started >= 0.25
    assert response.json() == expected


def test_inject_refuses_an_unknown_endpoint(emulator: Emulator) -> None:
    """Endpoint names are list, detail, update and delete."""
    with pytest.raises(ValueError, match="unknown endpoint"):
        emulator.inject("lists", Fault(status=500))


# Random faults


def statuses_of(client: httpx.Client, count: int) -> list[int]:
    """The statuses of ``count`` list requests; 0 for a dropped connection."""
    statuses = []
    for _ in range(count):
        try:
            statuses.append(client.get(LIST).status_code)
        except httpx.RemoteProtocolError:
            statuses.append(DROPPED)
    return statuses


def faulty_statuses(make_emulator: EmulatorFactory, count: int) -> list[int]:
    """Statuses from a fresh emulator with 10% drops, 10% 429s and 20% 5xx."""
    behaviour = Behaviour(rate_drop=0.1, rate_429=0.1, rate_5xx=0.2, fault_seed=5)
    emulator = make_emulator(behaviour=behaviour)
    headers = {"Authorization": f"Bearer {TEST_TOKEN}"}
    with httpx.Client(base_url=emulator.url, headers=headers) as http:
        statuses = statuses_of(http, count)
    assert emulator.requests.count("list", DROPPED) == statuses.count(DROPPED)
    return statuses


def test_random_faults_come_at_the_given_rates(
    make_emulator: EmulatorFactory,
) -> None:
    """Drops, 429s and 5xx appear at about their rates, the same for a seed."""
    statuses = faulty_statuses(make_emulator, 600)
    repeated = faulty_statuses(make_emulator, 600)

    assert 0.05 < statuses.count(DROPPED) / 600 < 0.15
    assert 0.05 < statuses.count(429) / 600 < 0.15
    assert 0.14 < sum(status >= 500 for status in statuses) / 600 < 0.26
    assert {s for s in statuses if s >= 500} == {500, 502, 503}
    assert repeated == statuses


def test_random_faults_spare_other_endpoints(
    emulator: Emulator, client: httpx.Client
) -> None:
    """Only the endpoints in fault_endpoints get random faults."""
    record = emulator.new_recording()
    emulator.behaviour.rate_5xx = 1.0
    emulator.behaviour.fault_endpoints = {"detail"}

    assert client.get(LIST).status_code == 200
    assert detail(client, record.id).status_code >= 500
    assert client.put(f"{LIST}/{record.id}", json={}).status_code == 200


def test_random_429_sends_retry_after_in_each_form(
    emulator: Emulator, client: httpx.Client
) -> None:
    """Retry-After comes in seconds, as an HTTP date, or not at all."""
    emulator.behaviour.rate_429 = 1.0
    emulator.behaviour.retry_after_seconds = 3

    in_seconds = client.get(LIST)
    emulator.behaviour.retry_after = "date"
    as_date = client.get(LIST)
    emulator.behaviour.retry_after = "absent"
    absent = client.get(LIST)

    assert in_seconds.headers["retry-after"] == "3"
    assert as_date.headers["retry-after"].endswith(" GMT")
    assert absent.status_code == 429
    assert "retry-after" not in absent.headers


def test_latency_delays_every_answer(emulator: Emulator, client: httpx.Client) -> None:
    """latency_ms pauses before each answer."""
    emulator.behaviour.latency_ms = 100

    started = time.perf_counter()
    client.get(LIST)

    assert time.perf_counter() - started >= 0.09


# Payload shapes


def test_detail_includes_only_the_named_parts(
    emulator: Emulator, client: httpx.Client
) -> None:
    """Without include, GET sends no transcript, summary or action items."""
    record = emulator.new_recording(
        transcript=[Segment("A", "hi", 0, 1)],
        summaries={"overview": "## O"},
        action_items=[{"text": "do"}],
        segment_extra={},
    )

    bare = client.get(f"{LIST}/{record.id}").json()
    some = client.get(f"{LIST}/{record.id}", params={"include": "transcript"}).json()

    assert not {"transcript", "summary", "action_items"} & set(bare)
    assert "description" in bare or "description" in record.omitted
    assert some["transcript"] == [{"speaker": "A", "text": "hi", "start": 0, "end": 1}]
    assert "summary" not in some


def test_every_shape_switch_renders_the_canonical_data(
    emulator: Emulator, client: httpx.Client
) -> None:
    """Object tags, recorders and transcripts, and a map of summaries."""
    behaviour = emulator.behaviour
    behaviour.tag_shape, behaviour.recorder_shape = "object", "object"
    behaviour.transcript_shape, behaviour.summary_shape = "object", "map"
    record = emulator.new_recording(
        tags=[TagRef("tag_a", "A", "#fff")],
        transcript=[Segment("A", "one", 0.5, 1.5), Segment(None, "two", 2, 3)],
        summaries={"overview": "## O", "risks": "- none"},
        segment_extra={},
    )

    body = detail(client, record.id).json()

    assert body["tags"] == [{"id": "tag_a", "name": "A", "color": "#fff"}]
    assert body["recorded_by"] == record.recorder._asdict()
    assert body["transcript"]["text"] == "one\ntwo"
    assert body["transcript"]["segments"][1] == {
        "speaker": None,
        "text": "two",
        "start": 2,
        "end": 3,
    }
    assert body["summary"] == {
        "overview": {"markdown": "## O"},
        "risks": {"markdown": "- none"},
    }


def test_default_shapes_follow_the_published_reference(
    emulator: Emulator, client: httpx.Client
) -> None:
    """By default tags and recorder are ids, the summary one markdown."""
    record = emulator.new_recording(
        tags=[TagRef("tag_a", "A", None)], summaries={"a": "one", "b": "two"}
    )

    body = detail(client, record.id).json()

    assert body["tags"] == ["tag_a"]
    assert body["recorded_by"] == record.recorder.user_id
    assert body["summary"] == {"markdown": "one\n\ntwo"}


def test_mixed_shapes_send_both_forms(emulator: Emulator, client: httpx.Client) -> None:
    """In ``mixed`` mode some recordings get the rich form, some the plain one."""
    behaviour = emulator.behaviour
    behaviour.tag_shape = behaviour.recorder_shape = "mixed"
    behaviour.transcript_shape = behaviour.summary_shape = "mixed"
    emulator.generate(40)

    bodies = [detail(client, rid).json() for rid in emulator.recordings]

    def kinds(key: str) -> set[type]:
        return {type(body[key]) for body in bodies if body.get(key) is not None}

    assert kinds("recorded_by") == {str, dict}
    assert kinds("transcript") == {list, dict}
    tags = [tag for body in bodies for tag in body.get("tags") or []]
    assert {type(tag) for tag in tags} == {str, dict}
    summaries = [body["summary"] for body in bodies if body.get("summary")]
    assert any("markdown" in s for s in summaries)
    assert any("markdown" not in s for s in summaries)


def test_optional_fields_are_absent_or_null(
    emulator: Emulator, client: httpx.Client
) -> None:
    """A None optional field is left out when omitted, else sent as null."""
    absent = emulator.new_recording(
        description=None, language=None, omitted=frozenset({"description"})
    )
    null = emulator.new_recording(description=None, language=None, omitted=frozenset())

    absent_body = detail(client, absent.id).json()
    null_body = detail(client, null.id).json()

    assert "description" not in absent_body
    assert absent_body["language"] is None
    assert null_body["description"] is None


def test_extra_fields_appear_in_listing_detail_and_segments(
    emulator: Emulator, client: httpx.Client
) -> None:
    """Unknown fields of a recording and its segments are sent everywhere."""
    record = emulator.new_recording(
        extra={"folder": {"id": "fld_1"}, "title": "never wins"},
        segment_extra={"confidence": 0.5},
        transcript=[Segment("A", "hi", 0, 1)],
    )

    item = client.get(LIST).json()["recordings"][0]
    body = detail(client, record.id).json()

    assert item["folder"] == body["folder"] == {"id": "fld_1"}
    assert body["title"] == record.title
    assert body["transcript"][0]["confidence"] == 0.5


def test_unicode_round_trips_through_put_and_get(
    emulator: Emulator, client: httpx.Client
) -> None:
    """Emoji, right-to-left text, quotes and operators come back unchanged."""
    record = emulator.new_recording()
    title = 'اجتماع "AND" -x* 👩🏽‍💻 日本語 \u200f'

    client.put(f"{LIST}/{record.id}", json={"title": title, "description": "Ä\n\t"})
    body = detail(client, record.id).json()

    assert body["title"] == record.title == title
    assert body["description"] == "Ä\n\t"


# Generated data


def test_generated_data_is_deterministic_for_a_seed(
    make_emulator: EmulatorFactory,
) -> None:
    """The same seed gives the same recordings, whatever is read first."""
    one, two, other = (make_emulator(seed=s) for s in (3, 3, 4))
    ids = one.generate(30)
    assert two.generate(30) == ids
    assert other.generate(30) != ids

    backwards = [two.recordings[rid].transcript for rid in reversed(ids)]
    assert backwards[::-1] == [one.recordings[rid].transcript for rid in ids]
    for recording_id in ids:
        assert one.recordings[recording_id] == two.recordings[recording_id]


def test_serving_does_not_store_generated_parts(
    emulator: Emulator, client: httpx.Client
) -> None:
    """A served transcript is generated afresh, identical each time."""
    recording_id = emulator.generate(1)[0]
    record = emulator.recordings[recording_id]

    first = detail(client, recording_id).json()
    second = detail(client, recording_id).json()

    assert first == second
    assert not isinstance(vars(record).get("_transcript"), list)
    assert first.get("transcript") == _rendered_segments(record)


def _rendered_segments(record: EmulatedRecording) -> list[dict[str, Any]] | None:
    if record.transcript is None:
        return None
    return [
        {**record.segment_extra, **segment._asdict()} for segment in record.transcript
    ]


def test_edits_override_generated_parts(
    emulator: Emulator, client: httpx.Client
) -> None:
    """An edited transcript is served from then on and bumps updated_at."""
    recording_id = emulator.generate(1)[0]
    before = emulator.recordings[recording_id].updated_at

    record = emulator.edit(
        recording_id, transcript=[Segment("Z", "new", 1.25, 2)], segment_extra={}
    )
    body = detail(client, recording_id).json()

    transcript = body["transcript"]
    assert transcript == [{"speaker": "Z", "text": "new", "start": 1.25, "end": 2}]
    assert record.updated_at is not None and before is not None
    assert record.updated_at > before


def test_generated_data_covers_the_awkward_cases(emulator: Emulator) -> None:
    """Languages, scripts, int and float times, gaps, shapes and day edges."""
    emulator.generate(2000)
    records = list(emulator.recordings.values())

    languages = {record.language for record in records}
    assert {"English", "Deutsch", "日本語", "العربية", "Español", None} <= languages
    assert {type(record.duration) for record in records} == {int, float}
    transcripts = [record.transcript for record in records]
    assert any(transcript is None for transcript in transcripts)
    segments = [s for t in transcripts if t for s in t[:3]]
    assert {type(segment.start) for segment in segments} == {int, float}
    assert any(len({s.speaker for s in t}) > 1 for t in transcripts if t)
    texts = " ".join(s.text for s in segments) + " ".join(
        record.title or "" for record in records
    )
    for fragment in ("AND", '"', "*", " -", "🎉"):
        assert fragment in texts
    keys = {frozenset(item) for r in records for item in r.action_items or []}
    assert {frozenset({"text"}), frozenset({"task", "assignee"})} <= keys
    assert frozenset({"label", "priority", "dueDate", "assignee", "status"}) in keys
    assert any("title" in key for key in keys)
    times = {record.created_at.time() for record in records}
    assert dt.time(23, 59, 59, 999000) in times
    assert dt.time(0, 0) in times
    assert any(record.extra for record in records)
    spread = max(r.created_at for r in records) - min(r.created_at for r in records)
    assert spread > dt.timedelta(days=2 * 365)


def test_new_recording_is_created_now_unless_told(emulator: Emulator) -> None:
    """new_recording stamps the current time, or the created_at given."""
    before = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)

    fresh = emulator.new_recording(title="fresh")
    old = emulator.new_recording(created_at=at("2024-01-01T00:00:00.000"))

    assert fresh.created_at >= before
    assert fresh.title == "fresh"
    assert fresh.created_at.microsecond % 1000 == 0
    assert old.created_at == at("2024-01-01T00:00:00.000")
    with pytest.raises(TypeError):
        emulator.new_recording(colour="red")


def test_editing_created_at_moves_the_recording_in_the_listing(
    emulator: Emulator, client: httpx.Client
) -> None:
    """The listing order follows an edited created_at."""
    older = emulator.new_recording(created_at=at("2026-01-01T00:00:00.000"))
    newer = emulator.new_recording(created_at=at("2026-02-01T00:00:00.000"))

    emulator.edit(older.id, created_at=at("2026-03-01T00:00:00.000"))

    assert listed_ids(client) == [older.id, newer.id]


def test_hand_made_records_have_no_generated_parts(emulator: Emulator) -> None:
    """A record built directly has None parts unless given."""
    record = emulator.add(
        EmulatedRecording(id="rec_aaaaaaaaaaaa", created_at=at("2026-01-01T00:00:00"))
    )

    assert record.transcript is None
    assert record.summaries is None
    assert record.action_items is None


# The server


def test_request_log_counts_and_resets(
    emulator: Emulator, client: httpx.Client
) -> None:
    """Each request is logged with endpoint, method, target and status."""
    client.get(LIST, params={"limit": 5})
    detail(client, "rec_000000000000")

    assert emulator.requests.entries[0] == ("list", "GET", LIST + "?limit=5", 200)
    assert emulator.requests.count() == 2
    assert emulator.requests.count("detail", 404) == 1
    emulator.requests.reset()
    assert emulator.requests.count() == 0


def test_concurrent_keep_alive_clients_are_all_served(
    emulator: Emulator,
) -> None:
    """Sixteen threads over a pooled keep-alive client get every answer."""
    ids = emulator.generate(200)
    headers = {"Authorization": f"Bearer {TEST_TOKEN}"}
    limits = httpx.Limits(max_connections=16, max_keepalive_connections=16)
    failures: list[int] = []

    def fetch(http: httpx.Client, start: int) -> None:
        for recording_id in ids[start : start + 100]:
            status = http.get(f"{LIST}/{recording_id}").status_code
            if status != 200:
                failures.append(status)

    with httpx.Client(base_url=emulator.url, headers=headers, limits=limits) as http:
        workers = [
            threading.Thread(target=fetch, args=(http, n * 6)) for n in range(16)
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()

    assert failures == []
    assert emulator.requests.count("detail", 200) == 1600


def test_stop_closes_open_keep_alive_connections(emulator: Emulator) -> None:
    """After stop, a pooled connection does not reach a stopped emulator."""
    headers = {"Authorization": f"Bearer {TEST_TOKEN}"}
    with httpx.Client(base_url=emulator.url, headers=headers) as http:
        assert http.get(LIST).status_code == 200
        emulator.stop()

        with pytest.raises((httpx.RemoteProtocolError, httpx.ConnectError)):
            http.get(LIST)


def test_url_needs_a_started_emulator() -> None:
    """url is only known while the emulator is listening."""
    emulator = Emulator()

    with pytest.raises(RuntimeError):
        _ = emulator.url
    with emulator:
        assert emulator.url.startswith("http://127.0.0.1:")


def test_behaviour_defaults_follow_the_reference() -> None:
    """The default behaviour is the published one, with no faults."""
    behaviour = Behaviour()

    assert (behaviour.tag_shape, behaviour.recorder_shape) == ("id", "id")
    assert (behaviour.transcript_shape, behaviour.summary_shape) == (
        "list",
        "markdown",
    )
    assert behaviour.rate_5xx == behaviour.rate_429 == behaviour.rate_drop == 0
    assert set(behaviour.fault_endpoints) == {"list", "detail"}


def test_serve_runs_until_interrupted() -> None:
    """serve() logs emulator.started with its URL and stops cleanly on Ctrl-C."""
    code = "from mirror.emulator import serve; serve(port=0, recordings=3, seed=2)"
    environment = {**os.environ, "NO_COLOR": "1"}
    with subprocess.Popen(
        [sys.executable, "-c", code],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=environment,
    ) as process:
        assert process.stdout is not None
        started = ""
        for line in process.stdout:
            if "emulator.started" in line:
                started = re.sub(r"\x1b\[[0-9;]*m", "", line)
                break
        match = re.search(r"url=(\S+)", started)
        assert match is not None, "serve() never logged emulator.started"

        headers = {"Authorization": f"Bearer {TEST_TOKEN}"}
        response = httpx.get(match.group(1) + LIST, headers=headers)
        process.send_signal(signal.SIGINT)
        remaining_output = process.communicate(timeout=10)[0]

    assert response.json()["pagination"]["total"] == 3
    assert "org_id=org_test" in started
    assert process.returncode == 0
    assert "emulator.stopped" in remaining_output
