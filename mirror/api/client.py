"""The one place pocket-mirror talks HTTP to the Pocket API.

:class:`PocketClient` wraps an ``httpx.AsyncClient`` with what the rest of
the project must not have to think about: a timeout on every request,
retries with backoff and ``Retry-After`` (:mod:`mirror.api.retry`), an
adaptive limit on concurrent requests (:mod:`mirror.api.limiter`), a listing
that follows cursors without ever looping, and the translation of every
status, transport failure and bad body into the errors of
:mod:`mirror.errors`. What it returns is already parsed into the models of
:mod:`mirror.api.models`; no httpx type leaves this module.

The token goes into the ``Authorization`` header and nowhere else: not into
URLs, logs, errors or ``repr``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import html
import json
import re
from collections import Counter
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Literal, TypeVar
from urllib.parse import quote

import httpx
import structlog

from mirror import __version__, jsoncodec
from mirror.api.limiter import AdaptiveLimiter
from mirror.api.models import (
    DetailFetched,
    DetailGone,
    DetailNotModified,
    DetailResult,
    JsonObject,
    ListedRecording,
    Page,
    RecordingDetail,
)
from mirror.api.parse import PayloadError, parse_detail, parse_page
from mirror.api.retry import (
    RetryableError,
    RetryPolicy,
    honoured_wait,
    parse_retry_after,
)
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

log = structlog.get_logger(__name__)

T = TypeVar("T")

Endpoint = Literal["list", "detail", "update", "delete"]

USER_AGENT = f"pocket-mirror/{__version__}"
DETAIL_INCLUDE = "transcript,summary,action_items"
MAX_DETAIL_CHARS = 200
"""The longest error text from the service that an error carries."""

PAGE_LIMIT_MAX = 100
"""The largest page the API reference allows."""

STATUS_ERRORS: Mapping[int, tuple[type[ApiError], str]] = {
    400: (BadRequest, "refused the request's parameters"),
    401: (AuthenticationFailed, "refused the token"),
    403: (PermissionDenied, "denied access"),
    422: (BadRequest, "refused the request's content"),
    429: (RateLimited, "kept limiting the request rate"),
}


@dataclass(slots=True)
class ClientStats:
    """Counts of what one client did; every HTTP attempt counts, retries too."""

    list_requests: int = 0
    detail_requests: int = 0
    update_requests: int = 0
    delete_requests: int = 0
    retries: int = 0
    not_modified: int = 0
    statuses: Counter[int] = field(default_factory=Counter)

    def count_request(self, endpoint: Endpoint) -> None:
        """Count one HTTP attempt at ``endpoint``."""
        name = f"{endpoint}_requests"
        setattr(self, name, getattr(self, name) + 1)


class PocketClient:
    """An async client of one organization's recordings.

    Use it as ``async with PocketClient(...) as client:``, or call
    :meth:`aclose` when done.

    Args:
        base_url: the service's root, e.g. ``https://public.heypocketai.com``.
        org_id: the organization whose recordings to read.
        token: the API token (``pk_...``), sent only as a bearer header.
        timeout_seconds: the limit on connecting, and on each read and write.
        concurrency: the most requests in flight at once, and the pool size.
        max_attempts: attempts per request, the first included.
        max_retry_after_seconds: the cap on a wait the service asks for.
        transport: an httpx transport to use instead of the default one.
    """

    def __init__(
        self,
        *,
        base_url: str,
        org_id: str,
        token: str,
        timeout_seconds: float = 30.0,
        concurrency: int = 8,
        max_attempts: int = 6,
        max_retry_after_seconds: float = 120.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.org_id = org_id
        self.stats = ClientStats()
        self._token = token
        self._recordings_path = (
            f"/api/v1/organization/{quote(org_id, safe='')}/recordings"
        )
        self._policy = RetryPolicy(max_attempts, max_retry_after_seconds)
        self._limiter = AdaptiveLimiter(concurrency)
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            headers=_default_headers(token),
            timeout=httpx.Timeout(timeout_seconds),
            limits=httpx.Limits(
                max_connections=concurrency, max_keepalive_connections=concurrency
            ),
            transport=transport,
        )

    def __repr__(self) -> str:
        return f"PocketClient(base_url={self.base_url!r}, org_id={self.org_id!r})"

    async def __aenter__(self) -> PocketClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    @property
    def limiter(self) -> AdaptiveLimiter:
        """The adaptive concurrency limit all of this client's requests share."""
        return self._limiter

    async def list_pages(
        self,
        *,
        start_date: dt.date | None = None,
        end_date: dt.date | None = None,
        cursor: str | None = None,
        limit: int = PAGE_LIMIT_MAX,
    ) -> AsyncIterator[Page]:
        """Yield the listing page by page, following ``next_cursor``.

        Ids already yielded are dropped from later pages. The listing ends
        when a page has no next cursor.

        Args:
            start_date: the first UTC day of ``created_at`` to list.
            end_date: the last UTC day of ``created_at`` to list.
            cursor: a cursor to resume from, as a previous page gave it.
            limit: the page size asked for.

        Raises:
            PaginationFault: a cursor came back a second time, or a page held
                only ids already yielded.
            ApiError: a page could not be fetched.
        """
        params = _listing_params(start_date, end_date, limit)
        guard = _ListingGuard(cursor)
        number = 1
        while True:
            page_params = params if cursor is None else {**params, "cursor": cursor}
            url = self._url(self._recordings_path, page_params)
            page = guard.admit(await self._fetch_page(page_params, number, cursor), url)
            _log_page(page)
            yield page

            if page.next_cursor is None:
                return
            guard.follow(page.next_cursor, url)
            cursor, number = page.next_cursor, number + 1

    async def get_recording(
        self, recording_id: str, *, etag: str | None = None
    ) -> DetailResult:
        """Fetch one recording with its transcript, summary and action items.

        Args:
            recording_id: the recording to fetch.
            etag: the ETag of the copy at hand; a 304 then means unchanged.

        Returns:
            DetailFetched (200), DetailNotModified (304), or DetailGone for a
            404 or 410.

        Raises:
            ApiError: the recording could not be fetched.
        """
        headers = {"If-None-Match": etag} if etag else None

        def read(response: httpx.Response) -> DetailResult:
            return self._read_detail(response, recording_id, etag)

        return await self._call(
            "detail",
            "GET",
            self._recording_path(recording_id),
            read,
            params={"include": DETAIL_INCLUDE},
            headers=headers,
        )

    async def update_recording(
        self,
        recording_id: str,
        *,
        title: str | None = None,
        description: str | None = None,
        tags: Sequence[str] | None = None,
    ) -> JsonObject:
        """Replace the given fields of a recording (admin role); None leaves one be.

        Returns:
            The recording's metadata as the service answered it.

        Raises:
            ApiError: the update was refused or failed.
        """
        body: dict[str, object] = {"title": title, "description": description}
        body = {key: value for key, value in body.items() if value is not None}
        if tags is not None:
            body["tags"] = list(tags)

        return await self._call(
            "update",
            "PUT",
            self._recording_path(recording_id),
            self._read_metadata,
            body=body,
        )

    async def delete_recording(
        self, recording_id: str, *, permanent: bool = False
    ) -> None:
        """Delete a recording (admin role): softly, or for good if ``permanent``.

        Raises:
            ApiError: the delete was refused or failed.
        """
        params = {"permanent": "true"} if permanent else None
        await self._call(
            "delete",
            "DELETE",
            self._recording_path(recording_id),
            self._read_success,
            params=params,
        )

    async def check_access(self) -> None:
        """Make one small list request, to learn whether the token works here.

        Raises:
            ApiError: the error the listing answered with.
        """
        await self._fetch_page({"limit": 1}, 1, None)

    async def _fetch_page(
        self, params: Mapping[str, str | int], number: int, cursor: str | None
    ) -> Page:
        def read(response: httpx.Response) -> Page:
            return self._read_page(response, number, cursor)

        return await self._call(
            "list", "GET", self._recordings_path, read, params=params
        )

    async def _call(
        self,
        endpoint: Endpoint,
        method: str,
        path: str,
        read: Callable[[httpx.Response], T],
        *,
        params: Mapping[str, str | int] | None = None,
        headers: Mapping[str, str] | None = None,
        body: object = None,
    ) -> T:
        """Send one request with retries, and read its final response."""

        async def attempt() -> T:
            request = self._http.build_request(
                method, path, params=params, headers=headers, json=body
            )
            return read(await self._send(endpoint, request))

        return await self._policy.run(
            attempt, method=method, path=path, on_retry=self._note_retry
        )

    async def _send(self, endpoint: Endpoint, request: httpx.Request) -> httpx.Response:
        """One HTTP attempt under the limiter; raises RetryableError to retry."""
        self.stats.count_request(endpoint)
        # The listing goes first: every detail request waits on its pages.
        async with self._limiter.permit(urgent=endpoint == "list"):
            response = await self._transmit(request)
            self._record_outcome(response.status_code)

        status = response.status_code
        if status == 429 or status >= 500:
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            error = self._status_error(response, endpoint)
            raise RetryableError(error, retry_after_seconds=retry_after)
        return response

    async def _transmit(self, request: httpx.Request) -> httpx.Response:
        try:
            return await self._http.send(request)
        except httpx.TransportError as exc:
            error = ApiUnreachable(
                f"no response came from the Pocket API for {request.method} "
                f"{request.url} ({type(exc).__name__})",
                url=str(request.url),
            )
            raise RetryableError(error) from exc

    def _record_outcome(self, status: int) -> None:
        self.stats.statuses[status] += 1
        if status == 429:
            self._limiter.record_rate_limited()
        elif status < 500:
            self._limiter.record_success()

    def _note_retry(self, failure: RetryableError, wait_seconds: float) -> None:
        self.stats.retries += 1
        if failure.retry_after_seconds is not None:
            self._limiter.pause(honoured_wait(wait_seconds))

    def _read_page(
        self, response: httpx.Response, number: int, cursor: str | None
    ) -> Page:
        if not response.is_success:
            raise self._status_error(response, "list")
        try:
            return parse_page(self._decode(response), number=number, cursor=cursor)
        except PayloadError as exc:
            raise self._malformed(response, exc.reason) from exc

    def _read_detail(
        self, response: httpx.Response, recording_id: str, etag: str | None
    ) -> DetailResult:
        status = response.status_code
        if status == 304:
            self.stats.not_modified += 1
            return DetailNotModified(recording_id, response.headers.get("ETag", etag))
        if status in (404, 410):
            return DetailGone(recording_id, status)
        if not response.is_success:
            raise self._status_error(response, "detail")

        return DetailFetched(
            self._parse_detail(response, recording_id), response.headers.get("ETag")
        )

    def _parse_detail(
        self, response: httpx.Response, recording_id: str
    ) -> RecordingDetail:
        try:
            detail = parse_detail(self._decode(response))
        except PayloadError as exc:
            raise self._malformed(response, exc.reason) from exc

        if detail.id != recording_id:
            raise self._malformed(response, f"the body is recording {detail.id!r}")
        return detail

    def _read_metadata(self, response: httpx.Response) -> JsonObject:
        if not response.is_success:
            raise self._status_error(response, "update")
        body = self._decode(response)
        if not isinstance(body, dict):
            raise self._malformed(response, "the body is not a JSON object")
        return body

    def _read_success(self, response: httpx.Response) -> None:
        if not response.is_success:
            raise self._status_error(response, "delete")

    def _decode(self, response: httpx.Response) -> object:
        """The JSON body of a successful response; a retryable error if none."""
        try:
            return jsoncodec.loads(response.content)
        except ValueError as exc:
            reason = (
                "the body is empty" if not response.content else "the body is not JSON"
            )
            raise self._malformed(response, reason) from exc

    def _malformed(self, response: httpx.Response, reason: str) -> RetryableError:
        request = response.request
        error = MalformedResponse(
            f"the Pocket API answered {request.method} {request.url} with a body "
            f"it does not promise ({reason})",
            url=str(request.url),
            status=response.status_code,
            detail=self._error_detail(response),
        )
        return RetryableError(error)

    def _status_error(self, response: httpx.Response, endpoint: Endpoint) -> ApiError:
        """The error for a status that is not a success of ``endpoint``."""
        status, request = response.status_code, response.request
        error_type, what = _status_meaning(status, endpoint, self.org_id)
        return error_type(
            f"the Pocket API {what} (HTTP {status}) for {request.method} {request.url}",
            url=str(request.url),
            status=status,
            detail=self._error_detail(response),
        )

    def _error_detail(self, response: httpx.Response) -> str | None:
        """A short plain text of an error body, whatever its format."""
        text = _plain_text(response)
        if self._token:
            text = text.replace(self._token, "[token]")
        if len(text) > MAX_DETAIL_CHARS:
            text = text[: MAX_DETAIL_CHARS - 1].rstrip() + "…"
        return text or None

    def _recording_path(self, recording_id: str) -> str:
        return f"{self._recordings_path}/{quote(recording_id, safe='')}"

    def _url(self, path: str, params: Mapping[str, str | int]) -> str:
        return str(self._http.build_request("GET", path, params=params).url)


class _ListingGuard:
    """Keeps one listing from looping: no cursor twice, no id yielded twice."""

    def __init__(self, first_cursor: str | None) -> None:
        self._cursors = {first_cursor} if first_cursor else set()
        self._seen: set[str] = set()

    def admit(self, page: Page, url: str) -> Page:
        """Drop ids already yielded from ``page``; refuse a page of nothing new."""
        fresh, repeated = self._split(page.recordings)
        if page.recordings and not fresh:
            raise PaginationFault(
                f"page {page.number} of the listing held only recordings listed before",
                url=url,
            )

        self._seen.update(recording.id for recording in fresh)
        if not repeated:
            return page
        log.warning(
            "api.page_repeats_ids",
            page=page.number,
            repeated=len(repeated),
            ids=repeated[:5],
        )
        return dataclasses.replace(page, recordings=tuple(fresh))

    def follow(self, cursor: str, url: str) -> None:
        """Accept ``cursor`` as the next one, unless the listing used it before."""
        if cursor in self._cursors:
            raise PaginationFault(
                "the listing sent a next cursor it had sent before", url=url
            )
        self._cursors.add(cursor)

    def _split(
        self, recordings: Sequence[ListedRecording]
    ) -> tuple[list[ListedRecording], list[str]]:
        fresh: list[ListedRecording] = []
        repeated: list[str] = []
        on_page: set[str] = set()
        for recording in recordings:
            if recording.id in self._seen or recording.id in on_page:
                repeated.append(recording.id)
            else:
                fresh.append(recording)
                on_page.add(recording.id)
        return fresh, repeated


def _log_page(page: Page) -> None:
    has_next = page.next_cursor is not None
    count = len(page.recordings)
    log.debug("api.page_listed", page=page.number, count=count, has_next=has_next)
    if page.skipped:
        log.warning(
            "api.page_skipped_items",
            page=page.number,
            skipped=len(page.skipped),
            reasons=list(page.skipped[:5]),
        )


def _default_headers(token: str) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {token}",
        "Accept": "application/json",
        "User-Agent": USER_AGENT,
    }


def _listing_params(
    start_date: dt.date | None, end_date: dt.date | None, limit: int
) -> dict[str, str | int]:
    params: dict[str, str | int] = {"limit": limit}
    if start_date is not None:
        params["startDate"] = start_date.isoformat()
    if end_date is not None:
        params["endDate"] = end_date.isoformat()
    return params


def _status_meaning(
    status: int, endpoint: Endpoint, org_id: str
) -> tuple[type[ApiError], str]:
    """The error type for a status, and what the service did, in words."""
    if status in STATUS_ERRORS:
        return STATUS_ERRORS[status]
    if status >= 500:
        return ServerError, "kept failing"
    if status == 404 and endpoint == "list":
        return OrganizationNotFound, f"does not know the organization {org_id!r}"
    if status in (404, 410):
        return ApiError, "has no such recording"
    return ApiError, "answered with an unexpected status"


_HIDDEN_HTML = re.compile(
    r"<(script|style|head)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL
)
_HTML_TAG = re.compile(r"<[^>]*>")


def _plain_text(response: httpx.Response) -> str:
    """The error text of a body: JSON's ``error`` field, or the text itself."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        message = body.get("error", body.get("message"))
        if isinstance(message, str):
            return " ".join(message.split())
    if body is not None:
        return json.dumps(body, ensure_ascii=False)[: MAX_DETAIL_CHARS * 2]

    text = _HTML_TAG.sub(" ", _HIDDEN_HTML.sub(" ", _text_of(response)))
    return " ".join(html.unescape(text).split())


def _text_of(response: httpx.Response) -> str:
    try:
        return response.text
    except (UnicodeDecodeError, LookupError):
        return response.content.decode("utf-8", errors="replace")
