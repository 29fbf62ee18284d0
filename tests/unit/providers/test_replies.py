"""The shared reply shapes: an empty 200 and a plain-text refusal naming its reason."""

from __future__ import annotations

from bridge.errors import MalformedCallbackError, VerificationError
from bridge.providers.replies import EMPTY_OK, REASON_HEADER, TEXT, text_refusal


def test_the_empty_acceptance_is_a_200_with_no_body() -> None:
    assert (EMPTY_OK.status, EMPTY_OK.body, EMPTY_OK.media_type, dict(EMPTY_OK.headers)) == (200, b"", TEXT, {})


def test_a_text_refusal_names_reason_and_rule_with_the_error_status() -> None:
    reply = text_refusal(VerificationError("unknown_access_key", "api-key parameter: not configured", status=403))
    assert (reply.status, reply.body, reply.media_type) == (
        403, b"unknown_access_key: api-key parameter: not configured", "text/plain; charset=utf-8")
    assert reply.headers == {REASON_HEADER: "unknown_access_key"} and REASON_HEADER == "X-Bridge-Reason"


def test_a_text_refusal_may_answer_with_another_status() -> None:
    reply = text_refusal(MalformedCallbackError("invalid_json", "body is not valid JSON"), 503)
    assert (reply.status, reply.body) == (503, b"invalid_json: body is not valid JSON")
    assert reply.headers[REASON_HEADER] == "invalid_json"
