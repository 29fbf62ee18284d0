"""The verification pieces several kinds share: URL tokens, matching against every secret, signed times."""

from __future__ import annotations

from typing import Literal

import pytest
from pydantic import ValidationError

from bridge.errors import VerificationError
from bridge.providers.base import StrictModel
from bridge.providers.verification import (
    MIN_TOKEN_LENGTH,
    UrlToken,
    basic_auth,
    check_basic_auth,
    check_url_token,
    matches_any,
    required_headers,
    signed_time,
    with_url_token,
)

TOKEN = "a-url-token-0123456789"


class TokenSettings(StrictModel):
    kind: Literal["x"] = "x"
    url_token: UrlToken


def test_a_url_token_shorter_than_the_minimum_is_refused_with_the_rule() -> None:
    with pytest.raises(ValidationError, match=f"at least {MIN_TOKEN_LENGTH} characters"):
        TokenSettings.model_validate({"url_token": "x" * (MIN_TOKEN_LENGTH - 1)})
    accepted = TokenSettings.model_validate({"url_token": "x" * MIN_TOKEN_LENGTH})
    assert accepted.url_token.reveal() == "x" * MIN_TOKEN_LENGTH
    assert "x" * MIN_TOKEN_LENGTH not in repr(accepted)


def test_the_instance_url_token_is_accepted() -> None:
    check_url_token(TOKEN, TOKEN.encode())


@pytest.mark.parametrize(("given", "token", "missing", "reason", "message"), [
    (None, TOKEN.encode(), None, "missing_credentials", "callback URL carries no token"),
    (TOKEN, None, None, "missing_credentials", "callback URL carries no token"),
    (None, TOKEN.encode(), "unsigned callback: URL token required", "missing_credentials", "unsigned callback"),
    (TOKEN + "x", TOKEN.encode(), None, "bad_token", "does not match"),
    ("", TOKEN.encode(), None, "bad_token", "does not match"),
    ("\ud800" + TOKEN, TOKEN.encode(), None, "bad_token", "does not match"),
])
def test_an_absent_or_other_url_token_is_refused_with_its_reason(
    given: str | None, token: bytes | None, missing: str | None, reason: str, message: str,
) -> None:
    with pytest.raises(VerificationError, match=message) as caught:
        if missing is None:
            check_url_token(given, token)
        else:
            check_url_token(given, token, missing=missing)
    assert caught.value.reason == reason


@pytest.mark.parametrize(("url", "expected"), [
    ("https://b.example/callbacks/t", f"https://b.example/callbacks/t/{TOKEN}"),
    ("https://b.example/callbacks/t/", f"https://b.example/callbacks/t/{TOKEN}"),
    ("https://b.example/callbacks/t?x=1", f"https://b.example/callbacks/t/{TOKEN}?x=1"),
    ("http://127.0.0.1:8080/c", f"http://127.0.0.1:8080/c/{TOKEN}"),
])
def test_the_url_token_becomes_the_last_path_segment_of_the_url(url: str, expected: str) -> None:
    assert with_url_token(url, TOKEN) == expected


def test_matches_any_is_true_when_one_given_value_equals_one_expected_value() -> None:
    assert matches_any([b"old", b"new"], iter([b"other", b"new"]))  # a generator is read once for every given
    assert matches_any([b"a"], [b"b", b"a"])
    assert not matches_any([b"a", b"b"], [b"c", b"d"])
    assert not matches_any([], [b"a"])
    assert not matches_any([b"a"], [])
    assert not matches_any([b"A"], [b"a"])


@pytest.mark.parametrize(("text", "digits", "value"), [("1700000000", 12, 1700000000), ("0", 12, 0),
                                                        ("1700000000000", 16, 1700000000000)])
def test_a_signed_time_of_ascii_digits_is_read_as_an_integer(text: str, digits: int, value: int) -> None:
    assert signed_time(text, "header t: must be UNIX seconds", digits=digits) == value


@pytest.mark.parametrize("text", ["", " 1", "1.5", "-1", "1e9", "\u0661\u0667\u0660\u0660", "\u00b2", "1" * 13, "abc"])
def test_a_signed_time_that_is_not_short_ascii_digits_is_a_stale_timestamp(text: str) -> None:
    with pytest.raises(VerificationError, match="header t: must be UNIX seconds") as caught:
        signed_time(text, "header t: must be UNIX seconds")
    assert caught.value.reason == "stale_timestamp"


def test_required_headers_are_returned_in_order_and_the_first_absent_or_empty_one_is_named() -> None:
    headers = {"x-sig": "s", "x-nonce": "n", "x-empty": ""}
    assert required_headers(headers, "x-sig", "x-nonce") == ["s", "n"]
    for names, missing in ((("x-sig", "x-time", "x-nonce2"), "x-time"), (("x-empty", "x-sig"), "x-empty")):
        with pytest.raises(VerificationError, match=f"header {missing}: required") as caught:
            required_headers(headers, *names)
        assert caught.value.reason == "missing_credentials"


def test_basic_credentials_made_for_a_user_and_password_are_accepted() -> None:
    header = basic_auth(b"user", b"pa:ss")
    assert header == "Basic dXNlcjpwYTpzcw=="
    check_basic_auth(header, b"user", b"pa:ss")
    check_basic_auth("  basic dXNlcjpwYTpzcw==  ", b"user", b"pa:ss")


@pytest.mark.parametrize(("header", "reason", "message"), [
    ("", "missing_credentials", "Basic credentials required"),
    ("Bearer abc", "missing_credentials", "Basic credentials required"),
    ("Basic ", "missing_credentials", "Basic credentials required"),
    ("Basic not*base64", "bad_token", "not base64"),
    ("Basic \u00e9\u00e9\u00e9\u00e9", "bad_token", "not base64"),
    (basic_auth(b"user", b"other"), "bad_token", "do not match"),
    (basic_auth(b"other", b"pa:ss"), "bad_token", "do not match"),
    (basic_auth(b"userpa", b"ss"), "bad_token", "do not match"),
])
def test_basic_credentials_that_are_absent_unreadable_or_other_are_refused(header: str, reason: str,
                                                                           message: str) -> None:
    with pytest.raises(VerificationError, match=message) as caught:
        check_basic_auth(header, b"user", b"pa:ss")
    assert caught.value.reason == reason
