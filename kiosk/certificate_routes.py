"""The kiosk's certificate pages (being built)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/kiosk", tags=["kiosk"])
