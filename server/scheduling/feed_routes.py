"""Calendar feeds (iCalendar) and attendance exports (CSV, XLSX)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["calendar and exports"])
