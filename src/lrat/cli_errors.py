"""The one way a command reports a usage error: one ``Error:`` line on stderr and exit 2, never a traceback.

Usage errors are bad settings or flags (ValueError, ParamsError), missing inputs (FileNotFoundError), what the
registry cannot do (RegistryError) and a tracking store that failed (MLflow, HTTP or database errors: the store,
not the command, is at fault). The root command group wraps every command in it too, so nothing that escapes a
command's own block ends in a traceback either.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer

from lrat.errors import UsageError

_STORE_MODULES = ("mlflow", "requests", "urllib3", "sqlalchemy")


def usage_error(message: str) -> typer.Exit:
    """Print ``message`` as a usage error; ``raise usage_error(...)`` ends the command with exit 2."""
    typer.echo(f"Error: {message}", err=True)
    return typer.Exit(2)


@contextmanager
def usage_errors() -> Iterator[None]:
    try:
        yield
    except Exception as exc:
        if isinstance(exc, ValueError | FileNotFoundError | UsageError):
            raise usage_error(str(exc)) from None
        if type(exc).__module__.split(".")[0] in _STORE_MODULES:
            first = (str(exc).splitlines() or [""])[0][:500]
            raise usage_error(f"the tracking store failed: {type(exc).__name__}: {first}") from None
        raise
