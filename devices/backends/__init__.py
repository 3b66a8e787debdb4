"""Device backends, one module per transport, imported only when a URL of theirs is opened."""
