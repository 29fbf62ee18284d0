"""The exception hierarchy: every failure the bridge names, with a closed reason code."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import ClassVar, Final, Literal

RequestReason = Literal[
    "not_found",
    "method_not_allowed",
    "unsupported_media_type",
    "body_too_large",
    "bad_request",
    "request_timeout",
    "overloaded",
    "draining",
]
VerificationReason = Literal[
    "missing_credentials",
    "bad_token",
    "bad_signature",
    "unknown_access_key",
    "unsupported_algorithm",
    "stale_timestamp",
    "replay",
    "source_not_allowed",
    "key_unavailable",
]
MalformedReason = Literal[
    "invalid_utf8",
    "invalid_json",
    "wrong_shape",
    "missing_field",
    "invalid_field",
    "too_many_reports",
    "unsupported_callback",
    "record_too_large",
]
PublishReason = Literal["not_connected", "timeout", "broker_error", "spool_full", "spool_failed"]
InternalReason = Literal["internal_error"]
Reason = RequestReason | VerificationReason | MalformedReason | PublishReason | InternalReason
Outcome = Literal["accepted", "rejected", "dead_lettered", "failed"]
"""What became of a callback: stored, refused (nothing stored), stored as a dead letter, or not stored."""

RETRY_AFTER_SECONDS: Final = 5
NOT_STORED: Final = "not stored; retry later"


class BridgeError(Exception):
    """Root of every error the bridge raises on purpose."""


class ConfigError(BridgeError):
    """The configuration is invalid; `problems` lists every one as (dotted path, rule)."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        lines = "\n".join(f"  {path}: {rule}" for path, rule in problems)
        super().__init__(f"invalid configuration ({len(problems)} problem(s)):\n{lines}")


class UsageError(BridgeError):
    """A command-line mistake: the CLI prints the message on one line and exits with `code`."""

    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.code = code


class CallbackError(BridgeError):
    """A callback cannot be accepted. `reason` is a closed code (metric label, log field).

    The message names the field and the rule, never a value that may be secret or personal. Each
    error says what it means for the callback: its `outcome`, the reply's `status`, the reply
    `headers` it needs (Allow, Retry-After: a 503 asks the provider to retry after
    RETRY_AFTER_SECONDS) and how loudly it is logged, so the endpoint needs no type checks.
    """

    status: int = 400
    outcome: ClassVar[Outcome] = "rejected"
    log_level: ClassVar[int] = logging.INFO

    def __init__(
        self, reason: Reason, message: str, *, status: int | None = None, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.reason: Reason = reason
        if status is not None:
            self.status = status
        self._headers = headers

    @property
    def headers(self) -> Mapping[str, str]:
        """Headers the reply must carry because of this error (Allow on a 405, Retry-After on a 503)."""
        if self.status == 503:
            return {**(self._headers or {}), "Retry-After": str(RETRY_AFTER_SECONDS)}
        return self._headers or {}


class RequestError(CallbackError):
    """The HTTP request itself is unacceptable (method, media type, size, path, load)."""


class VerificationError(CallbackError):
    """The callback could not be proven authentic. Never published, never dead-lettered."""

    status = 401
    log_level = logging.WARNING


class MalformedCallbackError(CallbackError):
    """The callback is authentic but cannot be understood: 400 and a dead-letter record."""

    status = 400
    outcome = "dead_lettered"


class InternalError(CallbackError):
    """A bug: the callback failed for a reason the bridge does not name. Logged with its traceback;
    the provider gets its failure reply (an honest 500), so it retries."""

    status = 500
    outcome = "failed"
    log_level = logging.ERROR

    def __init__(self) -> None:
        super().__init__("internal_error", "internal error")


class PublishError(BridgeError):
    """Kafka did not acknowledge every record; the provider gets its failure reply, a 503 that asks it to
    retry. The message is for the log; the provider is told only NOT_STORED (see `refusal`)."""

    def __init__(self, reason: PublishReason, message: str, *, retriable: bool = True) -> None:
        super().__init__(message)
        self.reason: PublishReason = reason
        self.retriable = retriable

    @property
    def refusal(self) -> NotStoredError:
        """The callback error this failure is for the provider."""
        return NotStoredError(self.reason, NOT_STORED, status=503)


class NotStoredError(CallbackError):
    """A verified callback that could not be stored (Kafka or the spool failed): 503, the provider retries."""

    status = 503
    outcome = "failed"
    log_level = logging.ERROR
