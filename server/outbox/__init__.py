"""The push outbox: certificate changes delivered to the regulator's endpoint, at least once,
in order, signed, surviving restarts (docs/architecture.md, "Regulator push")."""
