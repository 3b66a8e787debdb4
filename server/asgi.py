"""The ASGI entry point uvicorn workers import: `server.asgi:app`."""

from server.app import create_app

app = create_app()
