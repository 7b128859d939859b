"""Decisions, apart from actions: what a page needs and what may be deleted.

Everything here is a pure function of what the listing said and what the
mirror holds, so that ``--dry-run`` can print a plan that the real run would
carry out, and so that the rules are tested without a network or database.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field

from mirror.api.models import ListedRecording, Page
from mirror.store.content import listing_fingerprint
from mirror.store.recordings import KnownRecording
from mirror.store.writer import DeletionMark


@dataclass(frozen=True, slots=True)
class DetailPolicy:
    """When a listed recording's detail is fetched even if its listing is unchanged.

    Args:
        refresh_all: fetch every recording (``--refresh-details``).
        refresh_ids: recordings due for the slow rolling refresh.
        processing_age: fetch a recording younger than this whose transcript
            or summary is still missing; None turns that off.
        fetched: recordings whose detail this run fetched already (windows
            share their edge days); neither rule above fetches them again.
    """

    refresh_all: bool = False
    refresh_ids: frozenset[str] = frozenset()
    processing_age: dt.timedelta | None = None
    fetched: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Fetch:
    """One detail to fetch, why, and the ETag to make it conditional."""

    listed: ListedRecording
    reason: str
    etag: str | None = None


@dataclass(slots=True)
class PagePlan:
    """What to do with one page of the listing."""

    page: Page
    fetch: list[Fetch] = field(default_factory=list)
    keep: list[ListedRecording] = field(default_factory=list)
    restore: list[str] = field(default_factory=list)
    marks: list[DeletionMark] = field(default_factory=list)


def plan_page(
    page: Page,
    known: Mapping[str, KnownRecording],
    policy: DetailPolicy,
    now: dt.datetime,
) -> PagePlan:
    """Decide, for each recording of a page, what the sweep must do."""
    plan = PagePlan(page=page)
    for listed in page.recordings:
        held = known.get(listed.id)
        reason = detail_reason(listed, held, policy, now)
        if reason is None:
            plan.keep.append(listed)
        else:
            plan.fetch.append(Fetch(listed, reason, _etag_for(reason, held)))

        if listed.deleted and (held is None or held.deletion is None):
            plan.marks.append(DeletionMark(listed.id, "soft", listed.deleted_at))
        elif not listed.deleted and held is not None and held.deletion is not None:
            plan.restore.append(listed.id)
    return plan


def detail_reason(
    listed: ListedRecording,
    held: KnownRecording | None,
    policy: DetailPolicy,
    now: dt.datetime,
) -> str | None:
    """Why the detail of a listed recording must be fetched, or None."""
    if held is None:
        return "new"
    if held.detail_synced_at is None:
        return "never_fetched"
    if held.listing_hash != listing_fingerprint(listed, like=held.listing_hash):
        return "listing_changed"
    if policy.refresh_all:
        return "refresh"
    if listed.id in policy.fetched:
        return None
    if listed.id in policy.refresh_ids:
        return "rolling_refresh"
    if _still_processing(listed, held, policy, now):
        return "processing"
    return None


def _still_processing(
    listed: ListedRecording,
    held: KnownRecording,
    policy: DetailPolicy,
    now: dt.datetime,
) -> bool:
    if policy.processing_age is None:
        return False
    incomplete = not (held.has_transcript and held.has_summary)
    return incomplete and now - listed.created_at < policy.processing_age


def _etag_for(reason: str, held: KnownRecording | None) -> str | None:
    # When the listing changed, the detail did too: a 304 would hide it.
    if held is None or reason in ("new", "never_fetched", "listing_changed"):
        return None
    return held.etag


@dataclass(frozen=True, slots=True)
class DeleteGuard:
    """Refuses to mark many recordings deleted at once.

    A listing that suddenly lacks many recordings is more often a fault of
    the service than a mass deletion, so more than ``min_count`` marks that
    are also more than ``fraction`` of the window's live recordings are held
    back unless the user insists.
    """

    min_count: int = 10
    fraction: float = 0.05

    def allows(self, count: int, live: int) -> bool:
        """Whether ``count`` new marks among ``live`` recordings may go through."""
        return count <= self.min_count or count <= self.fraction * live

    def describe(self) -> str:
        """The rule in words, for messages."""
        return f"at most {self.min_count}, or {self.fraction:.0%} of the range"
