"""Shared verification schemes as values: URL token and shared secret header, and the provider base that uses one."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from bridge.errors import VerificationError
from bridge.providers.base import JSON, Outgoing, RawCallback, StrictModel, Verified
from bridge.providers.schemes import SharedSecret, SharedSecretHeader, UrlTokenScheme
from bridge.providers.verification import MIN_TOKEN_LENGTH
from bridge.redact import Secret

RECEIVED = datetime(2025, 1, 1, tzinfo=UTC)
TOKEN = "t" * MIN_TOKEN_LENGTH
OLD, NEW = "old-shared-secret-0123", "new-shared-secret-4567"
REQUEST = Outgoing("POST", "https://bridge.example/callbacks/x", {"content-type": JSON}, b"{}")


def callback(headers: dict[str, str] | None = None, token: str | None = None) -> RawCallback:
    return RawCallback(b"{}", headers or {}, None, RECEIVED, token)


class HeaderSettings(StrictModel):
    secrets: tuple[SharedSecret, ...]


def test_the_url_token_scheme_verifies_its_token_and_refuses_others() -> None:
    scheme = UrlTokenScheme(Secret(TOKEN))
    assert scheme.verify(callback(token=TOKEN)) == Verified(callback(token=TOKEN))
    with pytest.raises(VerificationError, match="does not match") as wrong:
        scheme.verify(callback(token=TOKEN + "x"))
    assert wrong.value.reason == "bad_token"
    with pytest.raises(VerificationError, match="unsigned callback") as missing:
        UrlTokenScheme(Secret(TOKEN), missing="unsigned callback: URL token required").verify(callback())
    assert missing.value.reason == "missing_credentials"


def test_the_url_token_scheme_signs_with_the_token_as_last_path_segment() -> None:
    signed = UrlTokenScheme(Secret(TOKEN)).sign(REQUEST)
    assert signed == Outgoing("POST", f"{REQUEST.url}/{TOKEN}", REQUEST.headers, REQUEST.body)


def test_a_shared_secret_header_accepts_any_configured_secret_and_signs_with_the_first() -> None:
    scheme = SharedSecretHeader("X-Hook-Secret", (Secret(NEW), Secret(OLD)))
    for secret in (NEW, OLD):
        assert scheme.verify(callback({"x-hook-secret": secret})).raw.headers == {"x-hook-secret": secret}
    assert scheme.sign(REQUEST).headers == {"content-type": JSON, "x-hook-secret": NEW}
    assert scheme.verify(callback(dict(scheme.sign(REQUEST).headers)))


@pytest.mark.parametrize(("headers", "reason"), [({}, "missing_credentials"), ({"x-hook-secret": " "},
                                                 "missing_credentials"), ({"x-hook-secret": OLD + "x"}, "bad_token"),
                                                ({"x-hook-secret": "\udcff"}, "bad_token")])
def test_a_shared_secret_header_refuses_an_absent_or_other_secret(headers: dict[str, str], reason: str) -> None:
    with pytest.raises(VerificationError, match="header x-hook-secret") as caught:
        SharedSecretHeader("x-hook-secret", (Secret(OLD),)).verify(callback(headers))
    assert caught.value.reason == reason


def test_a_shared_secret_is_its_own_settings_type_and_must_be_long_enough() -> None:
    with pytest.raises(ValidationError, match="at least"):
        HeaderSettings.model_validate({"secrets": ["short"]})
    assert HeaderSettings.model_validate({"secrets": [OLD]}).secrets[0].reveal() == OLD
    assert "header" in (HeaderSettings.model_json_schema()["properties"]["secrets"]["items"].get("description") or "")


def test_basic_auth_and_all_of_require_each_scheme_in_order_and_sign_with_each() -> None:
    from bridge.providers.schemes import AllOf, BasicAuthScheme

    scheme = AllOf(UrlTokenScheme(Secret(TOKEN)), BasicAuthScheme(Secret("user"), Secret("pass-word")))
    signed = scheme.sign(REQUEST)
    assert signed.url.endswith("/" + TOKEN) and signed.headers["authorization"].startswith("Basic ")
    good = callback({"authorization": signed.headers["authorization"]}, TOKEN)
    assert scheme.verify(good) == Verified(good)
    with pytest.raises(VerificationError, match="URL token") as token_first:  # the first refusal decides
        scheme.verify(callback({"authorization": "Basic eDp5"}, TOKEN + "x"))
    assert token_first.value.reason == "bad_token"
    with pytest.raises(VerificationError, match="Basic credentials do not match"):
        scheme.verify(callback({"authorization": "Basic dXNlcjpvdGhlcg=="}, TOKEN))  # user:other
    with pytest.raises(VerificationError, match="Basic credentials required") as missing:
        scheme.verify(callback({}, TOKEN))
    assert missing.value.reason == "missing_credentials"
