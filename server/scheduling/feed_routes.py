"""Calendar feeds (iCalendar) and attendance exports (CSV, XLSX)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Request, Response

from server.accounts.models import Role
from server.certificates import due
from server.deps import STAFF, PrincipalDep, SessionDep, SettingsDep, allow
from server.scheduling import exports, feeds
from server.scheduling.feeds import FeedKeyCreate, FeedKeyCreated, FeedKeyPublic, FeedKeysPublic
from server.scheduling.models import FeedSubject
from server.trainees.routes import FULL_IDENTITY

router = APIRouter(tags=["calendar and exports"])
# Reached by a secret URL, not a token: a phone's calendar app cannot send a bearer token.
PUBLIC: dict[str, Any] = {"openapi_extra": {"x-roles": ["public"]}}
FEED_USERS = (Role.admin, Role.trainer, Role.examiner, Role.trainee)


@router.post(
    "/api/v1/calendar-feeds", response_model=FeedKeyCreated, status_code=201, **allow(*FEED_USERS)
)
def create_feed(
    session: SessionDep, principal: PrincipalDep, request: Request, data: FeedKeyCreate
) -> FeedKeyCreated:
    """Create a secret calendar-feed URL; the URL is in this answer only."""
    key, secret = feeds.create_key(
        session, principal.actor, data, own_trainee_id=principal.user.trainee_id
    )
    base = str(request.base_url).rstrip("/")
    return FeedKeyCreated(**feeds.public(key).model_dump(), url=f"{base}/feeds/{secret}.ics")


@router.get("/api/v1/calendar-feeds", response_model=FeedKeysPublic, **allow(*FEED_USERS))
def list_feeds(session: SessionDep, principal: PrincipalDep) -> FeedKeysPublic:
    """Calendar feeds: all of them for an admin, otherwise the ones you created (no secrets)."""
    keys = feeds.list_keys(session, principal.actor)
    return FeedKeysPublic(data=[feeds.public(k) for k in keys], count=len(keys))


@router.post(
    "/api/v1/calendar-feeds/{feed_id}/revoke", response_model=FeedKeyPublic, **allow(*FEED_USERS)
)
def revoke_feed(
    session: SessionDep,
    principal: PrincipalDep,
    feed_id: int,
    reason: Annotated[str | None, Body(embed=True, max_length=500)] = None,
) -> FeedKeyPublic:
    """Revoke a calendar feed at once (an admin, or whoever created it)."""
    return feeds.public(feeds.revoke_key(session, principal.actor, feed_id, reason))


@router.get(
    "/feeds/{secret}.ics",
    response_class=Response,
    responses={200: {"content": {"text/calendar": {}}}},
    **PUBLIC,
)
def feed(session: SessionDep, settings: SettingsDep, secret: str) -> Response:
    """An iCalendar feed, by its secret URL."""
    key = feeds.resolve(session, secret)
    if key.subject_type == FeedSubject.certificates_due:
        body = due.calendar(
            session,
            key.subject_id,
            name=feeds.calendar_name(session, key),
            public_url=settings.public_url,
        )
    else:
        body = feeds.calendar(session, key)
    return Response(
        body,
        media_type="text/calendar; charset=utf-8",
        headers={"cache-control": "private, no-cache"},
    )


@router.get(
    "/api/v1/courses/{course_id}/attendance.csv",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}},
    **allow(*STAFF),
)
def attendance_csv(
    session: SessionDep, settings: SettingsDep, principal: PrincipalDep, course_id: int
) -> Response:
    """A course's attendance as CSV (UTF-8 with BOM): credited minutes per session, hours."""
    table = exports.attendance_table(
        session, course_id, settings.tz, full_identity=principal.role in FULL_IDENTITY
    )
    return Response(
        exports.to_csv(table),
        media_type=exports.CSV_MEDIA_TYPE,
        headers={"content-disposition": exports.content_disposition(table.course, "csv")},
    )


@router.get(
    "/api/v1/courses/{course_id}/attendance.xlsx",
    response_class=Response,
    responses={200: {"content": {exports.XLSX_MEDIA_TYPE: {}}}},
    **allow(*STAFF),
)
def attendance_xlsx(
    session: SessionDep, settings: SettingsDep, principal: PrincipalDep, course_id: int
) -> Response:
    """A course's attendance as XLSX: credited minutes per session, hours per kind."""
    table = exports.attendance_table(
        session, course_id, settings.tz, full_identity=principal.role in FULL_IDENTITY
    )
    return Response(
        exports.to_xlsx(table),
        media_type=exports.XLSX_MEDIA_TYPE,
        headers={"content-disposition": exports.content_disposition(table.course, "xlsx")},
    )
