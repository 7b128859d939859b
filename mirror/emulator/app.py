"""The emulated API itself: routing, auth, the four endpoints and faults.

This layer knows nothing of sockets: it turns a :class:`Request` into a
:class:`Response`, which may carry a :class:`~mirror.emulator.behaviour.Fault`
for the transport to act out (drop, truncate, delay, trickle). The order of
checks follows the service: the token (401), then the organization (403 for
another's, 404 for an unknown one), then the role (403), then the recording
(404, or 410 for a soft delete in ``hidden_410`` mode).
"""

from __future__ import annotations

import datetime as dt
import email.utils
import hashlib
import json
import random
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mirror.emulator import render
from mirror.emulator.behaviour import Behaviour, Fault
from mirror.emulator.listing import InvalidQuery, parse_query
from mirror.emulator.records import EmulatedRecording

if TYPE_CHECKING:
    from mirror.emulator.emulator import Emulator

_ROUTE = re.compile(r"^/api/v1/organization/([^/]+)/recordings(?:/([^/]+))?/?$")
_ENDPOINT_BY_METHOD = {
    ("GET", False): "list",
    ("GET", True): "detail",
    ("PUT", True): "update",
    ("DELETE", True): "delete",
}
_STATUS_TEXT = {
    400: "bad request",
    401: "invalid or missing token",
    403: "forbidden",
    404: "not found",
    405: "method not allowed",
    410: "recording deleted",
    422: "unprocessable entity",
    429: "too many requests",
    500: "internal server error",
    502: "bad gateway",
    503: "service unavailable",
}


@dataclass
class Request:
    """One HTTP request, as the transport read it.

    Attributes:
        target: the path with its query string, as sent.
        query: each query parameter's last value.
        headers: header names in lower case.
    """

    method: str
    path: str
    target: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes = b""


@dataclass
class Response:
    """What to answer; ``fault`` tells the transport how to misbehave."""

    status: int
    body: bytes = b""
    content_type: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    fault: Fault | None = None


@dataclass(frozen=True)
class Route:
    """Which endpoint a request is for, and the ids in its path.

    ``endpoint`` is ``list``, ``detail``, ``update``, ``delete``, or ``other``
    for any other method or path; ``org_id`` is None off the API's paths.
    """

    endpoint: str
    org_id: str | None = None
    recording_id: str | None = None


def route(request: Request) -> Route:
    """Match a request to an endpoint by its method and path."""
    match = _ROUTE.match(request.path)
    if match is None:
        return Route("other")
    org_id, recording_id = match.groups()
    key = (request.method, recording_id is not None)
    return Route(_ENDPOINT_BY_METHOD.get(key, "other"), org_id, recording_id)


class ApiHandler:
    """Answers requests from an emulator's state and behaviour."""

    def __init__(self, emulator: Emulator):
        self.emulator = emulator
        self._fault_rng = random.Random(0)
        self._fault_seed: int | None = None

    def handle(self, request: Request) -> Response:
        """Answer ``request``, scripted and random faults first."""
        target = route(request)
        fault = self._next_fault(target.endpoint)
        if fault is not None and fault.replaces_answer:
            response = self._fault_response(fault)
        else:
            response = self._answer(request, target)
            response.fault = fault
            if fault is not None:
                response.headers.update(fault.headers)

        status = 0 if response.fault and response.fault.drop else response.status
        self.emulator.requests.record(
            target.endpoint, request.method, request.target, status
        )
        return response

    def _answer(self, request: Request, target: Route) -> Response:
        if target.endpoint == "list" and self.emulator.before_list_page is not None:
            self._run_before_list_page(request)
        with self.emulator.lock:
            return self._answer_locked(request, target)

    def _run_before_list_page(self, request: Request) -> None:
        """Let a test change the state just before a page is served."""
        try:
            number = parse_query(request.query, self.emulator.behaviour).page_number
        except InvalidQuery:
            return
        hook = self.emulator.before_list_page
        if hook is not None:
            hook(number)

    def _answer_locked(self, request: Request, target: Route) -> Response:
        refused = self._refusal(request, target)
        if refused is not None:
            return refused
        if target.endpoint == "list":
            return self._list(request)

        record = self.emulator.recordings.get(target.recording_id or "")
        if record is None:
            return self.error(404, "recording not found")
        if target.endpoint == "detail":
            return self._detail(request, record)
        if target.endpoint == "update":
            return self._update(request, record)
        return self._delete(request, record)

    def _refusal(self, request: Request, target: Route) -> Response | None:
        """The auth or routing error a request earns, if any."""
        if target.org_id is None:
            return self.error(404, "not found")
        if not self._authorized(request):
            return self.error(401, "invalid or missing token")

        if target.org_id in self.emulator.foreign_orgs:
            return self.error(403, "this token may not access that organization")
        if target.org_id != self.emulator.org_id:
            return self.error(404, "organization not found")
        if target.endpoint == "other":
            return self.error(405, "method not allowed")
        needs_admin = target.endpoint in ("update", "delete")
        if needs_admin and self.emulator.role != "admin":
            return self.error(403, "this action needs the admin role")
        return None

    def _authorized(self, request: Request) -> bool:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        return scheme.lower() == "bearer" and token.strip() == self.emulator.token

    def _list(self, request: Request) -> Response:
        behaviour = self.emulator.behaviour
        try:
            query = parse_query(request.query, behaviour)
        except InvalidQuery as exc:
            return self.error(400, str(exc))

        page = self.emulator.index.page(query, behaviour)
        records = [self.emulator.recordings[rid] for rid in page.ids]
        pagination: dict[str, Any] = {
            "page": page.page,
            "limit": page.limit,
            "total": page.total,
        }
        if page.next_cursor is not None or not behaviour.omit_null_cursor:
            pagination["next_cursor"] = page.next_cursor
        payload = {
            "recordings": [render.list_item(r, behaviour) for r in records],
            "pagination": pagination,
        }
        return self._json_with_etag(request, payload)

    def _detail(self, request: Request, record: EmulatedRecording) -> Response:
        gone = self._gone_status(record)
        if gone is not None:
            return self._gone(gone)
        include = {name.strip() for name in request.query.get("include", "").split(",")}
        payload = render.detail(record, self.emulator.behaviour, include)
        return self._json_with_etag(request, payload)

    def _gone(self, status: int) -> Response:
        if status == 410:
            return self.error(410, "recording deleted")
        return self.error(404, "recording not found")

    def _gone_status(self, record: EmulatedRecording) -> int | None:
        """404 or 410 when a soft-deleted recording is hidden from GET."""
        if not record.deleted:
            return None
        if self.emulator.behaviour.soft_delete == "hidden_404":
            return 404
        if self.emulator.behaviour.soft_delete == "hidden_410":
            return 410
        return None

    def _update(self, request: Request, record: EmulatedRecording) -> Response:
        gone = self._gone_status(record)
        if gone is not None:
            return self._gone(gone)
        try:
            fields = json.loads(request.body or b"{}")
        except (ValueError, UnicodeDecodeError):
            return self.error(400, "the body must be JSON")

        problem = _update_problem(fields)
        if problem is not None:
            return self.error(422, problem)
        changes = {
            key: fields[key] for key in ("title", "description") if key in fields
        }
        if "tags" in fields:
            changes["tags"] = [self.emulator.tag(tag_id) for tag_id in fields["tags"]]
        self.emulator.edit(record.id, **changes)
        return self.json(200, render.update_result(record, self.emulator.behaviour))

    def _delete(self, request: Request, record: EmulatedRecording) -> Response:
        """Soft delete, or for good with ``permanent=true``.

        A permanent delete purges soft-deleted recordings too; soft deleting
        one again answers as its GET would (404 or 410 in the hidden modes).
        """
        if request.query.get("permanent", "").lower() == "true":
            self.emulator.hard_delete(record.id)
            return self.json(200, {"success": True})
        gone = self._gone_status(record)
        if gone is not None:
            return self._gone(gone)
        if not record.deleted:
            self.emulator.soft_delete(record.id)
        return self.json(200, {"success": True})

    def _json_with_etag(self, request: Request, payload: Any) -> Response:
        response = self.json(200, payload)
        if not self.emulator.behaviour.etags:
            return response
        etag = '"' + hashlib.blake2b(response.body, digest_size=16).hexdigest() + '"'
        response.headers["ETag"] = etag
        if etag in _entity_tags(request.headers.get("if-none-match", "")):
            return Response(304, headers={"ETag": etag})
        return response

    def json(self, status: int, payload: Any) -> Response:
        """A JSON response."""
        return Response(status, render.encode(payload), render.JSON_TYPE)

    def error(self, status: int, message: str) -> Response:
        """An error response in the behaviour's ``error_body`` style."""
        body, content_type = render.error_body(message, self.emulator.behaviour)
        return Response(status, body, content_type)

    def _fault_response(self, fault: Fault) -> Response:
        status = fault.status if fault.status is not None else 200
        if fault.drop:
            return Response(status, fault=fault)
        if fault.body is not None:
            content_type = fault.content_type or "application/json"
            response = Response(status, fault.body, content_type)
        else:
            response = self.error(status, _STATUS_TEXT.get(status, "error"))
        response.headers.update(fault.headers)
        response.fault = fault
        return response

    def _next_fault(self, endpoint: str) -> Fault | None:
        """The scripted fault for this request, else maybe a random one."""
        scripted = self.emulator.take_fault(endpoint)
        if scripted is not None:
            return scripted
        behaviour = self.emulator.behaviour
        if endpoint not in behaviour.fault_endpoints:
            return None
        with self.emulator.lock:
            return self._random_fault(behaviour)

    def _random_fault(self, behaviour: Behaviour) -> Fault | None:
        if self._fault_seed != behaviour.fault_seed:
            self._fault_rng = random.Random(behaviour.fault_seed)
            self._fault_seed = behaviour.fault_seed
        roll = self._fault_rng.random()
        if roll < behaviour.rate_drop:
            return Fault(drop=True)
        roll -= behaviour.rate_drop
        if roll < behaviour.rate_429:
            return Fault(status=429, headers=_retry_after(behaviour))
        roll -= behaviour.rate_429
        if roll < behaviour.rate_5xx:
            return Fault(status=self._fault_rng.choice((500, 502, 503)))
        return None


def _update_problem(fields: Any) -> str | None:
    """Why a PUT body is unprocessable, or None when it is fine."""
    if not isinstance(fields, dict):
        return "the body must be a JSON object"
    for key in ("title", "description"):
        if key in fields and not isinstance(fields[key], str):
            return f"{key} must be a string"
    tags = fields.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        return "tags must be a list of tag ids"
    return None


def _entity_tags(header: str) -> set[str]:
    return {part.strip().removeprefix("W/") for part in header.split(",")}


def _retry_after(behaviour: Behaviour) -> dict[str, str]:
    """The Retry-After header of a random 429, in the behaviour's form."""
    seconds = behaviour.retry_after_seconds
    if behaviour.retry_after == "absent":
        return {}
    if behaviour.retry_after == "date":
        moment = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=seconds)
        return {"Retry-After": email.utils.format_datetime(moment, usegmt=True)}
    text = str(int(seconds)) if float(seconds).is_integer() else str(seconds)
    return {"Retry-After": text}
