"""Errors that are the user's to fix (a usage error: exit 2 on the command line), beyond ValueError and
FileNotFoundError, which count as usage errors too."""


class UsageError(Exception):
    """Something the command was asked cannot be done as asked (no such alias, run or version, ...)."""
