"""`sms-bridge redrive` end to end: dead letters written by a real bridge come back after a config fix."""

from __future__ import annotations

import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import yaml

from bridge.clock import FixedClock
from bridge.events import EventType
from bridge.kafka.envelope import Envelope, KafkaRecord
from bridge.providers.tencent import TencentProvider, TencentSettings
from tests.conftest import ROOT, TENCENT_TOKEN, config_dict
from tests.helpers import assert_valid_record
from tests.integration.kafka import read_sync

pytestmark = pytest.mark.integration

DR = "sms.delivery-receipts"


def report(sid: str, **changes: Any) -> dict[str, Any]:
    return {"user_receive_time": "2026-11-22 14:00:00", "nationcode": "86", "mobile": "13800138000",
            "report_status": "SUCCESS", "errmsg": "DELIVRD", "description": "ok", "sid": sid, **changes}


def configuration(bootstrap: str, dead_letter: str, max_reports: int) -> dict[str, Any]:
    config = config_dict(bootstrap)
    config["kafka"]["topics"] = {"dead_letter": dead_letter}
    config["providers"] = [config["providers"][0] | {"name": "tencent-redrive", "max_reports": max_reports}]
    return config


def redrive(config_path: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bridge", "redrive", "--config", str(config_path), *flags],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)


def test_redrive_brings_dead_letters_back_after_a_config_fix_with_their_deterministic_ids(  # type: ignore[no-untyped-def]
    broker, bridge_process, tmp_path: Path
) -> None:
    dead_letter = f"sms.bridge.dead-letter.{uuid.uuid4().hex[:8]}"
    broker.create_topics([dead_letter])
    bridge = bridge_process(configuration(broker.bootstrap, dead_letter, max_reports=2))
    url = f"{bridge.url}/callbacks/tencent/test/{TENCENT_TOKEN}"
    run = uuid.uuid4().hex[:8]
    too_many = [report(f"{run}-a"), report(f"{run}-b"), report(f"{run}-c")]
    partial = [report(f"{run}-d"), report(f"{run}-e", user_receive_time="yesterday")]
    assert httpx.post(url, content=orjson.dumps(too_many)).status_code == 400  # whole callback dead-lettered
    assert httpx.post(url, content=orjson.dumps(partial)).status_code == 200  # d published, e dead-lettered

    fixed = tmp_path / "fixed.yaml"
    fixed.write_text(yaml.safe_dump(configuration(broker.bootstrap, dead_letter, max_reports=100)), "utf-8")
    dry = redrive(fixed)
    assert dry.returncode == 0, dry.stderr
    assert "read 2 dead letter(s)" in dry.stdout and "would publish 3 event(s)" in dry.stdout, dry.stdout
    assert "still failing: 1 x invalid_field" in dry.stdout

    skipped = redrive(fixed, "--reason", "invalid_field", "--apply")  # the one that still fails: nothing to publish
    assert "0 now parse" in skipped.stdout and "1 outside the selection" in skipped.stdout, skipped.stdout

    applied = redrive(fixed, "--apply", "--reason", "too_many_reports")
    assert applied.returncode == 0 and "published 3 event(s)" in applied.stdout, applied.stdout + applied.stderr

    wanted = {f"{run}-{s}" for s in "abcd"}
    records = read_sync(broker.bootstrap, [DR], lambda rs: wanted <= {(r.key or b"").decode() for r in rs}, 90)
    ours = {(r.key or b"").decode(): r for r in records if (r.key or b"").decode() in wanted}
    assert set(ours) == wanted and len([r for r in records if (r.key or b"").decode() in wanted]) == 4

    # The ids are those the callback would have given had it been accepted in the first place.
    provider = TencentProvider(TencentSettings.model_validate(configuration("x:1", "d", 100)["providers"][0]),
                               FixedClock(0))
    envelope = Envelope("/sms/tencent/1400000000", {t: t.value for t in EventType})
    for sid, record in ours.items():
        event = orjson.loads(record.value)
        assert_valid_record(KafkaRecord(record.topic, record.key or b"", record.value, record.headers, event["id"],
                                        EventType.DELIVERY_RECEIPT))
        received = datetime.fromisoformat(event["data"]["received_at"].replace("Z", "+00:00")).astimezone(UTC)
        expected = provider.parse(provider.restore(_raw(report(sid), received)))[0]
        assert event["id"] == envelope.to_record(expected).event_id  # type: ignore[arg-type]


def _raw(body: dict[str, Any], received: datetime) -> Any:
    from bridge.providers.base import RawCallback

    return RawCallback(orjson.dumps([body]), {}, None, received)
