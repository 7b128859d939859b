"""The API client over HTTP, against the emulator on a loopback socket:
listing, details, errors, retries, rate adaptation, updates and deletes."""

from __future__ import annotations

import asyncio
import datetime as dt
import email.utils
import json
import time
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Any, TypeVar

import httpx
import pytest
from structlog.testing import capture_logs

from mirror import __version__
from mirror.api.client import PocketClient
from mirror.api.limiter import AdaptiveLimiter
from mirror.api.models import (
    DetailFetched,
    DetailGone,
    DetailNotModified,
    Page,
    RecordingDetail,
)
from mirror.api.retry import parse_retry_after
from mirror.emulator import EmulatedRecording, Emulator, Fault
from mirror.errors import (
    ApiError,
    ApiUnreachable,
    AuthenticationFailed,
    BadRequest,
    MalformedResponse,
    OrganizationNotFound,
    PaginationFault,
    PermissionDenied,
    RateLimited,
    ServerError,
)
from tests.fixtures_emulator import EmulatorFactory

T = TypeVar("T")

Action = Callable[[PocketClient], Awaitable[T]]


class WatchingTransport(httpx.AsyncBaseTransport):
    """The real HTTP transport, counting requests in flight and keeping each."""

    def __init__(self) -> None:
        self._inner = httpx.AsyncHTTPTransport()
        self.requests: list[httpx.Request] = []
        self.in_flight = 0
        self.most_in_flight = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            return await self._inner.handle_async_request(request)
        finally:
            self.in_flight -= 1

    async def aclose(self) -> None:
        await self._inner.aclose()


def client_for(emulator: Emulator, **options: Any) -> PocketClient:
    """A client of the emulator's organization with its token."""
    settings: dict[str, Any] = {
        "base_url": emulator.url,
        "org_id": emulator.org_id,
        "token": emulator.token,
        "timeout_seconds": 5.0,
    }
    settings.update(options)
    return PocketClient(**settings)


def with_client(emulator: Emulator, action: Action[T], **options: Any) -> T:
    """Run ``action`` with a fresh client of the emulator, then close it."""

    async def scenario() -> T:
        async with client_for(emulator, **options) as client:
            return await action(client)

    return asyncio.run(scenario())


async def all_pages(client: PocketClient, **listing: Any) -> list[Page]:
    """Every page of one listing."""
    return [page async for page in client.list_pages(**listing)]


def listed_ids(pages: list[Page]) -> list[str]:
    """The ids of every page, in listing order."""
    return [recording.id for page in pages for recording in page.recordings]


def list_targets(emulator: Emulator) -> list[str]:
    """The path and query of every list request the emulator answered."""
    return [entry[2] for entry in emulator.requests.entries if entry[0] == "list"]


def events(
    logs: Sequence[MutableMapping[str, Any]], name: str
) -> list[MutableMapping[str, Any]]:
    """The captured log events called ``name``."""
    return [entry for entry in logs if entry["event"] == name]


def fetch(emulator: Emulator, recording_id: str, **options: Any) -> Any:
    """GET one recording with a fresh client."""
    return with_client(
        emulator, lambda client: client.get_recording(recording_id), **options
    )


def expect_fetched(result: object) -> RecordingDetail:
    """The detail of a 200, failing the test on any other result."""
    assert isinstance(result, DetailFetched), result
    return result.detail


def assert_matches_canonical(
    detail: RecordingDetail, record: EmulatedRecording
) -> None:
    """The parsed detail says what the emulator's canonical record holds."""
    listed = detail.listed
    assert listed.created_at == record.created_at
    assert listed.title == record.title
    assert detail.description == record.description
    assert listed.duration_seconds == record.duration
    assert listed.language == record.language
    assert listed.recorded_by is not None
    assert listed.recorded_by.user_id == record.recorder.user_id
    assert [tag.id for tag in listed.tags] == [tag.id for tag in record.tags or []]
    assert_transcript_matches(detail, record)
    assert_summary_matches(detail, record)

    if record.action_items is None:
        assert detail.action_items is None
    else:
        assert detail.action_items is not None
        assert [item.raw for item in detail.action_items] == record.action_items


def assert_transcript_matches(
    detail: RecordingDetail, record: EmulatedRecording
) -> None:
    """Segments and plain text agree with the canonical transcript."""
    if record.transcript is None:
        assert detail.transcript is None
        return
    assert detail.transcript is not None
    got = [
        (s.speaker, s.text, s.start_seconds, s.end_seconds) for s in detail.transcript
    ]
    assert got == [(s.speaker, s.text, s.start, s.end) for s in record.transcript]
    texts = [segment.text for segment in record.transcript]
    assert detail.transcript_text == ("\n".join(texts) if texts else None)


def assert_summary_matches(detail: RecordingDetail, record: EmulatedRecording) -> None:
    """The summary markdown is the canonical summaries joined by blank lines."""
    if record.summaries is None:
        assert detail.summary_markdown is None
    else:
        assert detail.summary_markdown == "\n\n".join(record.summaries.values())


def test_listing_follows_cursors_through_every_recording(emulator: Emulator) -> None:
    """A cursor walk yields every recording once, newest first, 100 a page."""
    emulator.generate(250)

    pages = with_client(emulator, all_pages)

    ids = listed_ids(pages)
    assert sorted(ids) == sorted(emulator.recordings)
    assert len(ids) == len(set(ids)) == 250
    assert [page.number for page in pages] == [1, 2, 3]
    assert [len(page.recordings) for page in pages] == [100, 100, 50]
    assert pages[-1].next_cursor is None
    created = [recording.created_at for page in pages for recording in page.recordings]
    assert created == sorted(created, reverse=True)


def test_listing_sends_cursor_and_limit_never_page(emulator: Emulator) -> None:
    """Each page asks limit=100; later pages send the previous next_cursor."""
    emulator.generate(150)

    pages = with_client(emulator, all_pages)

    first, second = (httpx.URL(target).params for target in list_targets(emulator))
    assert dict(first) == {"limit": "100"}
    assert dict(second) == {"limit": "100", "cursor": pages[0].next_cursor}
    assert pages[1].cursor == pages[0].next_cursor


def test_listing_ends_when_next_cursor_is_absent(emulator: Emulator) -> None:
    """A last page without any next_cursor field ends the listing."""
    emulator.behaviour.omit_null_cursor = True
    emulator.generate(120)

    pages = with_client(emulator, all_pages)

    assert len(listed_ids(pages)) == 120
    assert emulator.requests.count("list") == 2


def test_listing_of_nothing_is_one_empty_page(emulator: Emulator) -> None:
    """An organization without recordings lists as one empty last page."""
    pages = with_client(emulator, all_pages)

    assert [(page.recordings, page.next_cursor) for page in pages] == [((), None)]


def test_listing_resumes_from_a_given_cursor(emulator: Emulator) -> None:
    """Listing from a page's next_cursor yields exactly the pages after it."""
    emulator.generate(230)
    pages = with_client(emulator, all_pages)

    resumed = with_client(
        emulator, lambda client: all_pages(client, cursor=pages[0].next_cursor)
    )

    assert listed_ids(resumed) == listed_ids(pages[1:])
    assert resumed[0].cursor == pages[0].next_cursor


def test_listing_sends_the_date_range_as_utc_days(emulator: Emulator) -> None:
    """startDate and endDate go as YYYY-MM-DD and bound created_at's UTC day."""
    emulator.generate(300)
    start, end = dt.date(2025, 1, 1), dt.date(2025, 6, 30)

    pages = with_client(
        emulator, lambda client: all_pages(client, start_date=start, end_date=end)
    )

    expected = {
        record.id
        for record in emulator.recordings.values()
        if start <= record.created_at.date() <= end
    }
    assert expected and set(listed_ids(pages)) == expected
    params = httpx.URL(list_targets(emulator)[0]).params
    assert (params["startDate"], params["endDate"]) == ("2025-01-01", "2025-06-30")


def test_listing_refuses_a_repeated_cursor(emulator: Emulator) -> None:
    """A next_cursor seen before raises PaginationFault instead of looping."""
    emulator.behaviour.pagination_fault = "repeat_cursor"
    emulator.generate(350)
    yielded: list[Page] = []

    async def walk(client: PocketClient) -> None:
        async for page in client.list_pages():
            yielded.append(page)

    with pytest.raises(PaginationFault) as caught:
        with_client(emulator, walk)

    assert [page.number for page in yielded] == [1, 2]
    assert emulator.requests.count("list") == 2
    assert caught.value.url is not None and "cursor=" in caught.value.url


def test_listing_refuses_a_page_of_only_repeated_ids(emulator: Emulator) -> None:
    """A page whose every id was already yielded raises PaginationFault."""
    emulator.behaviour.pagination_fault = "repeat_ids"
    emulator.generate(250)

    with pytest.raises(PaginationFault, match="page 2"):
        with_client(emulator, all_pages)

    assert emulator.requests.count("list") == 2


def test_listing_drops_ids_repeated_within_and_between_pages(
    emulator: Emulator,
) -> None:
    """Ids seen before are dropped from the later page and logged once a page."""
    created = "2026-01-01T00:00:00.000Z"
    first = {
        "recordings": [
            {"id": "a", "created_at": created},
            {"id": "b", "created_at": created},
        ],
        "pagination": {"next_cursor": "c2"},
    }
    second = {
        "recordings": [
            {"id": "b", "created_at": created},
            {"id": "c", "created_at": created},
            {"id": "c", "created_at": created},
        ],
        "pagination": {"next_cursor": None},
    }
    for body in (first, second):
        emulator.inject("list", Fault(status=200, body=json.dumps(body).encode()))

    with capture_logs() as logs:
        pages = with_client(emulator, all_pages)

    assert [[r.id for r in page.recordings] for page in pages] == [["a", "b"], ["c"]]
    [repeats] = events(logs, "api.page_repeats_ids")
    assert repeats == {
        "event": "api.page_repeats_ids",
        "log_level": "warning",
        "page": 2,
        "repeated": 2,
        "ids": ["b", "c"],
    }


def test_listing_drops_a_recording_that_moved_to_a_later_page(
    emulator: Emulator,
) -> None:
    """A recording listed on page 1 that shows up again on page 2 is yielded once."""
    emulator.generate(150)
    pages_seen: list[Page] = []
    moved: list[str] = []

    def move_one(page_number: int) -> None:
        if page_number == 2 and pages_seen:
            recording = pages_seen[0].recordings[0]
            emulator.edit(
                recording.id, created_at=dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
            )
            moved.append(recording.id)

    emulator.before_list_page = move_one

    async def walk(client: PocketClient) -> list[Page]:
        async for page in client.list_pages():
            pages_seen.append(page)
        return pages_seen

    with capture_logs() as logs:
        pages = with_client(emulator, walk)

    assert sorted(listed_ids(pages)) == sorted(emulator.recordings)
    assert [event["ids"] for event in events(logs, "api.page_repeats_ids")] == [moved]


def test_listing_reports_items_it_could_not_parse(emulator: Emulator) -> None:
    """Unusable items are skipped, named in Page.skipped and logged as a warning."""
    body = {
        "recordings": [{"id": "ok", "created_at": "2026-01-01T00:00:00Z"}, {"id": 5.5}],
        "pagination": {"next_cursor": None},
    }
    emulator.inject("list", Fault(status=200, body=json.dumps(body).encode()))

    with capture_logs() as logs:
        [page] = with_client(emulator, all_pages)

    assert [recording.id for recording in page.recordings] == ["ok"]
    assert page.skipped == ("item 2: the recording has no string id",)
    [skipped] = events(logs, "api.page_skipped_items")
    assert (skipped["page"], skipped["skipped"], skipped["log_level"]) == (
        1,
        1,
        "warning",
    )


def test_listing_logs_each_page(emulator: Emulator) -> None:
    """Each page is logged at debug with its number, count and has_next."""
    emulator.generate(101)

    with capture_logs() as logs:
        with_client(emulator, all_pages)

    assert [
        (event["page"], event["count"], event["has_next"], event["log_level"])
        for event in events(logs, "api.page_listed")
    ] == [(1, 100, True, "debug"), (2, 1, False, "debug")]


@pytest.mark.parametrize(
    "shapes",
    [
        {
            "tag_shape": "id",
            "recorder_shape": "id",
            "transcript_shape": "list",
            "summary_shape": "markdown",
        },
        {
            "tag_shape": "object",
            "recorder_shape": "object",
            "transcript_shape": "object",
            "summary_shape": "map",
        },
        {
            "tag_shape": "mixed",
            "recorder_shape": "mixed",
            "transcript_shape": "mixed",
            "summary_shape": "mixed",
        },
    ],
    ids=["plain", "rich", "mixed"],
)
def test_detail_of_every_shape_matches_the_canonical_record(
    emulator: Emulator, shapes: dict[str, str]
) -> None:
    """Every recording's detail, in each payload shape, parses to its true data."""
    for name, value in shapes.items():
        setattr(emulator.behaviour, name, value)
    ids = emulator.generate(40)

    async def fetch_all(client: PocketClient) -> list[Any]:
        return list(await asyncio.gather(*(client.get_recording(i) for i in ids)))

    results = with_client(emulator, fetch_all)

    for recording_id, result in zip(ids, results, strict=True):
        assert_matches_canonical(
            expect_fetched(result), emulator.recordings[recording_id]
        )


def test_detail_asks_for_every_part_and_keeps_unknown_fields(
    emulator: Emulator,
) -> None:
    """GET sends include=transcript,summary,action_items; extra fields stay in raw."""
    record = emulator.new_recording(extra={"folder": {"id": "fld_1"}})

    detail = expect_fetched(fetch(emulator, record.id))

    target = emulator.requests.entries[-1][2]
    assert httpx.URL(target).params["include"] == "transcript,summary,action_items"
    assert detail.raw["folder"] == {"id": "fld_1"}
    assert detail.listed.raw["folder"] == {"id": "fld_1"}


def test_detail_of_a_recording_still_processing_has_no_parts(
    emulator: Emulator,
) -> None:
    """A recording with no transcript, summary or action items yet reads as None."""
    record = emulator.new_recording(transcript=None, summaries=None, action_items=None)

    detail = expect_fetched(fetch(emulator, record.id))

    assert (detail.transcript, detail.summary_markdown, detail.action_items) == (
        None,
        None,
        None,
    )


def test_detail_with_a_current_etag_is_not_modified(emulator: Emulator) -> None:
    """A GET with the ETag it was given earns DetailNotModified and is counted."""
    record = emulator.new_recording()

    async def twice(client: PocketClient) -> tuple[Any, Any, int]:
        first = await client.get_recording(record.id)
        assert isinstance(first, DetailFetched) and first.etag
        second = await client.get_recording(record.id, etag=first.etag)
        return first, second, client.stats.not_modified

    first, second, not_modified = with_client(emulator, twice)

    assert second == DetailNotModified(record.id, first.etag)
    assert not_modified == 1
    assert emulator.requests.count("detail", status=304) == 1


def test_detail_with_a_stale_etag_is_fetched_again(emulator: Emulator) -> None:
    """After an edit, the old ETag earns a full 200 with the new data."""
    record = emulator.new_recording(title="before")
    first = fetch(emulator, record.id)
    emulator.edit(record.id, title="after")

    second = fetch_with_etag(emulator, record.id, first.etag)

    assert expect_fetched(second).listed.title == "after"
    assert second.etag != first.etag


def fetch_with_etag(emulator: Emulator, recording_id: str, etag: str) -> Any:
    """GET one recording with If-None-Match."""
    return with_client(
        emulator, lambda client: client.get_recording(recording_id, etag=etag)
    )


@pytest.mark.parametrize(("mode", "status"), [("hidden_404", 404), ("hidden_410", 410)])
def test_detail_of_a_soft_deleted_recording_is_gone(
    emulator: Emulator, mode: Any, status: int
) -> None:
    """A soft delete that GET answers with 404 or 410 reads as DetailGone."""
    emulator.behaviour.soft_delete = mode
    record = emulator.new_recording()
    emulator.soft_delete(record.id)

    assert fetch(emulator, record.id) == DetailGone(record.id, status)


@pytest.mark.parametrize("mode", ["hidden_marker", "listed_marker", "hidden_flag"])
def test_detail_of_a_soft_deleted_recording_carries_the_marker(
    emulator: Emulator, mode: Any
) -> None:
    """A soft delete that GET answers with 200 reads as a deleted detail."""
    emulator.behaviour.soft_delete = mode
    record = emulator.new_recording()
    emulator.soft_delete(record.id)

    listed = expect_fetched(fetch(emulator, record.id)).listed

    assert listed.deleted is True
    assert listed.deleted_at == (record.deleted_at if "marker" in mode else None)


def test_detail_of_a_hard_deleted_recording_is_gone_404(emulator: Emulator) -> None:
    """A recording deleted for good reads as DetailGone with 404."""
    record = emulator.new_recording()
    emulator.hard_delete(record.id)

    assert fetch(emulator, record.id) == DetailGone(record.id, 404)


def test_wrong_token_is_authentication_failed_without_the_token(
    emulator: Emulator,
) -> None:
    """A 401 raises AuthenticationFailed; the token is in no part of the error."""
    secret = "pk_wrong_secret_token"

    with pytest.raises(AuthenticationFailed) as caught:
        with_client(emulator, lambda client: client.check_access(), token=secret)

    error = caught.value
    assert error.status == 401
    assert error.detail == "invalid or missing token"
    for text in (str(error), repr(error), error.url or "", error.detail or ""):
        assert secret not in text
    assert emulator.requests.count("list") == 1


def test_token_echoed_by_the_service_is_blanked(emulator: Emulator) -> None:
    """An error body that quotes the token has it blanked in the error detail."""
    body = json.dumps({"error": f"token {emulator.token} was revoked"}).encode()
    emulator.inject("list", Fault(status=401, body=body))

    with pytest.raises(AuthenticationFailed) as caught:
        with_client(emulator, lambda client: client.check_access())

    assert caught.value.detail == "token [token] was revoked"
    assert emulator.token not in str(caught.value)


def test_client_repr_hides_the_token(emulator: Emulator) -> None:
    """repr(client) names the service and organization, never the token."""
    client = client_for(emulator)
    try:
        assert emulator.token not in repr(client)
        assert emulator.org_id in repr(client)
    finally:
        asyncio.run(client.aclose())


def test_foreign_organization_is_permission_denied(emulator: Emulator) -> None:
    """A 403 on another organization raises PermissionDenied."""
    emulator.foreign_orgs.add("org_other")

    with pytest.raises(PermissionDenied) as caught:
        with_client(emulator, all_pages, org_id="org_other")

    assert caught.value.status == 403
    assert (
        caught.value.url is not None and "/organization/org_other/" in caught.value.url
    )


def test_unknown_organization_is_organization_not_found(emulator: Emulator) -> None:
    """A 404 on the listing raises OrganizationNotFound."""
    with pytest.raises(OrganizationNotFound) as caught:
        with_client(emulator, lambda client: client.check_access(), org_id="org_nope")

    assert caught.value.status == 404
    assert "org_nope" in str(caught.value)


def test_check_access_asks_for_one_recording(emulator: Emulator) -> None:
    """check_access makes a single list request with limit=1."""
    emulator.generate(5)

    with_client(emulator, lambda client: client.check_access())

    assert list_targets(emulator) == [
        f"/api/v1/organization/{emulator.org_id}/recordings?limit=1"
    ]


@pytest.mark.parametrize(
    ("style", "detail"),
    [
        ("json", "this token may not access that organization"),
        ("html", "Error this token may not access that organization"),
        ("text", "this token may not access that organization"),
    ],
)
def test_error_detail_is_plain_text_of_any_body(
    emulator: Emulator, style: Any, detail: str
) -> None:
    """JSON, HTML and text error bodies all give a plain-text detail."""
    emulator.behaviour.error_body = style
    emulator.foreign_orgs.add("org_other")

    with pytest.raises(PermissionDenied) as caught:
        with_client(emulator, lambda client: client.check_access(), org_id="org_other")

    assert caught.value.detail == detail


def test_error_detail_is_cut_short(emulator: Emulator) -> None:
    """A long error body is cut to at most 200 characters of detail."""
    emulator.inject(
        "list", Fault(status=400, body=b"spam " * 500, content_type="text/plain")
    )

    with pytest.raises(BadRequest) as caught:
        with_client(emulator, lambda client: client.check_access())

    assert caught.value.detail is not None
    assert 100 < len(caught.value.detail) <= 200


@pytest.mark.parametrize("limit", [0, -5])
def test_refused_parameters_are_bad_request(emulator: Emulator, limit: int) -> None:
    """A 400 on the listing raises BadRequest at once, with no retry."""
    with pytest.raises(BadRequest) as caught:
        with_client(emulator, lambda client: all_pages(client, limit=limit))

    assert caught.value.status == 400
    assert emulator.requests.count("list") == 1


def test_limit_over_100_refused_is_bad_request(emulator: Emulator) -> None:
    """A service that refuses a limit over 100 makes BadRequest."""
    emulator.behaviour.limit_over_100 = "refuse"

    with pytest.raises(BadRequest):
        with_client(emulator, lambda client: all_pages(client, limit=500))


def test_requests_carry_the_documented_headers(emulator: Emulator) -> None:
    """Bearer token, JSON accept, our user agent; If-None-Match with an etag."""
    record = emulator.new_recording()
    transport = WatchingTransport()

    async def both(client: PocketClient) -> None:
        await client.check_access()
        await client.get_recording(record.id, etag='"abc"')

    with_client(emulator, both, transport=transport)

    listing, detail = transport.requests
    for request in (listing, detail):
        assert request.headers["Authorization"] == f"Bearer {emulator.token}"
        assert request.headers["Accept"] == "application/json"
        assert request.headers["User-Agent"] == f"pocket-mirror/{__version__}"
    assert "If-None-Match" not in listing.headers
    assert detail.headers["If-None-Match"] == '"abc"'


def test_transient_failures_are_retried_until_success(emulator: Emulator) -> None:
    """A 500, a 429, a drop and a cut body are each retried; the listing succeeds."""
    emulator.generate(10)
    for fault in (
        Fault(status=500),
        Fault(status=429),
        Fault(drop=True),
        Fault(truncate=True),
    ):
        emulator.inject("list", fault)

    async def listing(client: PocketClient) -> tuple[list[Page], Any]:
        return await all_pages(client), client.stats

    with capture_logs() as logs:
        pages, stats = with_client(emulator, listing)

    assert len(listed_ids(pages)) == 10
    assert (stats.list_requests, stats.retries) == (5, 4)
    assert stats.statuses == {500: 1, 429: 1, 200: 1}
    retries = events(logs, "api.retry_scheduled")
    assert [event["attempt"] for event in retries] == [1, 2, 3, 4]
    assert [event.get("status") for event in retries] == [500, 429, None, None]
    assert all(event["method"] == "GET" for event in retries)
    assert retries[0]["path"] == f"/api/v1/organization/{emulator.org_id}/recordings"
    assert {type(event.get("error")) for event in retries[2:]} == {str}


def test_detail_retries_a_server_error(emulator: Emulator) -> None:
    """A GET answered 502 then 200 returns the recording."""
    record = emulator.new_recording()
    emulator.inject("detail", Fault(status=502))

    assert expect_fetched(fetch(emulator, record.id)).id == record.id
    assert emulator.requests.count("detail") == 2


def test_retry_after_seconds_are_honoured(emulator: Emulator) -> None:
    """A 429's Retry-After in seconds is the scheduled wait, skipped in tests."""
    emulator.inject("list", Fault(status=429, headers={"Retry-After": "7"}))
    started = time.monotonic()

    with capture_logs() as logs:
        with_client(emulator, lambda client: client.check_access())

    [retry] = events(logs, "api.retry_scheduled")
    assert (retry["status"], retry["wait_s"]) == (429, 7.0)
    assert time.monotonic() - started < 5


def test_retry_after_http_date_is_honoured(emulator: Emulator) -> None:
    """A 503's Retry-After as an HTTP date waits until that moment."""
    moment = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=30)
    header = email.utils.format_datetime(moment, usegmt=True)
    emulator.inject("list", Fault(status=503, headers={"Retry-After": header}))

    with capture_logs() as logs:
        with_client(emulator, lambda client: client.check_access())

    [retry] = events(logs, "api.retry_scheduled")
    assert retry["status"] == 503
    assert 27 <= retry["wait_s"] <= 30


def test_retry_after_is_capped(emulator: Emulator) -> None:
    """A Retry-After longer than the cap waits the cap, and says so."""
    emulator.inject("list", Fault(status=429, headers={"Retry-After": "3600"}))

    with capture_logs() as logs:
        with_client(
            emulator, lambda client: client.check_access(), max_retry_after_seconds=9
        )

    [capped] = events(logs, "api.retry_after_capped")
    assert (capped["asked_s"], capped["wait_s"], capped["log_level"]) == (
        3600,
        9,
        "warning",
    )
    [retry] = events(logs, "api.retry_scheduled")
    assert retry["wait_s"] == 9


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("120", 120.0),
        (" 0 ", 0.0),
        ("Sun, 01 Nov 2026 12:00:30 GMT", 30.0),
        ("Sun, 01 Nov 2026 11:59:00 GMT", 0.0),
        ("-3", None),
        ("1.5", 1.5),
        ("inf", None),
        ("soon", None),
        ("", None),
        (None, None),
    ],
)
def test_retry_after_reads_seconds_and_http_dates(
    header: str | None, expected: float | None
) -> None:
    """Retry-After is delta seconds or an HTTP date; anything else is ignored."""
    now = dt.datetime(2026, 11, 1, 12, 0, tzinfo=dt.UTC)

    assert parse_retry_after(header, now=now) == expected


def test_retry_after_on_a_500_is_not_obeyed(emulator: Emulator) -> None:
    """Only 429 and 503 set the wait; a 500 keeps the exponential backoff."""
    emulator.inject("list", Fault(status=500, headers={"Retry-After": "60"}))

    with capture_logs() as logs:
        with_client(emulator, lambda client: client.check_access())

    [retry] = events(logs, "api.retry_scheduled")
    assert retry["wait_s"] < 60
    assert not events(logs, "api.retry_after_capped")


def test_emulated_retry_after_pauses_are_skipped_in_tests(emulator: Emulator) -> None:
    """Random 429s with Retry-After 30s still finish fast in testing mode."""
    emulator.behaviour.rate_429 = 0.3
    emulator.behaviour.retry_after_seconds = 30
    ids = emulator.generate(30)
    started = time.monotonic()

    async def fetch_all(client: PocketClient) -> int:
        await asyncio.gather(*(client.get_recording(i) for i in ids))
        return client.stats.retries

    retries = with_client(emulator, fetch_all, max_attempts=20)

    assert retries > 0
    assert time.monotonic() - started < 10


@pytest.mark.parametrize(
    ("fault", "error_type", "status"),
    [
        (Fault(status=503), ServerError, 503),
        (Fault(status=500), ServerError, 500),
        (Fault(status=429), RateLimited, 429),
        (Fault(drop=True), ApiUnreachable, None),
    ],
    ids=["503", "500", "429", "drop"],
)
def test_exhausted_attempts_raise_the_last_error(
    emulator: Emulator, fault: Fault, error_type: type[ApiError], status: int | None
) -> None:
    """After max_attempts failures the error of the last one is raised."""
    emulator.inject("list", fault, count=3)

    with capture_logs() as logs, pytest.raises(error_type) as caught:
        with_client(emulator, lambda client: client.check_access(), max_attempts=3)

    assert type(caught.value) is error_type
    assert caught.value.status == status
    assert emulator.requests.count("list") == 3
    assert len(events(logs, "api.retry_scheduled")) == 2


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b'{"recordings": [{"id": "rec_1"', "application/json"),
        (b"<html><body><h1>Bad Gateway</h1></body></html>", "text/html"),
        (b"", "application/json"),
        (b'{"items": []}', "application/json"),
        (b"[]", "application/json"),
    ],
    ids=["cut-json", "html", "empty", "no-recordings", "array"],
)
def test_malformed_listing_is_retried_then_malformed_response(
    emulator: Emulator, body: bytes, content_type: str
) -> None:
    """A 200 that is not the promised JSON is retried, then MalformedResponse."""
    emulator.inject(
        "list", Fault(status=200, body=body, content_type=content_type), count=4
    )

    with capture_logs() as logs, pytest.raises(MalformedResponse) as caught:
        with_client(emulator, lambda client: client.check_access(), max_attempts=4)

    assert caught.value.status == 200
    assert emulator.requests.count("list") == 4
    retries = events(logs, "api.retry_scheduled")
    assert [(r["status"], r["error"]) for r in retries] == [
        (200, "MalformedResponse")
    ] * 3


def test_malformed_listing_once_then_good_succeeds(emulator: Emulator) -> None:
    """One HTML 200 followed by a good page lists normally."""
    emulator.generate(3)
    emulator.inject(
        "list", Fault(status=200, body=b"<html></html>", content_type="text/html")
    )

    pages = with_client(emulator, all_pages)

    assert len(listed_ids(pages)) == 3


@pytest.mark.parametrize(
    "body",
    [b"[1, 2]", b'{"title": "no id"}', b"not json"],
    ids=["array", "no-id", "text"],
)
def test_malformed_detail_is_malformed_response(
    emulator: Emulator, body: bytes
) -> None:
    """A GET whose 200 body is no recording raises MalformedResponse."""
    record = emulator.new_recording()
    emulator.inject("detail", Fault(status=200, body=body), count=2)

    with pytest.raises(MalformedResponse):
        fetch(emulator, record.id, max_attempts=2)


def test_detail_of_another_recording_is_malformed(emulator: Emulator) -> None:
    """A 200 that holds a different recording than asked for is refused."""
    asked, other = emulator.new_recording(), emulator.new_recording()
    wrong = json.dumps({"id": other.id, "created_at": "2026-01-01T00:00:00Z"}).encode()
    emulator.inject("detail", Fault(status=200, body=wrong), count=2)

    with pytest.raises(MalformedResponse, match=other.id):
        fetch(emulator, asked.id, max_attempts=2)


def test_timeouts_are_api_unreachable(emulator: Emulator) -> None:
    """Answers slower than the timeout are retried, then ApiUnreachable."""
    record = emulator.new_recording()
    emulator.inject("detail", Fault(delay_seconds=1.0), count=2)

    with capture_logs() as logs, pytest.raises(ApiUnreachable) as caught:
        fetch(emulator, record.id, timeout_seconds=0.2, max_attempts=2)

    assert caught.value.status is None
    assert "ReadTimeout" in str(caught.value)
    [retry] = events(logs, "api.retry_scheduled")
    assert retry["error"] == "ReadTimeout"


def test_unreachable_service_is_api_unreachable(emulator: Emulator) -> None:
    """Nothing listening at the base URL raises ApiUnreachable after retries."""
    url = emulator.url
    emulator.stop()

    async def check(client: PocketClient) -> None:
        await client.check_access()

    with pytest.raises(ApiUnreachable) as caught:
        asyncio.run(_with_url(url, check))

    assert "ConnectError" in str(caught.value)


async def _with_url(url: str, action: Action[None]) -> None:
    async with PocketClient(
        base_url=url, org_id="org_test", token="pk_x", max_attempts=2
    ) as client:
        await action(client)


def test_concurrency_never_exceeds_the_limit(emulator: Emulator) -> None:
    """However many GETs are started, at most `concurrency` are in flight."""
    emulator.behaviour.latency_ms = 20
    ids = emulator.generate(24)
    transport = WatchingTransport()

    async def fetch_all(client: PocketClient) -> None:
        await asyncio.gather(*(client.get_recording(i) for i in ids))

    with_client(emulator, fetch_all, concurrency=4, transport=transport)

    assert transport.most_in_flight == 4
    assert emulator.requests.count("detail", status=200) == 24


def test_rate_limit_halves_the_concurrency(emulator: Emulator) -> None:
    """Each 429 halves the limiter's permits and logs api.rate_reduced."""
    record = emulator.new_recording()
    emulator.inject("detail", Fault(status=429), count=2)

    async def fetch_one(client: PocketClient) -> int:
        await client.get_recording(record.id)
        return client.limiter.limit

    with capture_logs() as logs:
        limit = with_client(emulator, fetch_one, concurrency=8)

    assert limit == 2
    assert [(e["previous"], e["limit"]) for e in events(logs, "api.rate_reduced")] == [
        (8, 4),
        (4, 2),
    ]


def test_limiter_never_goes_below_one_permit() -> None:
    """Halving stops at one permit."""
    limiter = AdaptiveLimiter(3)

    with capture_logs():
        for _ in range(5):
            limiter.record_rate_limited()

    assert limiter.limit == 1


def test_limiter_adds_a_permit_back_after_a_run_of_successes() -> None:
    """A run of successes adds one permit, up to the maximum and no further."""
    limiter = AdaptiveLimiter(4, recovery_run=3)
    with capture_logs():
        limiter.record_rate_limited()

    limits = []
    for _ in range(9):
        limiter.record_success()
        limits.append(limiter.limit)

    assert limits == [2, 2, 3, 3, 3, 4, 4, 4, 4]


def test_limiter_holds_new_requests_while_paused() -> None:
    """After pause(), no permit is granted before the pause is over."""
    limiter = AdaptiveLimiter(2)

    async def scenario() -> float:
        limiter.pause(0.2)
        started = time.monotonic()
        async with limiter.permit():
            return time.monotonic() - started

    assert asyncio.run(scenario()) >= 0.19


def test_limiter_waits_for_a_free_permit() -> None:
    """With every permit taken, the next request waits for a release."""
    limiter = AdaptiveLimiter(1)
    order: list[str] = []

    async def hold(name: str) -> None:
        async with limiter.permit():
            order.append(f"{name} in")
            await asyncio.sleep(0)
            order.append(f"{name} out")

    async def scenario() -> None:
        await asyncio.gather(hold("a"), hold("b"))

    asyncio.run(scenario())

    assert order == ["a in", "a out", "b in", "b out"]


def test_limiter_serves_urgent_requests_first() -> None:
    """A released permit goes to an urgent request before older ordinary ones."""
    limiter = AdaptiveLimiter(1)
    order: list[str] = []

    async def take(name: str, urgent: bool) -> None:
        async with limiter.permit(urgent=urgent):
            order.append(name)

    async def scenario() -> None:
        async with limiter.permit():
            waiting = [
                asyncio.create_task(take("detail 1", False)),
                asyncio.create_task(take("detail 2", False)),
                asyncio.create_task(take("page", True)),
            ]
            await asyncio.sleep(0)
        await asyncio.gather(*waiting)

    asyncio.run(scenario())

    assert order == ["page", "detail 1", "detail 2"]


def test_limiter_loses_no_permit_to_cancelled_waiters() -> None:
    """Cancelling queued requests, even one just handed a permit, frees it."""
    limiter = AdaptiveLimiter(1)
    served: list[str] = []

    async def take(name: str) -> None:
        async with limiter.permit():
            served.append(name)

    async def scenario() -> None:
        async with limiter.permit():
            early = asyncio.create_task(take("early"))
            handed = asyncio.create_task(take("handed"))
            last = asyncio.create_task(take("last"))
            await asyncio.sleep(0)
            early.cancel()
        # The permit is handed to "handed" on release; cancel it before it runs.
        handed.cancel()
        waited = asyncio.gather(early, handed, last, return_exceptions=True)
        await asyncio.wait_for(waited, timeout=5)

    asyncio.run(scenario())

    assert served == ["last"]
    assert limiter.in_flight == 0


def test_update_replaces_the_given_fields(emulator: Emulator) -> None:
    """PUT sends only the given fields and returns the service's metadata."""
    record = emulator.new_recording(title="old", description="kept")

    result = with_client(
        emulator,
        lambda client: client.update_recording(
            record.id, title="new ✨", tags=["tag_x"]
        ),
    )

    assert result["title"] == "new ✨"
    assert "updated_at" in result
    canonical = emulator.recordings[record.id]
    assert (canonical.title, canonical.description) == ("new ✨", "kept")
    assert [tag.id for tag in canonical.tags or []] == ["tag_x"]


def test_update_as_viewer_is_permission_denied(make_emulator: EmulatorFactory) -> None:
    """A viewer's PUT raises PermissionDenied and changes nothing."""
    emulator = make_emulator(role="viewer")
    record = emulator.new_recording(title="old")

    with pytest.raises(PermissionDenied):
        with_client(
            emulator, lambda client: client.update_recording(record.id, title="x")
        )

    assert emulator.recordings[record.id].title == "old"


def test_update_of_an_unknown_recording_is_an_api_error(emulator: Emulator) -> None:
    """A PUT answered 404 raises ApiError with the status."""
    with pytest.raises(ApiError) as caught:
        with_client(
            emulator, lambda client: client.update_recording("rec_none", title="x")
        )

    assert caught.value.status == 404
    assert emulator.requests.count("update") == 1


def test_delete_is_soft_by_default(emulator: Emulator) -> None:
    """DELETE without permanent soft deletes the recording."""
    record = emulator.new_recording()

    with_client(emulator, lambda client: client.delete_recording(record.id))

    assert emulator.recordings[record.id].deleted
    assert "permanent" not in emulator.requests.entries[-1][2]


def test_delete_permanent_removes_the_recording(emulator: Emulator) -> None:
    """DELETE with permanent=true removes the recording for good."""
    record = emulator.new_recording()

    async def delete_then_get(client: PocketClient) -> Any:
        await client.delete_recording(record.id, permanent=True)
        return await client.get_recording(record.id)

    assert with_client(emulator, delete_then_get) == DetailGone(record.id, 404)
    assert record.id not in emulator.recordings


def test_delete_as_viewer_is_permission_denied(make_emulator: EmulatorFactory) -> None:
    """A viewer's DELETE raises PermissionDenied and deletes nothing."""
    emulator = make_emulator(role="viewer")
    record = emulator.new_recording()

    with pytest.raises(PermissionDenied):
        with_client(emulator, lambda client: client.delete_recording(record.id))

    assert not emulator.recordings[record.id].deleted


def test_stats_count_each_endpoint(emulator: Emulator) -> None:
    """Every HTTP attempt is counted by endpoint and status."""
    record = emulator.new_recording()
    emulator.inject("detail", Fault(status=503))

    async def everything(client: PocketClient) -> Any:
        await client.check_access()
        await client.get_recording(record.id)
        await client.update_recording(record.id, description="d")
        await client.delete_recording(record.id)
        return client.stats

    stats = with_client(emulator, everything)

    assert (stats.list_requests, stats.detail_requests) == (1, 2)
    assert (stats.update_requests, stats.delete_requests) == (1, 1)
    assert stats.retries == 1
    assert stats.statuses == {200: 4, 503: 1}
