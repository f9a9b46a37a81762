"""Whether a given labels file passed the gate: training records it, so promotion can refuse a model whose labels
were never validated (or failed) without re-running Great Expectations."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def validation_status(result_path: Path | None, labels_sha256: str) -> tuple[str, dict[str, Any] | None]:
    """``("passed" | "failed" | "missing", result)``: "missing" when there is no result, or it is about other
    labels (a different SHA-256), so a stale verdict never vouches for new labels."""
    if result_path is None or not Path(result_path).is_file():
        return "missing", None
    try:
        result = json.loads(Path(result_path).read_text(encoding="utf-8"))
    except ValueError:
        return "missing", None
    if not isinstance(result, dict) or result.get("labels_sha256") != labels_sha256:
        return "missing", result if isinstance(result, dict) else None
    return ("passed" if result.get("success") is True else "failed"), result
