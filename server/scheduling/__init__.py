"""Scheduling: rooms and stations, courses and their sessions, enrolment, attendance and hours."""
