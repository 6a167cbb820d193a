"""Every exception the service raises on purpose, in one tree.

IntakeError
├── InvalidInput            bad input from a citizen, a channel or staff (HTTP 422 / 400)
├── Forbidden               a failed signature or secret, or a role that may not act (HTTP 403)
├── NotFound                no such ticket, or not yours to see (HTTP 404, same answer for both)
├── Conflict                an action the ticket's state does not allow (HTTP 409)
│   └── InvalidTransition
├── Unauthorized            no credentials where they are needed (HTTP 401)
├── TooLarge                a request body over the configured limit (HTTP 413)
├── TooManyRequests         over a rate limit; `retry_after` seconds (HTTP 429)
├── Unavailable             a backing service (Redis, the database) is down; nothing was
│                           acknowledged, try again after `retry_after` seconds (HTTP 503)
├── ConfigurationError      settings that cannot work (refused at start-up)
└── SendError               an outbound delivery failed
    ├── TransientSendError  retry later (after `retry_after` seconds when the provider says)
    └── PermanentSendError  never retry; recorded on the ticket
        ├── UnreachableError  this channel cannot reach the recipient: fall back to another
        └── SendSkipped       held back on purpose (a loop-guard cap): no retry, no fallback
"""

from __future__ import annotations


class IntakeError(Exception):
    """Base of every deliberate error of the service."""


class InvalidInput(IntakeError):
    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class Forbidden(IntakeError):
    pass


class NotFound(IntakeError):
    pass


class Conflict(IntakeError):
    pass


class InvalidTransition(Conflict):
    def __init__(self, *, action: str, status: str) -> None:
        super().__init__(f"action '{action}' is not allowed while the ticket is '{status}'")
        self.action = action
        self.status = status


class Unauthorized(IntakeError):
    pass


class TooLarge(IntakeError):
    pass


class TooManyRequests(IntakeError):
    def __init__(self, message: str, *, retry_after: int = 60) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Unavailable(IntakeError):
    def __init__(self, message: str, *, retry_after: int = 5) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ConfigurationError(IntakeError):
    pass


class SendError(IntakeError):
    pass


class TransientSendError(SendError):
    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentSendError(SendError):
    pass


class UnreachableError(PermanentSendError):
    """The recipient cannot be reached on this channel (unsubscribed, blocked, window closed)."""


class SendSkipped(PermanentSendError):
    """The channel chose not to send (e.g. the per-address cap on automatic e-mail).

    A permanent error, so that a caller unaware of it never retries; the notifier records the
    delivery as skipped and tries no other channel: sending elsewhere would defeat the guard.
    """

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason
