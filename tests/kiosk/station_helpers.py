"""For the station tests: a trainee signed in at a kiosk, stations in named rooms, camera frames
of station labels, and a gateway reporting a device result."""

from __future__ import annotations

import datetime as dt
from typing import Any

import cv2
import numpy as np
from fastapi.testclient import TestClient
from sqlmodel import Session

from server.accounts.models import Role
from server.devices import labels
from server.devices.registry import DeviceCreate, create_device
from server.scheduling import service as scheduling
from server.scheduling.models import Station
from server.scheduling.schemas import StationUpdate
from tests.factories import ACTOR, auth, make_room, make_station, make_token, make_user
from tests.kiosk.conftest import Hall
from tests.kiosk.scan_helpers import blank_jpeg, jpeg, qr_image
from tests.server.devices.test_device_results import item, result_frame


def signed_in(client: TestClient, hall: Hall) -> None:
    assert client.post("/kiosk/setup", data={"code": hall.setup_code}).status_code == 200
    response = client.post(
        "/kiosk/sign-in",
        data={"id_number": hall.trainee.id_number, "pin": hall.pin},
        follow_redirects=False,
    )
    assert response.status_code == 303


def station_in(session: Session, code: str, room: str | None, *, kind: str = "vr_pod") -> Station:
    """A station in the room of that name (made when there is none yet), or in no room."""
    station = make_station(session, code=code, kind=kind)
    if room is not None:
        made = next((r for r in scheduling.list_rooms(session) if r.name == room), None)
        if made is None:
            made = make_room(session)
            made.name = room
            session.add(made)
            session.commit()
        assert station.id is not None
        station = scheduling.update_station(
            session, ACTOR, station.id, StationUpdate(room_id=made.id)
        )
    return station


def label_image(code: str) -> np.ndarray:
    """A grey camera-like BGR frame (640×480) with the station's label QR, as labels prints it
    (scan_helpers.qr_image lets segno choose, and a text this short becomes a Micro QR)."""
    cells = np.array(list(labels.qr(code).matrix_iter(scale=12, border=4)), dtype=np.uint8)
    code_image = cv2.cvtColor(np.where(cells, 0, 255).astype(np.uint8), cv2.COLOR_GRAY2BGR)
    frame = np.full((480, 640, 3), 170, np.uint8)
    side = min(440, code_image.shape[0])
    code_image = cv2.resize(code_image, (side, side), interpolation=cv2.INTER_NEAREST)
    top, left = (480 - side) // 2, (640 - side) // 2
    frame[top : top + side, left : left + side] = code_image
    return frame


def label_frame(code: str) -> bytes:
    """A camera frame (JPEG) showing the station's label QR."""
    return jpeg(label_image(code))


def scan(client: TestClient, body: bytes | None = None, *, text: str | None = None) -> Any:
    if body is None:
        body = blank_jpeg() if text is None else jpeg(qr_image(text))
    return client.post("/kiosk/station/scan", content=body, headers={"Content-Type": "image/jpeg"})


def report_result(client: TestClient, session: Session, station: str, *, seq: int = 1) -> None:
    """A gateway posts one VR result from the station's device, timed now, without a badge."""
    create_device(
        session,
        ACTOR,
        DeviceCreate(code=station, kind="vr_pod", station=station),  # type: ignore[arg-type]
    )
    token = make_token(session, user=make_user(session, role=Role.gateway))
    session.rollback()  # end the read: the server's writes come next
    now = dt.datetime.now(dt.UTC).isoformat()
    body = item(result_frame(seq, ts=now, dev=station), station=station) | {"received_at": now}
    response = client.post("/api/v1/device-results", json={"items": [body]}, headers=auth(token))
    assert response.status_code == 200, response.text
    assert [r["status"] for r in response.json()["results"]] == ["accepted"]
