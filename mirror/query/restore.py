"""Sending an earlier version of a recording back to the service.

The restore goes through the API like any edit (PUT, admin role only); the
recording is then fetched again and written through the mirror's writer, so
that the change is kept in the history as a new version like any other.
"""

from __future__ import annotations

import datetime as dt

import structlog

from mirror.api.client import PocketClient
from mirror.api.models import DetailFetched
from mirror.config import Settings
from mirror.errors import (
    ApiError,
    PermissionDenied,
    RestoreRefused,
)
from mirror.query.history import RestorePlan
from mirror.store.database import Database
from mirror.store.recordings import load_known
from mirror.store.writer import MirrorWriter, RecordingWrite
from mirror.sync.runner import open_client

log = structlog.get_logger(__name__)


async def restore_version(
    settings: Settings, token: str, database: Database, plan: RestorePlan
) -> bool:
    """PUT the plan's fields, then record the recording as the service has it.

    Returns:
        Whether the mirror recorded a change (and so a new version).

    Raises:
        RestoreRefused: the token's role may not update recordings.
        ApiError: the update or the fetch after it failed.
    """
    async with open_client(settings, token) as client:
        await send_update(client, plan)
        result = await client.get_recording(plan.recording_id)

    if not isinstance(result, DetailFetched):
        raise ApiError(
            f"recording {plan.recording_id} was restored, but could not be read "
            "back; the next sync records it",
            status=getattr(result, "status", None),
        )
    changed = record(database, settings.api.org_id, result)
    log.info(
        "restore.finished",
        recording_id=plan.recording_id,
        version=plan.version,
        recorded=changed,
    )
    return changed


async def send_update(client: PocketClient, plan: RestorePlan) -> None:
    """The PUT itself; a 403 becomes a sentence about the role."""
    wanted = plan.wanted
    try:
        await client.update_recording(
            plan.recording_id,
            title=wanted.title,
            description=wanted.description,
            tags=list(wanted.tags),
        )
    except PermissionDenied as exc:
        raise RestoreRefused(
            f"the service refused to restore recording {plan.recording_id} (403): "
            "the token's role is not admin",
            url=exc.url,
            status=exc.status,
            detail=exc.detail,
        ) from exc


def record(database: Database, org_id: str, fetched: DetailFetched) -> bool:
    """Write the fetched recording; the writer keeps the old state as a version."""
    detail = fetched.detail
    write = RecordingWrite(listed=detail.listed, detail=detail, etag=fetched.etag)
    with database.write() as connection:
        known = load_known(connection, [detail.id])
        writer = MirrorWriter(
            connection, org_id=org_id, now=dt.datetime.now(dt.UTC), run_id=None
        )
        counts = writer.save([write], known)
    return counts.updated > 0
