"""The store's errors (all under :class:`classifier.errors.NotecheckError`)::

    StoreError
    ├── StoreUnavailable       the database cannot be reached, or stayed locked past the timeout
    ├── NotFound (LookupError) no such queue item / note
    ├── Conflict               the item cannot be claimed or decided by this reviewer now:
    │                          ``reason`` is ``claimed`` (another reviewer holds the lease,
    │                          ``claimed_by``/``lease_until`` say who and until when), ``decided``,
    │                          ``superseded`` (a newer version of the note is queued) or
    │                          ``reviewed`` (this reviewer already decided it)
    └── InvalidArgument (ValueError)  a bad argument; ``field`` names it (cursor, label ...)
"""

from __future__ import annotations

from datetime import datetime

from classifier.errors import NotecheckError

__all__ = ["Conflict", "InvalidArgument", "NotFound", "StoreError", "StoreUnavailable"]


class StoreError(NotecheckError):
    """Base of the store's errors."""


class StoreUnavailable(StoreError):
    """The database cannot be reached (down, refused, locked past the busy timeout)."""


class NotFound(StoreError, LookupError):
    """No such queue item or note; ``field`` names what was looked up."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


class Conflict(StoreError):
    """The item cannot be claimed or decided by this reviewer now (see the module docstring)."""

    def __init__(self, message: str, *, reason: str, claimed_by: str | None = None,
                 lease_until: datetime | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.claimed_by = claimed_by
        self.lease_until = lease_until


class InvalidArgument(StoreError, ValueError):
    """A bad argument; ``field`` names it."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field
