"""Errors a user can cause: the CLI prints their one-line message and exits 2."""


class UserError(Exception):
    """Bad flags, unknown names, missing data, unreachable services: one line, exit code 2."""
