"""MkDocs hook: the figures under ``reports/`` (written by ``make run`` and committed) become part of the site as
``reports/<name>.png``, so pages link them as ``../reports/<name>.png`` without a copy under ``docs/``."""

from __future__ import annotations

from pathlib import Path

from mkdocs.structure.files import File

REPORTS = Path(__file__).resolve().parents[2] / "reports"


def on_files(files, config):
    for png in sorted(REPORTS.glob("*.png")):
        uri = f"reports/{png.name}"
        if files.get_file_from_path(uri) is None:
            files.append(File.generated(config, uri, abs_src_path=str(png)))
    return files
