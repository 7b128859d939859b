"""A hostile service: broken bodies, broken pagination, a broken network.

Each test asserts the two promises: nothing the mirror holds is lost, and
nothing is marked deleted that was not.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from structlog.testing import capture_logs

from mirror.emulator import Emulator, Fault
from mirror.errors import (
    ApiUnreachable,
    BadRequest,
    MalformedResponse,
    PaginationFault,
    SweepIncomplete,
)
from mirror.store.database import Database
from tests.mirror_state import assert_mirror_equals, held
from tests.test_backfill import TOKEN, backfill


def first_page(emulator: Emulator) -> dict[str, Any]:
    """The emulator's real first page, to be tampered with."""
    response = httpx.get(
        f"{emulator.url}/api/v1/organization/{emulator.org_id}/recordings",
        params={"limit": 100},
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    emulator.requests.reset()
    body: dict[str, Any] = response.json()
    return body


def served(body: dict[str, Any]) -> Fault:
    return Fault(
        status=200, body=json.dumps(body).encode(), content_type="application/json"
    )


def nothing_deleted(database: Database) -> bool:
    return all(row["deletion"] is None for row in held(database).values())


@pytest.mark.parametrize(
    "fault",
    [
        Fault(status=200, body=b'{"recordings": [', content_type="application/json"),
        Fault(
            status=200,
            body=b"<html><body>Bad gateway</body></html>",
            content_type="text/html",
        ),
        Fault(status=200, body=b"", content_type="application/json"),
        Fault(truncate=True),
        Fault(
            status=502, body=b"<html>upstream error</html>", content_type="text/html"
        ),
    ],
    ids=["invalid-json", "html-page", "empty-200", "cut-off", "html-502"],
)
def test_broken_bodies_are_retried_and_the_mirror_ends_equal(
    emulator: Emulator, sqlite_database: Database, fault: Fault
) -> None:
    """A broken body now and then is retried; the mirror still ends equal."""
    emulator.generate(250)
    emulator.inject("list", fault, count=2)
    emulator.inject("detail", fault, count=2)

    backfill(emulator, sqlite_database)

    assert_mirror_equals(sqlite_database, emulator)


def test_a_body_that_stays_broken_fails_without_deleting(
    emulator: Emulator, sqlite_database: Database
) -> None:
    """A listing that is never readable fails the run and marks nothing."""
    ids = emulator.generate(50)
    backfill(emulator, sqlite_database)
    emulator.hard_delete(ids[0])
    emulator.inject("list", Fault(status=200, body=b"{oops"), count=100)

    with pytest.raises(MalformedResponse):
        backfill(emulator, sqlite_database)

    assert nothing_deleted(sqlite_database)
    assert len(held(sqlite_database)) == 50


def test_items_without_an_id_or_with_wrong_types_are_skipped_safely(
    emulator: Emulator, sqlite_database: Database
) -> None:
    """Unreadable items are skipped, the rest saved, and no delete inferred."""
    ids = emulator.generate(40)
    backfill(emulator, sqlite_database)
    emulator.hard_delete(ids[0])
    page = first_page(emulator)
    page["recordings"].append({"title": "no id at all"})
    page["recordings"][0]["duration"] = "not a number"
    page["recordings"][1]["tags"] = "not a list"
    emulator.inject("list", served(page))

    with pytest.raises(SweepIncomplete):
        backfill(emulator, sqlite_database)

    assert nothing_deleted(sqlite_database)
    assert len(held(sqlite_database)) == 40


def test_odd_segments_and_a_huge_transcript_are_kept_as_given(
    emulator: Emulator, database: Database
) -> None:
    """A segment ending before it starts, and 50,000 segments, are mirrored whole."""
    from mirror.emulator import Segment

    ids = emulator.generate(3)
    emulator.edit(ids[0], transcript=[Segment("Ana", "backwards", 12.5, 3)])
    emulator.edit(
        ids[1],
        transcript=[
            Segment(f"S{i % 7}", f"line {i}", i, i + 0.5) for i in range(50_000)
        ],
    )

    backfill(emulator, database)

    state = held(database)
    assert state[ids[0]]["segments"] == [("Ana", "backwards", 12.5, 3.0)]
    assert len(state[ids[1]]["segments"]) == 50_000
    assert_mirror_equals(database, emulator)


def test_repeated_cursor_stops_the_listing_without_deleting(
    emulator: Emulator, sqlite_database: Database
) -> None:
    """A cursor that repeats ends the run with an error, not a loop, and no delete."""
    ids = emulator.generate(350)
    backfill(emulator, sqlite_database)
    emulator.hard_delete(ids[-1])
    emulator.behaviour.pagination_fault = "repeat_cursor"

    with pytest.raises(PaginationFault):
        backfill(emulator, sqlite_database)

    assert nothing_deleted(sqlite_database)
    assert emulator.requests.count("list") < 10


def test_page_of_repeated_ids_stops_the_listing_without_deleting(
    emulator: Emulator, sqlite_database: Database
) -> None:
    """A page that repeats the ids of the page before is a fault: no delete."""
    ids = emulator.generate(350)
    backfill(emulator, sqlite_database)
    emulator.hard_delete(ids[-1])
    emulator.behaviour.pagination_fault = "repeat_ids"

    with pytest.raises(PaginationFault):
        backfill(emulator, sqlite_database)

    assert nothing_deleted(sqlite_database)


def test_cursor_refused_mid_listing_fails_then_next_run_completes(
    emulator: Emulator, sqlite_database: Database
) -> None:
    """A cursor refused half way fails the run; the next run finishes the job."""
    emulator.generate(350)

    def refuse_page_three(number: int) -> None:
        if number == 3:
            emulator.inject("list", Fault(status=400))

    emulator.before_list_page = refuse_page_three
    with pytest.raises(BadRequest):
        backfill(emulator, sqlite_database)
    assert 100 <= len(held(sqlite_database)) < 350

    emulator.before_list_page = None
    backfill(emulator, sqlite_database)
    assert_mirror_equals(sqlite_database, emulator)


def test_a_lying_total_changes_nothing(
    emulator: Emulator, sqlite_database: Database
) -> None:
    """`pagination.total` is never trusted: a wrong one changes nothing."""
    emulator.generate(230)
    emulator.behaviour.total_lies = True

    backfill(emulator, sqlite_database)

    assert_mirror_equals(sqlite_database, emulator)


@pytest.mark.parametrize(
    "fault",
    [Fault(delay_seconds=3), Fault(drop=True), Fault(trickle_seconds=0.5)],
    ids=["timeout", "reset", "trickle"],
)
def test_network_faults_are_survived(
    emulator: Emulator, sqlite_database: Database, fault: Fault
) -> None:
    """Timeouts, resets and trickling responses end in an equal mirror."""
    emulator.generate(120)
    emulator.inject("detail", fault, count=3)
    emulator.inject("list", fault, count=1)

    backfill(emulator, sqlite_database, timeout=1.0)

    assert_mirror_equals(sqlite_database, emulator)


def test_persistent_timeouts_fail_clearly(
    emulator: Emulator, sqlite_database: Database
) -> None:
    """A service that never answers in time ends in ApiUnreachable."""
    emulator.generate(5)
    emulator.inject("list", Fault(delay_seconds=2), count=50)

    with pytest.raises(ApiUnreachable):
        backfill(emulator, sqlite_database, timeout=0.3, attempts=2)


def test_huge_retry_after_is_capped_and_logged(
    emulator: Emulator, sqlite_database: Database
) -> None:
    """A Retry-After of a day is capped at the configured maximum, and logged."""
    emulator.generate(10)
    emulator.inject("list", Fault(status=429, headers={"Retry-After": "86400"}))

    with capture_logs() as events:
        backfill(emulator, sqlite_database)

    capped = [e for e in events if e["event"] == "api.retry_after_capped"]
    assert capped and capped[0]["asked_s"] == 86400
    assert capped[0]["wait_s"] <= 120
    assert_mirror_equals(sqlite_database, emulator)
