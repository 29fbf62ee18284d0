"""The exception hierarchy: every failure the bridge names, with a closed reason code."""

from __future__ import annotations

from typing import Literal

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

    The message names the field and the rule, never a value that may be secret or personal.
    """

    status: int = 400

    def __init__(self, reason: Reason, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.reason: Reason = reason
        if status is not None:
            self.status = status


class RequestError(CallbackError):
    """The HTTP request itself is unacceptable (method, media type, size, path, load)."""


class VerificationError(CallbackError):
    """The callback could not be proven authentic. Never published, never dead-lettered."""

    status = 401


class MalformedCallbackError(CallbackError):
    """The callback is authentic but cannot be understood: 400 and a dead-letter record."""

    status = 400


class PublishError(BridgeError):
    """Kafka did not acknowledge every record; the provider gets its failure reply."""

    def __init__(self, reason: PublishReason, message: str, *, retriable: bool = True) -> None:
        super().__init__(message)
        self.reason: PublishReason = reason
        self.retriable = retriable
