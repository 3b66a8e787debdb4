"""The ASGI entry point uvicorn workers import: `server.asgi:app`."""

import gc

from server.app import create_app

app = create_app()

# What the process holds after start-up (~170,000 objects: modules, the curricula, the app)
# never becomes garbage, yet every full collection walked it: 80 ms, every few requests of a
# busy page (docs/benchmarks.md, the calendar's p95). Leave it out of the collector.
gc.collect()
gc.freeze()
