"""The push outbox page: what waits for the regulator's endpoint, and why it is not there yet."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from server.accounts.models import Role
from server.console.pages import ConsoleLoginDep, console_allow, language, render
from server.deps import SessionDep, SettingsDep
from server.i18n import catalogue, translate
from server.outbox import service

router = APIRouter(prefix="/console")
REFRESH_SECONDS = 10


@router.get("/outbox", **console_allow(Role.admin))
def outbox_page(
    request: Request, session: SessionDep, settings: SettingsDep, login: ConsoleLoginDep
) -> Response:
    """The push outbox: counts, the head event, its last error and next attempt."""
    lang = language(request)

    def label(prefix: str, code: str) -> str:
        """The catalogue's words for a code, or the code itself if it has none."""
        return translate(prefix + code, lang) if prefix + code in catalogue() else code

    return render(
        request,
        "outbox/index.html",
        {
            "status": service.status(session, settings),
            "refresh": REFRESH_SECONDS,
            "retried": request.query_params.get("retried"),
            "label": label,
        },
        login=login,
    )


@router.post("/outbox/retry", **console_allow(Role.admin, form=True))
def outbox_retry(session: SessionDep, login: ConsoleLoginDep) -> Response:
    """Make rejected and backed-off events due now."""
    retried = service.retry(session, login.actor)
    return RedirectResponse(f"/console/outbox?retried={retried}", status_code=303)
