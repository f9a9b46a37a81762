"""The label validation gate (``lrat validate``): mined labels against a versioned Great Expectations suite.

Kept light on purpose: the CLI imports ``lrat.validation.command`` at start-up, and Great Expectations (about 4 s
to import) loads only when ``validate`` is first used.
"""

from __future__ import annotations

from typing import Any

__all__ = ["validate"]


def __getattr__(name: str) -> Any:
    if name == "validate":
        from lrat.validation.gate import validate

        return validate
    raise AttributeError(f"module 'lrat.validation' has no attribute {name!r}")
