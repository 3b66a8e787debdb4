"""Trainees: registration, identity documents and roster import."""
