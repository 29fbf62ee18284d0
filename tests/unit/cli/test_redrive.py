"""Redrive's pure parts: which dead letters are selected, and what a dead letter becomes today."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from bridge.cli.redrive import Selection, reparse, selected
from bridge.clock import FixedClock
from bridge.config import Settings
from bridge.errors import MalformedCallbackError
from bridge.kafka.dead_letters import to_dead_letter
from bridge.kafka.envelope import Envelope
from bridge.providers import build
from bridge.providers.base import RawCallback
from tests.conftest import SEED_EPOCH, fixture_bytes
from tests.helpers import nx_headers

WHEN = datetime.fromtimestamp(SEED_EPOCH, UTC)


def tools(settings: Settings) -> tuple[dict[str, Any], dict[str, Envelope]]:
    providers = {p.name: build(p, FixedClock(SEED_EPOCH)) for p in settings.providers}
    envelopes = {p.name: Envelope(p.cloudevents_source, settings.kafka.topics.by_type(), include_raw=p.include_raw)
                 for p in settings.providers}
    return providers, envelopes


def letter(settings: Settings, instance: str, body: bytes, headers: dict[str, str]) -> dict[str, Any]:
    provider = tools(settings)[0][instance]
    record = to_dead_letter("dlq", provider=provider.kind, instance=instance,
                            error=MalformedCallbackError("invalid_json", "x"), body=body, headers=headers,
                            received_at=WHEN, safe_headers=provider.safe_headers)
    value: dict[str, Any] = orjson.loads(record.value)
    return value


def test_a_signed_nxcloud_dead_letter_parses_again_from_its_safe_headers(settings: Settings) -> None:
    body = fixture_bytes("nxcloud", "dr.json")
    dead = letter(settings, "nxcloud-test", body, nx_headers(body))
    assert "sign" not in dead["headers"]  # not kept, and not needed: it was verified when written
    [record] = reparse(dead, *tools(settings))
    direct = tools(settings)[0]["nxcloud-test"]
    expected = direct.parse(direct.verify(RawCallback(body, nx_headers(body), None, WHEN)))[0]
    assert record.event_id == expected.id


def test_a_body_kept_as_base64_is_decoded_and_a_truncated_one_still_fails(settings: Settings) -> None:
    body = fixture_bytes("tencent", "status.json")
    dead = letter(settings, "tencent-test", body, {})
    dead["body_base64"] = base64.b64encode(dead.pop("body").encode()).decode()
    assert reparse(dead, *tools(settings))
    dead["body_truncated"] = True
    with pytest.raises(MalformedCallbackError, match="truncated"):
        reparse(dead, *tools(settings))


@pytest.mark.parametrize(
    ("selection", "offset", "chosen"),
    [
        (Selection(), 5, True),
        (Selection(from_offset=6), 5, False),
        (Selection(to_offset=4), 5, False),
        (Selection(reasons=frozenset({"invalid_json"})), 5, True),
        (Selection(reasons=frozenset({"missing_field"})), 5, False),
        (Selection(instance="other"), 5, False),
        (Selection(since=datetime(2021, 2, 8, tzinfo=UTC)), 5, False),
        (Selection(until=datetime(2021, 2, 8, tzinfo=UTC)), 5, True),
    ],
)
def test_the_selection_filters_by_offset_reason_instance_and_time(
    settings: Settings, selection: Selection, offset: int, chosen: bool
) -> None:
    dead = letter(settings, "tencent-test", b"[]", {})
    assert selected(dead, offset, selection) is chosen
