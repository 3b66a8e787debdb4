"""Certificates the base issues: numbers, signed documents, PDFs, lifecycle, verification."""
