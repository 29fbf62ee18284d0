"""Verification schemes several kinds share, as values: a kind that needs nothing but one of them
declares it, and SchemeProvider supplies its verify(), restore() and sign().

- `UrlTokenScheme`: the instance's secret token in the callback URL (Tencent, Alibaba: unsigned kinds).
- `SharedSecretHeader`: the instance's shared secret, verbatim, in a named header (one of several
  while rotating); its settings type is `SharedSecret`, not a URL token.
- `BasicAuthScheme`: HTTP Basic credentials (RFC 7617), both parts compared in constant time.
- `AllOf`: several of them, each required (Infobip: the URL token, and Basic when configured).

A scheme proves authenticity only: it signs no time and names no replay key, so a kind with a
signed time or nonce writes its own verify() (its signature helper holds the long part). HMAC over
body, time and nonce is Sinch's alone (the test-only Echo kind signs another layout), so it is no
shared value yet.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Annotated, Final, Protocol, TypeVar

from pydantic import AfterValidator, Field

from bridge.errors import VerificationError
from bridge.providers.base import InstanceSettings, Outgoing, Provider, RawCallback, Verified
from bridge.providers.verification import (
    MIN_TOKEN_LENGTH,
    basic_auth,
    check_basic_auth,
    check_url_token,
    long_enough,
    matches_any,
    with_url_token,
)
from bridge.redact import Secret

SharedSecret = Annotated[
    Secret,
    Field(description=f"sent verbatim in a header; at least {MIN_TOKEN_LENGTH} characters"),
    AfterValidator(long_enough),
]
NO_URL_TOKEN: Final = "callback URL carries no token"  # noqa: S105 (a message, not a password)


class Scheme(Protocol):
    """How a callback proves it comes from the provider; pure. verify() raises only VerificationError."""

    def verify(self, callback: RawCallback) -> Verified: ...

    def sign(self, request: Outgoing) -> Outgoing:
        """`request` with the credentials the provider would add (for `send`, tests and the benchmark)."""
        ...


class UrlTokenScheme:
    """The instance's URL token: the last path segment or the `token` query parameter, one constant-time compare."""

    def __init__(self, token: Secret, *, missing: str = NO_URL_TOKEN) -> None:
        self._token = token.reveal()
        self._expected = self._token.encode("utf-8")
        self._missing = missing

    def verify(self, callback: RawCallback) -> Verified:
        check_url_token(callback.url_token, self._expected, missing=self._missing)
        return Verified(callback)

    def sign(self, request: Outgoing) -> Outgoing:
        return replace(request, url=with_url_token(request.url, self._token))


class SharedSecretHeader:
    """A shared secret sent verbatim in `header` (lower case); any of `secrets` (newest first) is accepted,
    each compared in constant time."""

    def __init__(self, header: str, secrets: Sequence[Secret]) -> None:
        if not secrets:
            raise ValueError("a shared secret header needs at least one secret")
        self.header = header.lower()
        self._secrets = tuple(s.reveal().encode("utf-8") for s in secrets)

    def verify(self, callback: RawCallback) -> Verified:
        given = callback.headers.get(self.header, "").strip()
        if not given:
            raise VerificationError("missing_credentials", f"header {self.header}: required")
        if not matches_any([given.encode("utf-8", "surrogatepass")], self._secrets):
            raise VerificationError("bad_token", f"header {self.header}: does not match")
        return Verified(callback)

    def sign(self, request: Outgoing) -> Outgoing:
        return replace(request, headers={**request.headers, self.header: self._secrets[0].decode("utf-8")})


class BasicAuthScheme:
    """HTTP Basic credentials in `Authorization`: this user and password, each compared in constant time."""

    def __init__(self, user: Secret, password: Secret) -> None:
        self._user = user.reveal().encode("utf-8")
        self._password = password.reveal().encode("utf-8")

    def verify(self, callback: RawCallback) -> Verified:
        check_basic_auth(callback.headers.get("authorization", ""), self._user, self._password)
        return Verified(callback)

    def sign(self, request: Outgoing) -> Outgoing:
        return replace(request, headers={**request.headers, "authorization": basic_auth(self._user, self._password)})


class AllOf:
    """Every one of `schemes`, in order: the first that refuses decides the reply."""

    def __init__(self, *schemes: Scheme) -> None:
        self.schemes = schemes

    def verify(self, callback: RawCallback) -> Verified:
        for scheme in self.schemes:
            scheme.verify(callback)
        return Verified(callback)

    def sign(self, request: Outgoing) -> Outgoing:
        for scheme in self.schemes:
            request = scheme.sign(request)
        return request


S = TypeVar("S", bound=InstanceSettings)


class SchemeProvider(Provider[S, Verified]):
    """A kind proved by one shared scheme alone: it sets `scheme` in __init__ and writes no verify(),
    restore() or sign(). restore() trusts the dead letter (it was verified when written); sign() posts
    the body as the kind's first media type with the scheme's credentials."""

    scheme: Scheme

    def verify(self, callback: RawCallback) -> Verified:
        return self.scheme.verify(callback)

    def restore(self, callback: RawCallback) -> Verified:
        return Verified(callback)

    def sign(self, url: str, body: bytes, sample: str, now: float) -> Outgoing:
        return self.scheme.sign(Outgoing("POST", url, {"content-type": next(iter(self.media_types))}, body))
