"""Liveness and readiness probes for load balancers and operators."""
