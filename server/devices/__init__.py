"""Devices in the server: registry, gateway batches, station bindings, result attribution."""
