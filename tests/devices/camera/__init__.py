"""Tests of devices/camera."""
