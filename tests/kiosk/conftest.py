"""Kiosk test set-up: a trainee with a PIN and a session open now, a kiosk screen, and a real
headless Chromium (Debian's /usr/bin/chromium, driven by Playwright) against the real server.

Without Chromium the browser tests are skipped locally with the reason; with CI=true they fail.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session

from server.scheduling.models import ClassSession, Course
from server.trainees.models import Trainee
from tests.conftest import IN_CI, serving
from tests.factories import (
    PIN,
    course_around_today,
    enrol,
    make_kiosk,
    make_session_now,
    make_trainee,
    set_pin,
)

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DESKTOP = {"width": 1920, "height": 1080}
PHONE = {"width": 390, "height": 844}
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "kiosk"


@dataclass
class Hall:
    """What a kiosk test needs: a trainee who may sign in, their session now, a kiosk screen."""

    trainee: Trainee
    course: Course
    class_session: ClassSession
    kiosk_code: str
    setup_code: str
    pin: str = PIN


@pytest.fixture
def hall(session: Session) -> Hall:
    course = course_around_today(session)
    trainee = make_trainee(session, name="郭磊")
    enrol(session, course=course, trainee=trainee)
    set_pin(session, trainee=trainee)
    row = make_session_now(session, course=course)
    station, code = make_kiosk(session)
    return Hall(trainee, course, row, station.code, code)


@pytest.fixture
def kiosk_server(db_url: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """`safetrain serve --workers 2` on the test database; a test marked
    `@pytest.mark.kiosk_env(NAME="value")` gets those settings too (a short idle time)."""
    marker = request.node.get_closest_marker("kiosk_env")
    extra = dict(marker.kwargs) if marker else {}
    with serving(db_url, tmp_path / "kiosk-serve.log", extra) as base:
        yield base


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Chromium for one test module. Not for the session: Playwright's sync API keeps an event
    loop running in the main thread while it is started, and every later test that calls
    asyncio.run() would fail ("cannot be called from a running event loop")."""
    if not os.path.exists(CHROMIUM):
        reason = f"{CHROMIUM} is missing: apt-get install chromium chromium-driver"
        if IN_CI:
            pytest.fail(f"CI=true but {reason}", pytrace=False)
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)
        yield chromium
        chromium.close()


def _page(browser: Any, base_url: str, **options: Any) -> Iterator[Any]:
    context = browser.new_context(base_url=base_url, locale="zh-CN", **options)
    context.set_default_timeout(10_000)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def page(browser: Any, kiosk_server: str) -> Iterator[Any]:
    """A 1920×1080 touch-screen page on the test's server."""
    yield from _page(browser, kiosk_server, viewport=DESKTOP, has_touch=True)


@pytest.fixture
def phone(browser: Any, kiosk_server: str) -> Iterator[Any]:
    yield from _page(browser, kiosk_server, viewport=PHONE, has_touch=True, is_mobile=True)


def set_up_screen(page: Any, hall: Hall) -> None:
    """What an admin does once at the kiosk: type the setup code in."""
    page.goto("/kiosk")
    assert page.url.endswith("/kiosk/setup")
    page.fill("#code", hall.setup_code)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/kiosk$"))


def small_targets(page: Any, pixels: int, selector: str = "button, a.button") -> list[str]:
    """The visible elements matching the selector that are under `pixels` either way, each
    described by its text (or id, or value) and box: [] when every touch target is big enough."""
    visible = ", ".join(f"{part.strip()}:visible" for part in selector.split(","))
    small = []
    for el in page.query_selector_all(visible):
        box = el.bounding_box()
        if box and (box["height"] < pixels or box["width"] < pixels):
            name = el.inner_text() or el.get_attribute("id") or el.get_attribute("value")
            small.append(f"{name}: {box}")
    return small


def shot(page: Any, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
