"""Shared parsing helpers: media types, form bodies and parameters, times read to UTC."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from urllib.parse import parse_qsl

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.errors import MalformedCallbackError
from bridge.events import Status
from bridge.providers.base import FORM, JSON, RawCallback
from bridge.providers.common import (
    body_kind,
    form_params,
    identifier,
    iso_time,
    load_json,
    local_time,
    media_type,
    query_or_form,
    status_union,
    url_params,
)

RECEIVED = datetime(2025, 1, 1, tzinfo=UTC)
CST = timezone(timedelta(hours=8))


@pytest.mark.parametrize(("headers", "expected"), [
    ({}, FORM),
    ({"content-type": "Application/JSON; charset=UTF-8"}, JSON),
    ({"content-type": " text/plain ;x=1"}, "text/plain"),
    ({"content-type": ""}, ""),
])
def test_the_media_type_is_lower_case_without_parameters_and_the_default_without_a_header(
    headers: dict[str, str], expected: str,
) -> None:
    assert media_type(headers, FORM) == expected


def test_a_form_body_decodes_to_ordered_pairs_with_blank_values_kept() -> None:
    assert form_params(b"b=2&a=&b=%C3%A9+x") == (("b", "2"), ("a", ""), ("b", "é x"))
    assert form_params(b"") == ()


@pytest.mark.parametrize("body", [b"a=\xff", b"a=%ff", b"a=%C3"])
def test_a_form_body_that_is_not_utf8_is_malformed_with_the_reason_the_kind_names(body: bytes) -> None:
    with pytest.raises(MalformedCallbackError, match="form body is not valid URL-encoded UTF-8") as caught:
        form_params(body)
    assert caught.value.reason == "invalid_utf8"
    with pytest.raises(MalformedCallbackError, match="body is bad") as named:
        form_params(body, reason="wrong_shape", message="body is bad")
    assert named.value.reason == "wrong_shape"


def test_a_get_callback_has_its_query_as_parameters_whatever_its_body() -> None:
    get = RawCallback(b"x=1", {}, None, RECEIVED, method="GET", query=(("q", "1"),), form=(("f", "1"),))
    assert query_or_form(get) == (("q", "1"),)


def test_a_post_callback_has_the_endpoints_form_else_its_body_decoded_here() -> None:
    decoded = RawCallback(b"ignored=1", {}, None, RECEIVED, query=(("q", "1"),), form=(("f", "1"),))
    assert query_or_form(decoded) == (("f", "1"),)
    dead_letter = RawCallback(b"a=1&b=2", {}, None, RECEIVED, query=(("q", "1"),))
    assert query_or_form(dead_letter) == (("a", "1"), ("b", "2"))
    assert query_or_form(RawCallback(b"", {}, None, RECEIVED)) == ()
    with pytest.raises(MalformedCallbackError) as caught:
        query_or_form(RawCallback(b"a=%ff", {}, None, RECEIVED), reason="invalid_field", message="body is bad")
    assert (caught.value.reason, str(caught.value)) == ("invalid_field", "body is bad")


def test_local_times_are_read_in_the_zone_unless_they_carry_an_offset() -> None:
    assert local_time("2025-01-01 08:00:00", CST, where="t") == RECEIVED
    assert local_time("2025-01-01 00:00:00+00:00", CST, where="t") == RECEIVED
    with pytest.raises(MalformedCallbackError, match="t: must be a time 'yyyy-MM-dd HH:mm:ss'"):
        local_time("01/01/2025", CST, where="t")


def test_iso_times_without_an_offset_are_utc() -> None:
    assert iso_time("2025-01-01T00:00:00", where="t") == RECEIVED
    assert iso_time("2025-01-01T01:00:00.000+01:00", where="t") == RECEIVED
    with pytest.raises(MalformedCallbackError, match="t: must be an ISO 8601 time"):
        iso_time("yesterday", where="t")


def test_a_time_that_leaves_years_1_to_9999_in_utc_is_malformed_for_both_readers() -> None:
    with pytest.raises(MalformedCallbackError, match="t: must be a time within years 1 to 9999"):
        local_time("0001-01-01 00:00:00", CST, where="t")
    with pytest.raises(MalformedCallbackError, match="t: must be a time within years 1 to 9999"):
        iso_time("0001-01-01T00:00:00+01:00", where="t")


@pytest.mark.parametrize(("content_type", "expected"), [
    (None, "form"), ("application/x-www-form-urlencoded; charset=utf-8", "form"), ("Application/JSON", "json"),
    ("application/cloudevents+json", "json"), ("text/plain", None),
])
def test_the_body_kind_is_the_declared_one_of_the_media_type_and_json_for_any_json_suffix(
    content_type: str | None, expected: str | None
) -> None:
    headers = {} if content_type is None else {"content-type": content_type}
    assert body_kind({FORM: "form", JSON: "json"}, headers) == expected


def test_a_json_suffix_is_no_body_kind_for_a_kind_that_takes_no_json() -> None:
    assert body_kind({FORM: "form"}, {"content-type": "application/problem+json"}) is None


def test_the_union_of_status_tables_refuses_a_code_that_maps_two_ways() -> None:
    assert status_union({"a": Status.DELIVERED}, {"a": Status.DELIVERED, "b": Status.UNKNOWN}) == {
        "a": Status.DELIVERED, "b": Status.UNKNOWN}
    with pytest.raises(TypeError, match="two statuses"):
        status_union({"a": Status.DELIVERED}, {"a": Status.UNDELIVERED})


def test_a_json_price_is_a_plain_decimal_string_whether_written_as_a_number_or_a_string() -> None:
    from bridge.providers.common import json_decimal

    assert json_decimal({"amount": 0.00001}, "amount") == "0.00001"
    assert json_decimal({"amount": 0.0360}, "amount") == "0.036"
    assert json_decimal({"amount": "0.0360"}, "amount") == "0.0360"
    assert json_decimal({"amount": 3}, "amount") == "3"
    assert json_decimal({}, "amount") is None
    with pytest.raises(MalformedCallbackError, match=r"cost\.amount"):
        json_decimal({"amount": "1e5"}, "amount", where="cost.")


_FORM_PARTS = st.sampled_from([*(c.encode() for c in "ab=&+%;2Fé0\x00 "), b"%2B", b"%3D", b"%26", b"%C3%A9", b"%E2",
                                b"%zz", b"%", b"\xff", b"\xc3"])


@settings(max_examples=3000, deadline=None)
@given(parts=st.lists(_FORM_PARTS, max_size=16))
def test_url_params_reads_a_form_exactly_as_parse_qsl(parts: list[bytes]) -> None:
    """The one form/query decoder of the bridge against the standard library's, on bodies full of edge cases:
    empty fields, no `=`, several `=`, `+`, valid, truncated and invalid percent escapes, invalid UTF-8."""
    text = b"".join(parts)
    try:
        expected: object = tuple(parse_qsl(text.decode("utf-8"), keep_blank_values=True, errors="strict"))
    except UnicodeDecodeError:
        expected = UnicodeDecodeError
    try:
        got: object = url_params(text)
    except UnicodeDecodeError:
        got = UnicodeDecodeError
    assert got == expected


def test_url_params_refuses_bytes_that_are_not_utf8() -> None:
    with pytest.raises(UnicodeDecodeError):
        url_params(b"a=\xff")
    with pytest.raises(UnicodeDecodeError):
        url_params(b"a=%FF")


@settings(max_examples=500)
@given(st.text(alphabet=st.characters(max_codepoint=0x2030), max_size=12)
       | st.sampled_from(["", " ", "\t", "\x7f", "\x85"]))
def test_an_identifier_is_taken_exactly_when_it_is_not_blank_and_has_no_control_character(value: str) -> None:
    # The rule as it was written before the fast path for plain ASCII ids: the two must agree on every text.
    allowed = bool(value.strip()) and re.search(r"[\x00-\x1f\x7f-\x9f]", value) is None and "\x00" not in value
    try:
        taken = identifier({"id": value}, "id") == value
    except MalformedCallbackError:
        taken = False
    assert taken == allowed


@pytest.mark.parametrize(("body", "reason"), [
    (b"", "invalid_json"), (b" \n", "invalid_json"), (b"{", "invalid_json"), (b"\xff", "invalid_utf8"),
])
def test_a_body_that_is_not_json_is_malformed_with_its_reason(body: bytes, reason: str) -> None:
    with pytest.raises(MalformedCallbackError) as caught:
        load_json(body)
    assert caught.value.reason == reason
