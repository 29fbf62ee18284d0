"""Callbacks over HTTP to a real bridge process, records read back from the real broker."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
import jsonschema
import orjson
import pytest
from cloudevents.core.base import BaseCloudEvent
from cloudevents.core.bindings.kafka import KafkaMessage, from_structured
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent

from bridge.events import EventType
from bridge.schemas import load as load_schema
from tests.conftest import NX_ACCESS_KEY, NX_SECRET, TENCENT_TOKEN, config_dict, fixture_bytes
from tests.helpers import nxcloud_request
from tests.integration.kafka import Record, read_sync

pytestmark = pytest.mark.integration

DR, MO, DLQ = "sms.delivery-receipts", "sms.inbound-messages", "sms.bridge.dead-letter"
CST = timezone(timedelta(hours=8))


@pytest.fixture
def bridge(broker, bridge_process):  # type: ignore[no-untyped-def]
    return bridge_process(config_dict(broker.bootstrap))


def tencent_url(bridge: Any) -> str:
    return f"{bridge.url}/callbacks/tencent/test/{TENCENT_TOKEN}"


def nxcloud_url(bridge: Any) -> str:
    return f"{bridge.url}/callbacks/nxcloud/test"


def now_cst() -> str:
    return datetime.now(CST).strftime("%Y-%m-%d %H:%M:%S")


def nx_body(action: str, message_id: str, **fields: str) -> bytes:
    body = {"messageId": message_id, "toPhone": "18184505018", "fromPhone": "+12347200160", "content": "hi",
            "size": "1", "price": "0.0360", "receiveTime": now_cst(), "smsStatus": "DELIVRD", **fields}
    if action == "mo":
        body["toPhone"], body["fromPhone"] = "12347200160", "+18184505018"
    return orjson.dumps(body)


def post_nx(bridge: Any, action: str, body: bytes, **kw: Any) -> httpx.Response:
    request = nxcloud_request(nxcloud_url(bridge), body, access_key=NX_ACCESS_KEY, secret=NX_SECRET, action=action,
                              **kw)
    return httpx.post(request.url, content=request.body, headers=request.headers, timeout=15)


def decode(record: Record) -> BaseCloudEvent:
    message = KafkaMessage(headers=dict(record.headers), key=record.key, value=record.value)
    return from_structured(message, JSONFormat(), CloudEvent)


def assert_contract(record: Record, event_type: EventType) -> dict[str, Any]:
    """Every field of the contract, on the raw JSON and through the official SDK."""
    raw: dict[str, Any] = orjson.loads(record.value)
    assert dict(record.headers) == {"content-type": b"application/cloudevents+json; charset=utf-8"}
    assert raw["specversion"] == "1.0"
    assert isinstance(raw["id"], str) and len(raw["id"]) == 32
    assert raw["type"] == event_type.value
    assert raw["datacontenttype"] == "application/json"
    assert raw["dataschema"] == f"urn:sms-bridge:schema:{event_type.value}:v1"
    assert raw["partitionkey"] == record.key.decode() if record.key else False
    assert raw["time"] == raw["data"]["occurred_at"] and raw["time"].endswith("Z")
    assert datetime.fromisoformat(raw["data"]["received_at"].replace("Z", "+00:00")).tzinfo is not None
    validator = jsonschema.Draft202012Validator(load_schema(event_type), format_checker=jsonschema.FormatChecker())
    validator.validate(raw["data"])
    event = decode(record)
    assert event.get_id() == raw["id"] and event.get_source() == raw["source"] and event.get_type() == raw["type"]
    assert event.get_data() == raw["data"]
    assert len(record.value) < 64 * 1024
    return raw


def with_ids(records: list[Record], ids: set[str]) -> list[Record]:
    return [r for r in records if orjson.loads(r.value).get("id") in ids]


def by_subject(records: list[Record], subject: str) -> list[dict[str, Any]]:
    return [e for e in (orjson.loads(r.value) for r in records) if e.get("subject") == subject]


def test_tencent_seed_sample_becomes_a_delivery_receipt_record(broker, bridge) -> None:  # type: ignore[no-untyped-def]
    reply = httpx.post(tencent_url(bridge), content=fixture_bytes("tencent", "status.json"),
                       headers={"content-type": "application/json"})
    assert reply.status_code == 200
    assert reply.json() == {"result": 0, "errmsg": "OK"}

    records = read_sync(broker.bootstrap, [DR], lambda rs: bool(by_subject(rs, "xxxxxxx")))
    record = next(r for r in records if r.key == b"xxxxxxx")
    raw = assert_contract(record, EventType.DELIVERY_RECEIPT)
    assert raw["source"] == "/sms/tencent/1400000000"
    assert raw["subject"] == "xxxxxxx"
    assert raw["time"] == "2015-10-17T00:03:04Z"  # 08:03:04 in Beijing
    data = raw["data"]
    assert data["provider"] == "tencent" and data["status"] == "delivered" and data["status_code"] == "DELIVRD"
    assert data["status_detail"] == "The SMS message is successfully delivered"
    assert data["to"] == "13xxxxxxxxx"  # not digits: kept as given
    assert data["from"] is None and data["segments"] is None and data["price"] is None
    assert data["raw"]["sid"] == "xxxxxxx"


def test_tencent_token_in_query_and_reply_callback_becomes_an_inbound_message(broker, bridge) -> None:  # type: ignore[no-untyped-def]
    sender = f"139{uuid.uuid4().int % 10**8:08d}"
    body = orjson.dumps({"extend": "", "mobile": sender, "nationcode": "86", "sign": "Demo", "text": "你好",
                         "time": 1457336869})
    reply = httpx.post(f"{bridge.url}/callbacks/tencent/test?token={TENCENT_TOKEN}", content=body,
                       headers={"content-type": "application/json"})
    assert reply.status_code == 200 and reply.json() == {"result": 0, "errmsg": "OK"}
    key = f"+86{sender}".encode()
    records = read_sync(broker.bootstrap, [MO], lambda rs: any(r.key == key for r in rs))
    record = next(r for r in records if r.key == key)
    raw = assert_contract(record, EventType.INBOUND_MESSAGE)
    assert "subject" not in raw
    assert raw["time"] == "2016-03-07T07:47:49Z"
    assert raw["data"]["from"] == f"+86{sender}" and raw["data"]["to"] is None and raw["data"]["text"] == "你好"


def test_tencent_array_of_100_reports_gives_100_records_all_acknowledged(broker, bridge) -> None:  # type: ignore[no-untyped-def]
    run = uuid.uuid4().hex[:8]
    reports = [
        {"user_receive_time": now_cst(), "nationcode": "86", "mobile": f"1380013{i:04d}",
         "report_status": "SUCCESS" if i % 3 else "FAIL", "errmsg": "DELIVRD" if i % 3 else "MK:0001",
         "description": "d", "sid": f"5000:{run}{i:03d}"}
        for i in range(100)
    ]
    reply = httpx.post(tencent_url(bridge), content=orjson.dumps(reports), headers={"content-type": "application/json"})
    assert reply.status_code == 200
    sids = {r["sid"] for r in reports}
    records = read_sync(broker.bootstrap, [DR], lambda rs: len({r.key for r in rs} & {s.encode() for s in sids}) == 100)
    mine = [r for r in records if r.key and r.key.decode() in sids]
    assert {r.key.decode() for r in mine if r.key} == sids
    statuses = {orjson.loads(r.value)["data"]["status"] for r in mine}
    assert statuses == {"delivered", "undelivered"}
    assert len({orjson.loads(r.value)["id"] for r in mine}) == 100


def test_nxcloud_signed_dr_and_mo_become_records_on_their_topics(broker, bridge) -> None:  # type: ignore[no-untyped-def]
    dr_id, mo_id = uuid.uuid4().hex, uuid.uuid4().hex
    assert post_nx(bridge, "dr", nx_body("dr", dr_id)).text == "success"
    sha = post_nx(bridge, "mo", nx_body("mo", mo_id, content="你好 STOP"), algorithm="sha256")
    assert (sha.status_code, sha.text) == (200, "success")

    records = read_sync(broker.bootstrap, [DR, MO],
                        lambda rs: bool(by_subject(rs, dr_id)) and bool(by_subject(rs, mo_id)))
    dr = next(r for r in records if r.key == dr_id.encode())
    mo = next(r for r in records if orjson.loads(r.value).get("subject") == mo_id)
    assert dr.topic == DR and mo.topic == MO
    dr_raw = assert_contract(dr, EventType.DELIVERY_RECEIPT)
    mo_raw = assert_contract(mo, EventType.INBOUND_MESSAGE)
    assert dr_raw["source"] == f"/sms/nxcloud/{NX_ACCESS_KEY}"
    assert dr_raw["data"]["to"] == "+18184505018" and dr_raw["data"]["from"] == "+12347200160"
    assert dr_raw["data"]["segments"] == 1 and dr_raw["data"]["price"] == "0.0360"
    assert mo.key == b"+18184505018"
    assert mo_raw["data"]["text"] == "你好 STOP" and mo_raw["data"]["to"] == "+12347200160"


def test_tampered_callbacks_are_answered_error_and_never_published(broker, bridge) -> None:  # type: ignore[no-untyped-def]
    tampered_ids = []
    for variant in range(5):
        message_id = uuid.uuid4().hex
        tampered_ids.append(message_id)
        body = nx_body("dr", message_id)
        request = nxcloud_request(nxcloud_url(bridge), body, access_key=NX_ACCESS_KEY, secret=NX_SECRET, action="dr")
        headers = dict(request.headers)
        if variant == 0:
            body = body.replace(b"DELIVRD", b"UNDELIV")
        elif variant == 1:
            headers["ts"] = str(int(headers["ts"]) + 1)
        elif variant == 2:
            headers["action"] = "mo"
        elif variant == 3:
            headers = {**headers, "sign": nxcloud_request(nxcloud_url(bridge), body, access_key=NX_ACCESS_KEY,
                                                          secret="wrong", action="dr").headers["sign"]}
        else:
            headers["accesskey"] = "nobody"
        reply = httpx.post(request.url, content=body, headers=headers)
        assert reply.status_code in (401, 403) and reply.text == "error", variant
    bad_token = httpx.post(f"{bridge.url}/callbacks/tencent/test/wrong-token-0123456789abc",
                           content=fixture_bytes("tencent", "status.json"),
                           headers={"content-type": "application/json"})
    assert bad_token.status_code == 401 and bad_token.json()["result"] != 0

    sentinel = uuid.uuid4().hex
    assert post_nx(bridge, "dr", nx_body("dr", sentinel)).text == "success"
    records = read_sync(broker.bootstrap, [DR, MO, DLQ], lambda rs: bool(by_subject(rs, sentinel)))
    published = {orjson.loads(r.value).get("subject") for r in records}
    assert sentinel in published
    assert not published & set(tampered_ids)


def test_a_replayed_nxcloud_callback_is_refused(broker, bridge) -> None:  # type: ignore[no-untyped-def]
    body = nx_body("dr", uuid.uuid4().hex)
    request = nxcloud_request(nxcloud_url(bridge), body, access_key=NX_ACCESS_KEY, secret=NX_SECRET, action="dr")
    first = httpx.post(request.url, content=body, headers=request.headers)
    again = httpx.post(request.url, content=body, headers=request.headers)
    assert (first.status_code, first.text) == (200, "success")
    assert (again.status_code, again.text) == (403, "error")


def test_authentic_but_unreadable_callback_is_dead_lettered_with_a_400(broker, bridge) -> None:  # type: ignore[no-untyped-def]
    marker = uuid.uuid4().hex
    body = b'{"messageId": "' + marker.encode() + b'", "broken": '
    reply = post_nx(bridge, "dr", body)
    assert (reply.status_code, reply.text) == (400, "error")
    records = read_sync(broker.bootstrap, [DLQ], lambda rs: any(marker.encode() in r.value for r in rs))
    letter = orjson.loads(next(r for r in records if marker.encode() in r.value).value)
    assert (letter["reason"], letter["provider"], letter["instance"]) == ("invalid_json", "nxcloud", "nxcloud-test")
    assert letter["body"] == body.decode()
    assert "sign" not in letter["headers"]
    assert NX_SECRET not in orjson.dumps(letter).decode()


@pytest.mark.parametrize(
    ("method", "path", "headers", "body", "status"),
    [
        ("GET", "/callbacks/tencent/test/{token}", {}, b"", 405),
        ("POST", "/callbacks/tencent/test/{token}", {"content-type": "application/x-www-form-urlencoded"}, b"a=b", 415),
        ("POST", "/callbacks/tencent/test/{token}", {"content-type": "application/json"},
         b"[" + b" " * (1 << 20) + b"]", 413),
        ("POST", "/callbacks/tencent/test/{token}", {"content-type": "application/json"}, b"\xff\xfe[]", 400),
        ("POST", "/callbacks/tencent/test/{token}", {"content-type": "application/json"}, b"[" * 1000, 400),
        ("POST", "/nowhere", {"content-type": "application/json"}, b"[]", 404),
    ],
)
def test_bad_requests_get_a_clear_4xx_in_the_provider_format(bridge, method, path, headers, body, status) -> None:  # type: ignore[no-untyped-def]
    reply = httpx.request(method, bridge.url + path.format(token=TENCENT_TOKEN), headers=headers, content=body)
    assert reply.status_code == status
    document = reply.json()
    if status == 404:
        assert document == {"error": "not_found"}
    else:
        assert document["result"] == status and document["errmsg"]


def test_every_callback_answered_success_under_concurrency_is_on_kafka(broker, bridge) -> None:  # type: ignore[no-untyped-def]
    async def burst() -> list[tuple[str, int]]:
        async with httpx.AsyncClient(timeout=15) as client:
            async def one(i: int) -> tuple[str, int]:
                message_id = uuid.uuid4().hex
                if i % 2:
                    request = nxcloud_request(nxcloud_url(bridge), nx_body("dr", message_id), access_key=NX_ACCESS_KEY,
                                              secret=NX_SECRET, action="dr")
                    reply = await client.post(request.url, content=request.body, headers=request.headers)
                else:
                    report = [{"user_receive_time": now_cst(), "nationcode": "86", "mobile": "13800138000",
                               "report_status": "SUCCESS", "errmsg": "DELIVRD", "description": "", "sid": message_id}]
                    reply = await client.post(tencent_url(bridge), content=orjson.dumps(report),
                                              headers={"content-type": "application/json"})
                return message_id, reply.status_code
            return await asyncio.gather(*(one(i) for i in range(200)))

    results = asyncio.run(burst())
    acknowledged = {m for m, status in results if status == 200}
    assert len(acknowledged) == 200
    keys = {m.encode() for m in acknowledged}
    records = read_sync(broker.bootstrap, [DR], lambda rs: keys <= {r.key for r in rs}, timeout=90)
    assert keys <= {r.key for r in records}


def test_a_failed_broker_gets_the_failure_reply_and_recovery_is_automatic(tmp_path, bridge_process) -> None:  # type: ignore[no-untyped-def]
    from bridge.cli.dev_broker import EmbeddedBroker

    own = EmbeddedBroker(log_file=tmp_path / "broker.log").start()
    try:
        own.create_topics([DR, MO, DLQ])
        bridge = bridge_process(config_dict(own.bootstrap))
        ok = httpx.post(tencent_url(bridge), content=fixture_bytes("tencent", "status.json"),
                        headers={"content-type": "application/json"})
        assert ok.status_code == 200

        own.kill()
        failed = httpx.post(tencent_url(bridge), content=fixture_bytes("tencent", "status.json"),
                            headers={"content-type": "application/json"}, timeout=60)
        assert failed.status_code == 503
        assert failed.json()["result"] != 0
        assert failed.headers["retry-after"]
        nx = post_nx(bridge, "dr", nx_body("dr", uuid.uuid4().hex))
        assert (nx.status_code, nx.text) == (503, "error")

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and httpx.get(bridge.url + "/readyz", timeout=30).status_code == 200:
            time.sleep(0.2)
        assert httpx.get(bridge.url + "/readyz").status_code == 503
        assert httpx.get(bridge.url + "/livez").status_code == 200

        own.start()
        own.create_topics([DR, MO, DLQ])
        retried = uuid.uuid4().hex
        body = nx_body("dr", retried)
        deadline = time.monotonic() + 90  # the producer reconnects with a backoff: generous on a loaded machine
        status = 0
        while time.monotonic() < deadline and status != 200:
            status = post_nx(bridge, "dr", body).status_code
            if status != 200:
                time.sleep(0.5)
        assert status == 200
        records = read_sync(own.bootstrap, [DR], lambda rs: bool(by_subject(rs, retried)))
        assert by_subject(records, retried)
    finally:
        own.stop()


def test_received_at_is_now_in_utc(broker, bridge) -> None:  # type: ignore[no-untyped-def]
    message_id = uuid.uuid4().hex
    before = datetime.now(UTC)
    assert post_nx(bridge, "dr", nx_body("dr", message_id)).text == "success"
    records = read_sync(broker.bootstrap, [DR], lambda rs: bool(by_subject(rs, message_id)))
    received = by_subject(records, message_id)[0]["data"]["received_at"]
    moment = datetime.fromisoformat(received.replace("Z", "+00:00"))
    assert before - timedelta(seconds=1) <= moment <= datetime.now(UTC) + timedelta(seconds=1)
