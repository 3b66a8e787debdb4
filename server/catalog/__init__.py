"""Read-only API over the curricula and regulation rule sets shipped in curricula/."""
