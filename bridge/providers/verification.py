"""What several kinds' verify() and sign() share: URL tokens, required headers, HTTP Basic credentials,
constant-time matching against every configured secret, and signed UNIX times.

Kinds that sign nothing (Tencent, Alibaba, Vonage's opt-in unsigned SMS) authenticate a callback by
a secret token in its URL: the endpoint takes it from the last path segment or the `token` query
parameter into `RawCallback.url_token`; `check_url_token` compares it, `with_url_token` puts it
where the provider will send it. Kinds with rotating secrets compare the given signature with the
one of every secret through `matches_any`, so the time taken does not tell which secret matched.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Iterable, Mapping
from typing import Annotated, Final
from urllib.parse import urlsplit, urlunsplit

from pydantic import AfterValidator, Field

from bridge.errors import VerificationError
from bridge.redact import Secret

MIN_TOKEN_LENGTH: Final = 16


def long_enough(token: Secret) -> Secret:
    """A URL token must be hard to guess: at least MIN_TOKEN_LENGTH characters (ValueError otherwise)."""
    if len(token.reveal()) < MIN_TOKEN_LENGTH:
        raise ValueError(f"must be at least {MIN_TOKEN_LENGTH} characters")
    return token


UrlToken = Annotated[Secret, Field(description=f"at least {MIN_TOKEN_LENGTH} characters"), AfterValidator(long_enough)]


def check_url_token(given: str | None, token: bytes | None, *, missing: str = "callback URL carries no token") -> None:
    """Refuse a callback whose URL token is absent (or the instance has none) or is not the instance's
    (one constant-time compare); `missing` is the message for the first case."""
    if given is None or token is None:
        raise VerificationError("missing_credentials", missing)
    if not hmac.compare_digest(given.encode("utf-8", "surrogatepass"), token):
        raise VerificationError("bad_token", "callback URL token does not match")


def with_url_token(url: str, token: str) -> str:
    """`url` with `token` as its last path segment, as an unsigned kind's callbacks are addressed."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=parts.path.rstrip("/") + "/" + token))


def required_headers(headers: Mapping[str, str], *names: str) -> list[str]:
    """The values of the named headers, in order; missing_credentials names the first absent or empty one."""
    values = [headers.get(name, "") for name in names]
    for name, value in zip(names, values, strict=True):
        if not value:
            raise VerificationError("missing_credentials", f"header {name}: required")
    return values


def check_basic_auth(authorization: str, user: bytes, password: bytes) -> None:
    """Refuse an Authorization header that is not HTTP Basic (RFC 7617) with this user and password; both
    parts are compared in constant time, whichever differs."""
    scheme, _, credentials = authorization.strip().partition(" ")
    if scheme.lower() != "basic" or not credentials.strip():
        raise VerificationError("missing_credentials", "header Authorization: Basic credentials required")
    try:
        decoded = base64.b64decode(credentials.strip().encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError) as exc:
        raise VerificationError("bad_token", "header Authorization: Basic credentials are not base64") from exc
    given_user, _, given_password = decoded.partition(b":")
    same_user = hmac.compare_digest(given_user, user)
    same_password = hmac.compare_digest(given_password, password)
    if not (same_user and same_password):
        raise VerificationError("bad_token", "header Authorization: Basic credentials do not match")


def basic_auth(user: bytes, password: bytes) -> str:
    """The Authorization header value that check_basic_auth accepts for this user and password."""
    return "Basic " + base64.b64encode(user + b":" + password).decode("ascii")


def matches_any(given: Iterable[bytes], expected: Iterable[bytes]) -> bool:
    """True when one given value equals one expected value (one per configured secret, or per form the
    provider may have signed). Every pair is compared, each in constant time, without stopping early."""
    candidates = tuple(expected)
    found = False
    for value in given:
        for candidate in candidates:
            found |= hmac.compare_digest(value, candidate)
    return found


def signed_time(text: str, message: str, *, digits: int = 12) -> int:
    """A signed time given as at most `digits` ASCII digits; VerificationError (stale_timestamp) with
    `message` otherwise. Checked after the signature, so a forged time is a bad signature first."""
    if not (text.isdigit() and text.isascii()) or len(text) > digits:
        raise VerificationError("stale_timestamp", message)
    return int(text)
