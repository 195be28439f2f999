"""The kernel's error types: problems a user can fix, and registry look-up failures.

Every area raises :class:`UserError` (or a subclass) for bad input it can name; the
``looptool`` command prints such an error without a traceback and exits with status 2.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class UserError(RuntimeError):
    """A problem the user can fix; printed without a traceback."""


class UnknownNameError(UserError, LookupError):
    """A name that no registry entry (or other named choice) has; the message suggests the
    closest known names. Areas subclass it (``UnknownBackendError``, ``UnknownRewardError``)."""

    def __str__(self) -> str:  # KeyError subclasses would otherwise print the message quoted
        return str(self.args[0]) if self.args else "unknown name"


class DuplicateNameError(UserError, ValueError):
    """A second, different object registered under a name that is already taken."""


def did_you_mean(name: str, known: Iterable[str], *, cutoff: float = 0.6, limit: int = 3) -> str:
    """``"; did you mean 'a' or 'b'?"`` for the known names closest to ``name``, else ``""``."""
    close = difflib.get_close_matches(name, sorted(set(known)), n=limit, cutoff=cutoff)
    if not close:
        return ""
    return f"; did you mean {' or '.join(repr(item) for item in close)}?"


def unknown_name_message(name: str, known: Iterable[str], what: str) -> str:
    """``unknown <what> 'x'; did you mean 'y'? (known: a, b, y)``."""
    names = sorted(set(known))
    listing = ", ".join(names) if names else "none"
    return f"unknown {what} {name!r}{did_you_mean(name, names)} (known: {listing})"
