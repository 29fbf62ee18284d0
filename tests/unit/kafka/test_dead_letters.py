"""Dead-letter records: the raw body, the reason and where it came from; never a secret."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.errors import MalformedCallbackError
from bridge.kafka.dead_letters import GENERIC_HEADERS, MAX_BODY_BYTES, to_dead_letter
from bridge.kafka.envelope import KafkaRecord
from bridge.providers import PROVIDERS
from bridge.providers.base import BadReport
from bridge.providers.nxcloud import NxCloudProvider
from tests.conftest import NX_SECRET, TENCENT_TOKEN, fixture_bytes

WHEN = datetime(2021, 2, 7, 6, 54, tzinfo=UTC)
ERROR = MalformedCallbackError("invalid_json", "body is not valid JSON")
HEADERS = {
    "content-type": "application/json",
    "content-length": "259",
    "user-agent": "nxcloud-push",
    "accesskey": "kGp5uFHN",
    "action": "dr",
    "biztype": "4",
    "ts": "1612680840000",
    "sign": "9c8052efa68d7a26b0e8e0b6b3522264",
    "authorization": f"Bearer {NX_SECRET}",
    "cookie": f"token={TENCENT_TOKEN}",
    "referer": f"https://bridge/callbacks/tencent/test/{TENCENT_TOKEN}",
    "x-forwarded-for": "198.51.100.7",
}


def letter(body: bytes, headers: dict[str, str] | None = None, error: MalformedCallbackError = ERROR) -> KafkaRecord:
    return to_dead_letter(
        "sms.bridge.dead-letter", provider="nxcloud", instance="nxcloud-test", error=error, body=body,
        headers=HEADERS if headers is None else headers, received_at=WHEN, safe_headers=NxCloudProvider.safe_headers,
    )


SAFE_HEADERS = GENERIC_HEADERS | NxCloudProvider.safe_headers


def value(record: KafkaRecord) -> dict[str, Any]:
    loaded: dict[str, Any] = orjson.loads(record.value)
    return loaded


def test_dead_letter_carries_body_reason_provider_and_instance() -> None:
    body = fixture_bytes("nxcloud", "dr.json")
    record = letter(body)
    assert record.topic == "sms.bridge.dead-letter"
    assert record.key == b"nxcloud-test"
    assert record.headers == (("content-type", b"application/json"),)
    data = value(record)
    assert data["provider"] == "nxcloud"
    assert data["instance"] == "nxcloud-test"
    assert data["reason"] == "invalid_json"
    assert data["detail"] == "body is not valid JSON"
    assert data["received_at"] == "2021-02-07T06:54:00Z"
    assert data["body"] == body.decode("utf-8")
    assert data["body_size"] == len(body)
    assert data["body_truncated"] is False
    assert "body_base64" not in data


def test_dead_letter_keeps_only_the_safe_headers() -> None:
    data = value(letter(b"{}"))
    assert data["headers"] == {k: HEADERS[k] for k in ("content-type", "content-length", "user-agent", "accesskey",
                                                       "action", "biztype", "ts")}


def test_dead_letter_never_carries_a_secret_token_or_signature() -> None:
    record = letter(b"{}")
    for secret in (NX_SECRET, TENCENT_TOKEN, HEADERS["sign"]):
        assert secret.encode() not in record.value


def test_a_body_that_is_not_utf8_is_kept_as_base64() -> None:
    body = b"\xff\xfe{\x00garbage"
    data = value(letter(body, error=MalformedCallbackError("invalid_utf8", "body is not valid UTF-8")))
    assert "body" not in data
    assert base64.b64decode(data["body_base64"]) == body
    assert data["reason"] == "invalid_utf8"


def test_a_body_over_the_limit_is_cut_and_marked() -> None:
    body = b"x" * (MAX_BODY_BYTES + 10)
    data = value(letter(body))
    assert data["body_truncated"] is True
    assert data["body_size"] == MAX_BODY_BYTES + 10
    assert len(data["body"]) == MAX_BODY_BYTES


def test_a_body_of_exactly_the_limit_is_whole() -> None:
    data = value(letter(b"y" * MAX_BODY_BYTES))
    assert data["body_truncated"] is False
    assert len(data["body"]) == MAX_BODY_BYTES


def test_a_cut_through_a_utf8_character_falls_back_to_base64_of_the_kept_part() -> None:
    body = b"a" * (MAX_BODY_BYTES - 1) + "你".encode()
    data = value(letter(body))
    assert data["body_truncated"] is True
    assert base64.b64decode(data["body_base64"]) == body[:MAX_BODY_BYTES]


def test_no_kind_declares_a_credential_header_safe() -> None:
    credentials = {"sign", "authorization", "cookie", "x-api-key", "proxy-authorization", "referer"}
    for cls in PROVIDERS.values():
        assert not (GENERIC_HEADERS | cls.safe_headers) & credentials
        signed = ("signature", "signature-v2", "signature-v3", "signature-jwt", "signature-ed25519", "sign")
        assert not any(header.endswith(signed) for header in cls.safe_headers), cls.kind


def test_a_bad_report_keeps_the_report_its_index_the_reason_and_the_request_id_not_the_body() -> None:
    error = MalformedCallbackError("invalid_field", "[3].user_receive_time: must be a time")
    record = to_dead_letter(
        "dlq", provider="tencent", instance="t", error=error, body=b'[{"sid": "secret body"}]', headers={},
        received_at=WHEN, request_id="req-1", report=BadReport(3, {"sid": "x"}, error),
        query=(("token", TENCENT_TOKEN), ("a", "1")),
    )
    data = value(record)
    assert (data["index"], data["report"], data["reason"], data["request_id"]) == (3, {"sid": "x"}, "invalid_field",
                                                                                    "req-1")
    assert "body" not in data and TENCENT_TOKEN not in record.value.decode()
    assert data["query"] == [["a", "1"]]


def test_a_bad_report_keeps_its_callback_body_and_the_context_naming_its_callback() -> None:
    error = MalformedCallbackError("missing_field", "data.payload.to[1].phone_number: required")
    context = {"id": "evt-1", "event_type": "message.finalized", "occurred_at": "2024-01-01T00:00:00Z",
               "message_id": "msg-1"}
    body = b'{"data":{"id":"evt-1","payload":{"id":"msg-1","to":[{"status":"delivered"}]}}}'
    record = to_dead_letter("dlq", provider="telnyx", instance="t", error=error, body=b"{}", headers={},
                            received_at=WHEN, report=BadReport(1, {"status": "delivered"}, error, body, context))
    data = value(record)
    assert (data["index"], data["context"], data["report_body"]) == (1, context, body.decode())
    plain = value(to_dead_letter("dlq", provider="tencent", instance="t", error=error, body=b"[]", headers={},
                                 received_at=WHEN, report=BadReport(0, {"sid": "x"}, error)))
    assert plain["context"] == {} and orjson.loads(plain["report_body"]) == [{"sid": "x"}]  # the former default
    whole = value(letter(b"not json"))
    assert "context" not in whole and "report_body" not in whole  # a whole callback's dead letter is unchanged


@settings(max_examples=200, deadline=None)
@given(
    body=st.binary(max_size=200),
    headers=st.dictionaries(st.sampled_from(sorted(HEADERS)) | st.text(max_size=12), st.text(max_size=30),
                            max_size=10),
)
def test_any_callback_gives_a_json_record_with_only_safe_headers_and_the_body_back(
    body: bytes, headers: dict[str, str]
) -> None:
    data = value(letter(body, headers))
    assert set(data["headers"]) <= SAFE_HEADERS
    kept = data["body"].encode("utf-8") if "body" in data else base64.b64decode(data["body_base64"])
    assert kept == body


def test_a_kinds_own_secret_query_parameter_is_left_out_like_the_url_token() -> None:
    error = MalformedCallbackError("wrong_shape", "body must be a JSON array")
    record = to_dead_letter(
        "dlq", provider="azure", instance="a", error=error, body=b"{}", headers={}, received_at=WHEN,
        request_id="req-2", query=(("code", "s3cret-query-value"), ("a", "1")), secret_params=frozenset({"code"}),
    )
    assert value(record)["query"] == [["a", "1"]] and b"s3cret-query-value" not in record.value


def test_every_kind_names_the_query_parameters_that_carry_its_secrets() -> None:
    """Azure's query secret parameter is configurable: its instances declare it, so dead letters drop it."""
    from bridge.clock import SystemClock
    from bridge.providers import build
    from bridge.providers.azure import AzureProvider

    settings = AzureProvider.settings_model.model_validate({
        "kind": "azure", "name": "az", "path": "/callbacks/azure/az", "query_parameter": "code",
        "query_secrets": ["0123456789abcdef0123"],
    })
    assert build(settings, SystemClock()).secret_params == frozenset({"code"})
