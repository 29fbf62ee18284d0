"""Every registered kind end to end: its documented samples, signed as the provider signs them,
posted over HTTP to a real `bridge serve`, read back from the real broker as records that the
CloudEvents SDK and the JSON Schemas accept; and the same samples signed without the instance's
secret, refused with nothing published."""

from __future__ import annotations

import base64
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from bridge.cli.dev_broker import EmbeddedBroker
from bridge.cli.send import post, prepare
from bridge.config import Settings, parse
from bridge.events import EventType
from bridge.kafka.envelope import KafkaRecord
from bridge.kafka.settings import DEFAULT_DEAD_LETTER_TOPIC, TopicSettings
from bridge.providers import PROVIDERS, dev_instances
from bridge.providers.aws_sns_dev import new_pair
from bridge.providers.telnyx_signature import private_key
from tests.bench.procs import metrics_totals
from tests.conftest import TOPICS as BRIDGE_TOPICS
from tests.helpers import assert_valid_record
from tests.integration.kafka import Record, read_sync

pytestmark = pytest.mark.integration

TOPICS = TopicSettings().by_type()
DEAD_LETTERS = DEFAULT_DEAD_LETTER_TOPIC
DEFAULT = re.compile(r"^(\$\{[A-Z0-9_]+:-)(.)(.*\})$")


def forged(value: Any) -> Any:
    """The instance's secrets, each changed in its first character: what a forger without them signs with
    (base64 keys stay valid keys, so the signature is a real one by another key)."""
    if isinstance(value, dict):
        return {k: forged(v) for k, v in value.items()}
    if isinstance(value, list):
        return [forged(v) for v in value]
    if isinstance(value, str) and (match := DEFAULT.match(value)):
        head, first, rest = match.groups()
        return f"{head}{'B' if first == 'A' else 'A'}{rest}"
    return value


def forged_instance(instance: dict[str, Any]) -> dict[str, Any]:
    """The instance as a forger would hold it; a signing key pair (Telnyx) stays a pair, of the forger's key; an
    SNS forger pins a certificate of its own at the instance's certificate URL (the forger cannot sign with AWS's)."""
    out: dict[str, Any] = forged(instance)
    if "certificates" in out:
        key, certificate = new_pair("forger")
        out["signing_private_key"] = key
        out["certificates"] = dict.fromkeys(out["certificates"], certificate)
    elif "signing_private_key" in out:
        _, first, rest = DEFAULT.match(out["signing_private_key"]).groups()  # type: ignore[union-attr]
        public = private_key(first + rest[:-1]).public_key().public_bytes_raw()
        out["public_key"] = base64.b64encode(public).decode()
    return out


def settings_of(config: dict[str, Any]) -> Settings:
    return parse(yaml.safe_dump(config), {})


def sources(records: list[Record], wanted: set[str]) -> list[Record]:
    return [r for r in records if orjson.loads(r.value).get("source") in wanted]


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[EmbeddedBroker]:
    """A broker of this test's own: other tests read the session broker's topics whole and expect
    only their instances' sources there."""
    with EmbeddedBroker(log_file=tmp_path / "broker.log") as running:
        running.create_topics(BRIDGE_TOPICS)
        yield running


def test_every_sample_of_every_kind_reaches_kafka_as_a_valid_record_and_forgeries_never_do(  # type: ignore[no-untyped-def]
    own_broker, bridge_process
) -> None:
    broker = own_broker
    run = uuid.uuid4().hex[:8]
    instances = [{**i, "name": f"{i['kind']}-e2e-{run}", "source": f"/sms/{i['kind']}/e2e-{run}"}
                 for i in dev_instances()]
    config: dict[str, Any] = {
        "server": {"host": "127.0.0.1", "port": 8080, "graceful_shutdown_seconds": 5},
        "kafka": {"bootstrap_servers": [broker.bootstrap], "enable_idempotence": False, "produce_timeout_seconds": 3},
        "providers": instances,
    }
    bridge = bridge_process(config)
    genuine = settings_of({**config, "server": {**config["server"], "port": bridge.port}})
    forger = settings_of({**config, "providers": [forged_instance(i) for i in instances]})
    assert forger.providers != genuine.providers
    wanted = {i["source"] for i in instances}

    refused: list[tuple[str, str, int]] = []
    for instance in forger.providers:
        for sample in PROVIDERS[instance.kind].samples:
            answer = post(prepare(forger, instance, sample.name, bridge.url, None))
            refused.append((instance.kind, sample.name, answer.status))
    assert all(status in (401, 403) for _, _, status in refused), refused
    assert {kind for kind, _, _ in refused} == set(PROVIDERS)
    after_forgeries = read_sync(broker.bootstrap, [*TOPICS.values(), DEAD_LETTERS], lambda rs: False, timeout=3)
    assert sources(after_forgeries, wanted) == []
    assert metrics_totals(bridge.port)["records"] == 0

    sent: set[tuple[str, EventType]] = set()
    for instance in genuine.providers:
        for sample in PROVIDERS[instance.kind].samples:
            answer = post(prepare(genuine, instance, sample.name, bridge.url, None))
            assert 200 <= answer.status < 300, (instance.kind, sample.name, answer.status, answer.body, answer.reason)
            sent.add((instance.kind, sample.event_type))
    totals = metrics_totals(bridge.port)
    samples = sum(len(cls.samples) for cls in PROVIDERS.values())
    assert totals["accepted"] == samples and totals["records"] >= samples

    records = read_sync(broker.bootstrap, list(TOPICS.values()),
                        lambda rs: len(sources(rs, wanted)) >= totals["records"])
    mine = sources(records, wanted)
    assert len(mine) == totals["records"]
    seen: set[tuple[str, EventType]] = set()
    for record in mine:
        raw = orjson.loads(record.value)
        event_type = EventType(raw["type"])
        assert record.topic == TOPICS[event_type]
        assert_valid_record(KafkaRecord(record.topic, record.key or b"", record.value, record.headers, raw["id"],
                                        event_type))
        kind = raw["data"]["provider"]
        assert raw["source"] == f"/sms/{kind}/e2e-{run}"
        seen.add((kind, event_type))
    assert seen == sent
    assert {kind for kind, _ in seen} == set(PROVIDERS)
    dead = read_sync(broker.bootstrap, [DEAD_LETTERS], lambda rs: False, timeout=1)
    assert [r for r in dead if f"e2e-{run}".encode() in r.value] == []
