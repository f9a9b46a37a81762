"""MkDocs hook: the command-line reference, generated from the Typer app ``lrat.cli:app`` at every build.

``docs/reference/cli.md`` holds the marker ``<!-- lrat-cli-reference -->``; this hook replaces it with a table of
every command and, per command (sub-commands of ``simulate`` and ``experiment`` included), exactly what
``lrat ... --help`` prints. The text comes from the CLI itself, in process, so the page cannot drift from
``--help``. A command whose help fails (or an app that does not import) fails the build.
"""

from __future__ import annotations

import html
from collections.abc import Iterator

MARKER = "<!-- lrat-cli-reference -->"
PAGE = "reference/cli.md"
PROG = "lrat"
# click caps help at 80 columns; a fixed COLUMNS keeps the text identical whatever terminal builds the docs.
ENV = {"COLUMNS": "80", "LINES": "24", "NO_COLOR": "1", "TERM": "dumb"}


def _walk(command, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], object]]:
    """(path, command) for every visible command below ``command``, in the order the app registers them."""
    for name, sub in (getattr(command, "commands", None) or {}).items():
        if getattr(sub, "hidden", False):
            continue
        yield (*path, name), sub
        yield from _walk(sub, (*path, name))


def _anchor(path: tuple[str, ...]) -> str:
    return "-".join((PROG, *path))


def _help(app, path: tuple[str, ...]) -> str:
    from typer.testing import CliRunner

    result = CliRunner().invoke(app, [*path, "--help"], prog_name=PROG, env=ENV, catch_exceptions=False)
    if result.exit_code != 0:
        raise RuntimeError(f"`{PROG} {' '.join(path)} --help` exited {result.exit_code}: {result.output}")
    return result.output.rstrip() + "\n"


def render() -> str:
    import typer

    from lrat.cli import app

    root = typer.main.get_command(app)
    commands = list(_walk(root))
    lines = ["| command | what it does |", "|---|---|"]
    for path, command in commands:
        short = html.escape(command.get_short_help_str(limit=100)).replace("|", "\\|").replace("*", "\\*")
        lines.append(f"| [`{PROG} {' '.join(path)}`](#{_anchor(path)}) | {short} |")
    out = ["\n".join(lines), f"## `{PROG}` {{#{PROG}}}", f"```text\n{_help(app, ())}```"]
    for path, _ in commands:
        level = "#" * (1 + len(path))
        out.append(f"{level} `{PROG} {' '.join(path)}` {{#{_anchor(path)}}}")
        out.append(f"```text\n{_help(app, path)}```")
    return "\n\n".join(out) + "\n"


def on_page_markdown(markdown: str, page, config, files) -> str:
    if page.file.src_uri != PAGE:
        return markdown
    if MARKER not in markdown:
        raise RuntimeError(f"{PAGE} lost its marker {MARKER}")
    return markdown.replace(MARKER, render())
