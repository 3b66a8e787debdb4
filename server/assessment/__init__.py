"""Assessment in the server: theory sittings, practical checklists, device attempts, results."""
