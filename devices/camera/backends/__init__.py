"""Camera frame backends, one module per kind of source, imported only when a URL of theirs is
opened (devices/camera/sources.py holds the registry)."""
