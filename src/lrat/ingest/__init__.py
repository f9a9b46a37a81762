"""Ingestion: every agent log format into one normalized trajectory record (``trajectory-formats.md`` §8–§9)."""
