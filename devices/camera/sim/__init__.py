"""Simulated cameras: scenes that look like what a station's camera sees (a pod screen showing a
result QR, a rig's LED display), degraded as a real camera degrades them."""
