"""The append-only, SHA-256-chained audit log of every change that matters."""
