"""`sms-bridge tail` shows a record of either content mode as the same event."""

from __future__ import annotations

import orjson

from bridge.cli.tail import render
from bridge.kafka.envelope import Envelope
from tests.unit.kafka.test_envelope import TOPICS, TRACEPARENT, receipt


def test_a_binary_record_is_shown_as_the_event_the_structured_record_holds() -> None:
    event = receipt(status_code="UNDELIVR")
    structured = Envelope("/sms/nxcloud/x", TOPICS).to_record(event, TRACEPARENT)
    binary = Envelope("/sms/nxcloud/x", TOPICS, content_mode="binary").to_record(event, TRACEPARENT)
    plain = render(binary.topic, binary.key, binary.value, headers=binary.headers)
    head, body = plain.split("\n    ")
    assert head.startswith(f"[sms.delivery-receipts] sms.delivery_receipt (binary) id={event.id} key={event.key} ")
    assert "status=delivered status_code=UNDELIVR" in head
    assert orjson.loads(body) == orjson.loads(structured.value)
    assert render(structured.topic, structured.key, structured.value, headers=structured.headers).split("\n    ")[
        0] == head.replace(" (binary)", "")


def test_a_binary_record_in_colour_is_indented_json_of_the_whole_event() -> None:
    binary = Envelope("/sms/nxcloud/x", TOPICS, content_mode="binary").to_record(receipt())
    pretty = render(binary.topic, binary.key, binary.value, headers=binary.headers, pretty=True)
    assert "\x1b[" in pretty and '\n  "specversion": "1.0"' in pretty and '\n  "data": {' in pretty


def test_a_dead_letter_is_still_shown_as_one() -> None:
    value = b'{"reason":"bad_json","provider":"tencent","instance":"t"}'
    line = render("sms.bridge.dead-letter", b"t", value, headers=(("content-type", b"application/json"),))
    assert line.startswith("[sms.bridge.dead-letter] dead letter id=- key=t reason=bad_json provider=tencent")
