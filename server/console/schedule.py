"""Console pages for planning: week calendar, courses, sessions, sign-in sheets."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/console")
