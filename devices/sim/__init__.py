"""Simulated devices (a VR pod and three rigs) and a stand-in server, shipped as `safetrain sim`.

The same simulators the tests use are what an installer runs to check a hall before the
hardware arrives: each opens a real pseudo-terminal or TCP port and speaks protocol v1.
"""
