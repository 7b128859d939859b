"""Every error pocket-mirror raises on purpose, as one tree.

Errors from httpx and SQLAlchemy are translated at the boundary where they
happen, so nothing above the API client or the store ever sees those
libraries' types. Each error carries the facts a user needs (the URL, the
status, the recording id) and says in its message what to do next; the
command line maps each branch of the tree to an exit status::

    MirrorError
    ├── ConfigError                 the configuration cannot be used (exit 2)
    ├── ApiError                    the Pocket API failed us (exit 1)
    │   ├── AuthenticationFailed    401: the token is wrong or revoked
    │   ├── PermissionDenied        403: the role is too low, or another org
    │   │   └── RestoreRefused      403 to a restore's PUT: not an admin token
    │   ├── OrganizationNotFound    404 on the organization itself
    │   ├── BadRequest              400/422: the service refused a parameter
    │   ├── RateLimited             429, still after every retry
    │   ├── ServerError             5xx, still after every retry
    │   ├── ApiUnreachable          no connection, or timeouts, after retries
    │   ├── MalformedResponse       a body that is not what the API promises
    │   └── PaginationFault         a cursor that repeats, a page of repeats
    ├── StoreError                  the local mirror database failed (exit 1)
    │   ├── DatabaseLocked          another writer holds the database
    │   ├── DatabaseUnavailable     cannot open, connect or write at all
    │   ├── SchemaOutdated          the database needs ``pocket-mirror migrate``
    │   └── QueryFailed             ``pocket-mirror sql`` could not run a statement
    │       └── WriteRefused        the statement tried to change the mirror
    ├── NotInMirror                 a recording or version the mirror lacks
    ├── ExportFailed                the export folder cannot be read or written
    └── SyncError                   a sweep could not be completed safely
        ├── MassDeleteRefused       more deletes at once than the guard allows
        └── SweepIncomplete         a sweep ended with part of it undone
"""

from __future__ import annotations

from collections.abc import Sequence


class MirrorError(Exception):
    """The base of every error pocket-mirror raises on purpose."""

    exit_code = 1


class ConfigError(MirrorError):
    """The configuration has one or more problems; all are listed at once."""

    exit_code = 2

    def __init__(self, problems: Sequence[str], *, source: str | None = None):
        self.problems = list(problems)
        self.source = source
        where = f" in {source}" if source else ""
        lines = "\n".join(f"  - {problem}" for problem in self.problems)
        super().__init__(f"the configuration{where} cannot be used:\n{lines}")


class ApiError(MirrorError):
    """A request to the Pocket API failed.

    Attributes:
        url: the request's URL, without any credential.
        status: the HTTP status, or None when no response arrived.
        detail: the error text the service sent, if any.
    """

    hint = "check the service status and try again later"

    def __init__(
        self,
        message: str,
        *,
        url: str | None = None,
        status: int | None = None,
        detail: str | None = None,
    ):
        self.url = url
        self.status = status
        self.detail = detail
        super().__init__(message)

    def __str__(self) -> str:
        text = super().__str__()
        if self.detail:
            text = f"{text} (the service said: {self.detail})"
        return f"{text}; {self.hint}"


class AuthenticationFailed(ApiError):
    """The token was refused (401)."""

    hint = (
        "check that the token in the configured environment variable or file is current"
    )


class PermissionDenied(ApiError):
    """The token's role is too low, or the organization is another's (403)."""

    hint = (
        "check that the token belongs to this organization "
        "and has the role the command needs"
    )


class OrganizationNotFound(ApiError):
    """The organization id is unknown to the service (404 on the listing)."""

    hint = "check api.org_id in the configuration"


class BadRequest(ApiError):
    """The service refused the request's parameters (400 or 422)."""

    hint = "this is likely a pocket-mirror bug or an API change; please report it"


class RateLimited(ApiError):
    """The service kept answering 429 after every retry."""

    hint = "lower api.concurrency or run less often"


class ServerError(ApiError):
    """The service kept failing with 5xx after every retry."""


class ApiUnreachable(ApiError):
    """No response arrived: connection refused, dropped, or timed out."""

    hint = "check api.base_url and the network, then try again"


class MalformedResponse(ApiError):
    """A response body was not the JSON shape the API promises."""


class PaginationFault(ApiError):
    """The listing repeated a cursor or served a page of ids already seen."""

    hint = "the listing is unreliable right now; no deletes were inferred from it"


class StoreError(MirrorError):
    """The local mirror database failed."""

    hint = "check database.url and the database's health"

    def __init__(self, message: str, *, url: str | None = None):
        self.url = url
        super().__init__(message)

    def __str__(self) -> str:
        return f"{super().__str__()}; {self.hint}"


class DatabaseLocked(StoreError):
    """Another process holds a lock on the database for longer than we wait."""

    hint = "another writer is using the mirror; wait for it to finish, then retry"


class DatabaseUnavailable(StoreError):
    """The database cannot be opened, reached or written."""


class SchemaOutdated(StoreError):
    """The database schema is older (or newer) than this version expects."""

    hint = "run `pocket-mirror migrate`"


class SyncError(MirrorError):
    """A sweep could not be completed safely."""


class MassDeleteRefused(SyncError):
    """More recordings would be marked deleted at once than the guard allows."""

    def __init__(self, count: int, live: int, threshold: str):
        self.count = count
        self.live = live
        self.threshold = threshold
        super().__init__(
            f"refused to mark {count} of {live} recordings deleted at once "
            f"(the guard allows {threshold}); nothing was marked. If the "
            "deletes are real, run again with --allow-mass-delete"
        )


class SweepIncomplete(SyncError):
    """A sweep finished with some of its work undone; no deletes were inferred."""


class RestoreRefused(PermissionDenied):
    """The service answered 403 to the restore's PUT."""

    hint = "restoring changes the recording upstream, which needs an admin token"


class QueryFailed(StoreError):
    """The database could not run the statement given to ``pocket-mirror sql``."""

    hint = "check the statement; the tables and views are listed in the README"


class WriteRefused(QueryFailed):
    """The statement tried to change the mirror, which ``sql`` never allows."""

    hint = "pocket-mirror sql only reads; the mirror was not changed"


class NotInMirror(MirrorError):
    """The recording, or the version of it, is not in the mirror."""


class ExportFailed(MirrorError):
    """The export folder could not be read or written."""
