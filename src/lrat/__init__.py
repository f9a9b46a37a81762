"""lrat: learn retrievers from the trajectories of LLM search agents (LRAT, SIGIR 2026)."""

from __future__ import annotations

from lrat._offline import apply_offline_defaults

apply_offline_defaults()

__version__ = "0.1.0"
