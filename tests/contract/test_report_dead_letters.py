"""A dead-lettered report names its callback, and redrive parses it again: for every multi-report kind.

EVENTS.md: each report that cannot be understood becomes its own dead-letter record holding what
identifies the callback it came from. For each kind whose callbacks can carry several reports, a
documented sample grows to four reports, one of them broken, and goes over HTTP through the real
endpoint: three events and one dead letter are published, the dead letter names the callback (its
`context`, or the report itself where each report names its own message), and its `report_body`
is the callback with that report alone: redrive still refuses it for the same reason, and with the
report mended it publishes exactly the event that report gives in the whole callback.
"""

from __future__ import annotations

import copy
import inspect
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
import pytest

from bridge.cli.redrive import reparse
from bridge.clock import FixedClock
from bridge.errors import MalformedCallbackError
from bridge.kafka.envelope import Envelope
from bridge.providers import PROVIDERS, build
from bridge.providers.base import BadReport
from tests.contract.test_providers import BASE, App, bridge_settings, make_provider, to_raw

BROKEN: Any = {"broken": True}  # a value no string field accepts


@dataclass(frozen=True)
class Case:
    """How one kind's sample becomes a callback of four reports with report [1] broken."""

    sample: str
    reports: Callable[[Any], list[Any]]  # the list of reports inside the sample's document, to fill in place
    vary: Callable[[Any, int], Any]  # report i of four, from the sample's first
    broken: Callable[[Any], Any]  # report [1] made unreadable (its identifying fields kept)
    names: Callable[[Any], dict[str, Any]]  # {"dotted.path.in.the.dead.letter": value} from the whole document


def _set(record: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {**record, **changes}


CASES: dict[str, Case] = {
    "tencent": Case("dr", lambda d: d, lambda r, i: _set(r, sid=f"{r['sid']}-{i}", mobile=f"1380013800{i}"),
                    lambda r: _set(r, errmsg=BROKEN), lambda d: {"report.sid": d[1]["sid"], "context": {}}),
    "alibaba": Case("dr", lambda d: d, lambda r, i: _set(r, biz_id=f"{r['biz_id']}{i}", phone_number=f"1380013800{i}"),
                    lambda r: _set(r, err_code=BROKEN), lambda d: {"report.biz_id": d[1]["biz_id"], "context": {}}),
    "bandwidth": Case("delivered", lambda d: d,
                      lambda r, i: _set(r, to=f"+1234567890{i}", message={**r["message"], "id": f"m{i}"}),
                      lambda r: _set(r, time=BROKEN),
                      lambda d: {"report.message.id": d[1]["message"]["id"], "report.type": d[1]["type"],
                                 "context": {}}),
    "huawei": Case("batch", lambda d: d["statusReportList"], lambda r, i: _set(r, smsMsgId=f"{r['smsMsgId']}{i}"),
                   lambda r: _set(r, status=BROKEN),
                   lambda d: {"report.smsMsgId": d["statusReportList"][1]["smsMsgId"], "context": {}}),
    "infobip": Case("dr", lambda d: d["results"], lambda r, i: _set(r, messageId=f"{r['messageId']}{i}"),
                    lambda r: _set(r, doneAt=BROKEN),
                    lambda d: {"report.messageId": d["results"][1]["messageId"],
                               "report.bulkId": d["results"][1]["bulkId"], "context": {}}),
    "azure": Case("dr", lambda d: d, lambda r, i: _set(r, id=f"{r['id']}{i}", data={**r["data"],
                                                                                 "messageId": f"{r['id']}{i}"}),
                  lambda r: _set(r, data={**r["data"], "deliveryStatus": BROKEN}),
                  lambda d: {"report.id": d[1]["id"], "report.eventType": d[1]["eventType"],
                             "report.eventTime": d[1]["eventTime"], "context": {}}),
    "sinch": Case("batch", lambda d: d["statuses"][0]["recipients"], lambda r, i: f"4477009000{i:02d}",
                  lambda r: BROKEN,
                  lambda d: {"context": {"type": "delivery_report_sms", "batch_id": d["batch_id"],
                                         "client_reference": d["client_reference"]}}),
    "telnyx": Case("finalized", lambda d: d["data"]["payload"]["to"],
                   lambda r, i: _set(r, phone_number=f"+1866555000{i}"),
                   lambda r: {k: v for k, v in r.items() if k != "phone_number"},
                   lambda d: {"context": {"id": d["data"]["id"], "event_type": "message.finalized",
                                          "occurred_at": d["data"]["occurred_at"],
                                          "message_id": d["data"]["payload"]["id"]}}),
}


def _at(letter: dict[str, Any], path: str) -> Any:
    node: Any = letter
    for part in path.split("."):
        node = node[part]
    return node


def _replace(node: Any, old: Any, new: Any) -> Any:
    """`node` with every value equal to `old` replaced by `new` (a deep copy)."""
    if node == old:
        return copy.deepcopy(new)
    if isinstance(node, dict):
        return {k: _replace(v, old, new) for k, v in node.items()}
    if isinstance(node, list):
        return [_replace(v, old, new) for v in node]
    return node


def test_every_kind_that_can_dead_letter_a_report_alone_has_a_case() -> None:
    """A kind whose parse() can give a BadReport is a multi-report kind: it must be covered here."""
    multi = {kind for kind, cls in PROVIDERS.items()
             if any(name in inspect.getsource(inspect.getmodule(cls))  # type: ignore[arg-type]
                    for name in ("BadReport", "each_report"))}
    assert multi == set(CASES)


@pytest.mark.anyio
@pytest.mark.parametrize("kind", sorted(CASES))
async def test_a_dead_lettered_report_names_its_callback_and_redrive_parses_it_again(kind: str) -> None:
    now = float(int(time.time()))
    case = CASES[kind]
    provider = make_provider(kind, now)
    document = orjson.loads(next(s for s in provider.samples if s.name == case.sample).body(now))
    reports = case.reports(document)
    reports[:] = [case.vary(reports[0], i) for i in range(4)]
    whole = copy.deepcopy(document)
    good = reports[1]
    reports[1] = bad = case.broken(good)
    body = orjson.dumps(document)

    app = App(kind, now)
    reply = await app.send(provider.sign(BASE + provider.settings.path, body, case.sample, now))
    assert 200 <= reply.status_code < 300, reply.text
    dead_letter_topic = bridge_settings(kind).kafka.topics.dead_letter
    letters = [orjson.loads(r.value) for r in app.publisher.records if r.topic == dead_letter_topic]
    events = [r for r in app.publisher.records if r.topic != dead_letter_topic]
    assert len(events) == 3 and len(letters) == 1
    [letter] = letters
    assert letter["index"] == 1 and letter["request_id"]
    for path, value in case.names(whole).items():
        assert _at(letter, path) == value, path

    settings = bridge_settings(kind)
    providers = {p.name: build(p, FixedClock(now)) for p in settings.providers}
    envelopes = {p.name: Envelope(p.cloudevents_source, settings.kafka.topics.by_type(), include_raw=p.include_raw)
                 for p in settings.providers}
    with pytest.raises(MalformedCallbackError) as still:  # the cause is not fixed: refused for the same reason
        reparse(letter, providers, envelopes)
    assert still.value.reason == letter["reason"]
    alone = orjson.loads(letter["report_body"])
    assert case.reports(alone) == [bad]  # the callback's own shape, holding that report alone

    mended = {**letter, "report_body": orjson.dumps(_replace(alone, bad, good)).decode()}
    [record] = reparse(mended, providers, envelopes)
    direct = make_provider(kind, now)
    request = direct.sign(BASE + direct.settings.path, orjson.dumps(whole), case.sample, now)
    received = datetime.fromisoformat(letter["received_at"].replace("Z", "+00:00"))
    expected = [i for i in direct.parse(direct.verify(to_raw(direct, request, received)))
                if not isinstance(i, BadReport)]
    assert record.event_id == expected[1].id  # the very event that report gives in the whole callback
    assert record.key == expected[1].key.encode("utf-8")
