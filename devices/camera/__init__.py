"""Cameras at the stations: frame sources, the result-QR reader for VR pods, the seven-segment
reader for legacy rigs, exam recordings, and simulated cameras (devices/camera/sim)."""
