"""User-facing errors.

Every error a user can cause (bad account, flow, engineer, period, unreachable
database) is an :class:`RFAError` whose message says what was wrong and what is
accepted. The CLI prints ``str(error)`` and exits non-zero, without a traceback.
"""

from __future__ import annotations

import re
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


class BadRowError(RFAError):
    """A database row that a page needs cannot be used: an account whose timezone is not
    an IANA name or whose slug cannot name a folder, a flow without a name, an engineer
    with neither a name nor an email.

    Only the pages that need the row fail (the publish reports this message for each of
    them, in its summary and the index); every other page publishes. Raised to the CLI
    (``--account`` naming an account whose own row is bad: nothing asked for can be
    published) it is bad input, exit 2. ``what`` names the
    row (``"account 'kiwi-tech'"``, ``"flow 3f2a…"``), ``problem`` what is wrong with it
    (naming the column), ``accepted`` what would have been accepted and ``row_id`` the
    row's id.
    """

    exit_code = 2

    def __init__(self, what: str, problem: str, accepted: str, *, row_id: str | None = None):
        self.what = what
        self.problem = problem
        self.row_id = row_id
        """The id of the row (a flow's or a user's), when the page is named by it."""
        super().__init__(f"{what} {problem}; accepted: {accepted}")


_OUTAGE = re.compile(r"(?:cell \[\d+\] )?DatabaseUnavailable: ")


def is_database_outage(error: str | None, label: str = "") -> bool:
    """Whether a failed page's error reports a database outage.

    Input: the page's error text as the batch reports it (``"<label>: cell [4]
    DatabaseUnavailable: …"`` when a notebook cell raised it, ``"<label>:
    DatabaseUnavailable: …"`` when the worker did; the error may span lines, only the
    first is read) and the page's ``label``. Output: ``True`` when the exception that
    failed the page was :class:`DatabaseUnavailable` — the database stayed unreachable
    for the whole retry budget. Text quoted from the database later in the line (a flow
    named ``DatabaseUnavailable: x``) never matches.
    """
    if not error:
        return False
    first = error.splitlines()[0] if error.strip() else ""
    if label:
        first = first.removeprefix(f"{label}: ")
    return _OUTAGE.match(first) is not None


def preview(names: Iterable[str], limit: int = 8) -> str:
    """Return ``"a, b, c (and 12 more)"`` for a list of accepted values."""
    items = list(names)
    shown = ", ".join(items[:limit])
    rest = len(items) - limit
    return f"{shown} (and {rest} more)" if rest > 0 else shown or "(none)"
