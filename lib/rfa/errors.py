"""User-facing errors.

Every error a user can cause (bad account, flow, engineer, period, unreachable
database) is an :class:`RFAError` whose message says what was wrong and what is
accepted. The CLI prints ``str(error)`` and exits non-zero, without a traceback.
"""

from __future__ import annotations

from collections.abc import Iterable


class RFAError(Exception):
    """Base class of errors meant to be shown to a user as one clear message."""

    exit_code = 2


class ParameterError(RFAError, ValueError):
    """A parameter has a value that is not accepted.

    ``field`` names the parameter, ``value`` the rejected value and ``accepted``
    describes what would have been accepted.
    """

    def __init__(self, field: str, value: object, accepted: str, reason: str | None = None):
        self.field = field
        self.value = value
        self.accepted = accepted
        why = f" ({reason})" if reason else ""
        super().__init__(f"invalid {field} {value!r}{why}; accepted: {accepted}")


class NotFoundError(RFAError, LookupError):
    """An account, flow or engineer that does not exist in the account's scope."""

    def __init__(self, kind: str, value: object, scope: str, accepted: str):
        self.kind = kind
        self.value = value
        super().__init__(f"unknown {kind} {value!r}{scope}; accepted: {accepted}")


class DatabaseUnavailable(RFAError, ConnectionError):
    """The database cannot be reached or opened. The message never holds a password."""

    exit_code = 3


def preview(names: Iterable[str], limit: int = 8) -> str:
    """Return ``"a, b, c (and 12 more)"`` for a list of accepted values."""
    items = list(names)
    shown = ", ".join(items[:limit])
    rest = len(items) - limit
    return f"{shown} (and {rest} more)" if rest > 0 else shown or "(none)"
