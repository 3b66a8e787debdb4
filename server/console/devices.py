"""The live device page: every station's device, online or not, counters, last results."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

from fastapi import APIRouter, Request
from fastapi.responses import Response

from curricula.model import StationKind
from server.console.pages import ConsoleLoginDep, language, render
from server.console.schedule import STAFF_PAGES, _tz
from server.deps import SessionDep
from server.devices import status
from server.trainees import service as trainees

router = APIRouter(prefix="/console")
REFRESH_SECONDS = 10


@dataclass(frozen=True)
class ResultLine:
    at: str
    scenario: str
    score: str
    passed: bool | None
    who: str | None  # the trainee's name, or None when unassigned


def _when(value: str | dt.datetime | None, tz: dt.tzinfo) -> str:
    if value is None:
        return ""
    moment = value
    if isinstance(value, str):
        try:
            moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
    assert isinstance(moment, dt.datetime)
    return moment.astimezone(tz).strftime("%m-%d %H:%M:%S")


@router.get("/devices", **STAFF_PAGES)
def device_page(request: Request, session: SessionDep, login: ConsoleLoginDep) -> Response:
    """Every station's device: online or not, last heard, frame counters, who is there, results."""
    tz, lang = _tz(request), language(request)
    lines = status.station_lines(session)
    names = trainees.names(
        session, [r.trainee_id for line in lines for r in line.last_results if r.trainee_id]
    )
    rows = []
    for line in lines:
        results = []
        for r in line.last_results:
            frame = json.loads(r.frame)
            results.append(
                ResultLine(
                    at=_when(r.occurred_at or r.received_at, tz),
                    scenario=r.scenario or "",
                    score=f"{frame.get('score')}/{frame.get('max')}",
                    passed=frame.get("passed") if isinstance(frame.get("passed"), bool) else None,
                    who=names.get(r.trainee_id) if r.trainee_id else None,
                )
            )
        rows.append((line, StationKind(line.kind).label(lang), _when(line.last_seen, tz), results))
    counts = {state: sum(1 for line in lines if line.state == state) for state in status.STATES}
    return render(
        request,
        "devices/index.html",
        {
            "rows": rows,
            "counts": counts,
            "halls": status.halls(session),
            "refresh": REFRESH_SECONDS,
            "when": lambda v: _when(v, tz),
        },
        login=login,
    )
