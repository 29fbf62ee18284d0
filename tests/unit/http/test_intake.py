"""The public URL a provider called, for kinds that sign it: configured, or rebuilt believing only trusted proxies."""

from __future__ import annotations

import pytest

from bridge.errors import RequestError
from bridge.http.intake import decode_params, public_url

FORWARDED = {"host": "bridge.internal:8080", "x-forwarded-proto": "https", "x-forwarded-host": "sms.example.com"}


def url(**overrides: object) -> str:
    arguments: dict[str, object] = {
        "configured": None, "instance_path": "/callbacks/twilio/main", "path": "/callbacks/twilio/main",
        "query_string": b"", "scheme": "http", "host": "bridge.internal:8080", "headers": FORWARDED,
        "from_trusted_proxy": False, **overrides,
    }
    return public_url(**arguments)  # type: ignore[arg-type]


def test_the_request_itself_gives_scheme_host_path_and_query() -> None:
    assert url(query_string=b"a=1&b=%20") == "http://bridge.internal:8080/callbacks/twilio/main?a=1&b=%20"


def test_forwarded_scheme_and_host_count_only_from_a_trusted_proxy() -> None:
    assert url(from_trusted_proxy=True) == "https://sms.example.com/callbacks/twilio/main"
    assert url(from_trusted_proxy=False).startswith("http://bridge.internal:8080/")


def test_a_configured_public_url_wins_and_keeps_what_the_path_adds_and_the_query() -> None:
    configured = "https://sms.example.com/hooks/twilio"
    assert url(configured=configured, from_trusted_proxy=True) == configured
    assert url(configured=configured + "/", path="/callbacks/twilio/main/tok", query_string=b"x=1") == (
        configured + "/tok?x=1")


@pytest.mark.parametrize("text", [b"a=%ff", b"\xff=1"])
def test_params_that_are_not_utf8_are_a_400(text: bytes) -> None:
    with pytest.raises(RequestError, match="not valid URL-encoded UTF-8"):
        decode_params(text, "form body")


def test_params_keep_their_order_repeats_and_blanks() -> None:
    assert decode_params(b"b=2&a=1&a=&c", "query") == (("b", "2"), ("a", "1"), ("a", ""), ("c", ""))
