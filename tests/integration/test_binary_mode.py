"""`kafka.content_mode: binary` end to end: every documented sample of every kind posted to a real `bridge serve`,
the records read back from the real broker by two independent consumers (aiokafka, and librdkafka through
confluent-kafka) and decoded by the CloudEvents SDK's Kafka binding (`from_binary`, and `from_kafka`, which must
detect the mode); each gives the same event the structured mode writes. Dead letters stay as they were."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from cloudevents.core.bindings.kafka import KafkaMessage, from_binary, from_kafka
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from bridge.cli.dev_broker import EmbeddedBroker
from bridge.cli.send import post, prepare
from bridge.config import Settings, parse
from bridge.events import EventType
from bridge.kafka.envelope import KafkaRecord
from bridge.kafka.settings import DEFAULT_DEAD_LETTER_TOPIC, TopicSettings
from bridge.providers import PROVIDERS, dev_instances
from tests.bench.procs import metrics_totals
from tests.conftest import TOPICS as BRIDGE_TOPICS
from tests.helpers import assert_valid_binary_record
from tests.integration.kafka import Record, read_sync

pytestmark = pytest.mark.integration

TOPICS = TopicSettings().by_type()


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[EmbeddedBroker]:
    with EmbeddedBroker(log_file=tmp_path / "broker.log") as running:
        running.create_topics(BRIDGE_TOPICS)
        yield running


def settings_of(config: dict[str, Any]) -> Settings:
    return parse(yaml.safe_dump(config), {})


def source_of(headers: tuple[tuple[str, bytes], ...] | list[tuple[str, bytes]]) -> str | None:
    return next((value.decode() for name, value in headers if name == "ce_source"), None)


def read_with_librdkafka(bootstrap: str, topics: list[str], count: int, wanted: set[str],
                         timeout: float = 60.0) -> list[Record]:
    """Every record of `topics` from the beginning, by librdkafka (assigned partitions: no consumer group needed),
    until `count` of them carry a wanted `ce_source`."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"binary-{uuid.uuid4().hex[:8]}",
                         "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    try:
        metadata = consumer.list_topics(timeout=30)
        consumer.assign([TopicPartition(topic, partition, OFFSET_BEGINNING)
                         for topic in topics for partition in metadata.topics[topic].partitions])
        records: list[Record] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and len([r for r in records if source_of(r.headers) in wanted]) < count:
            message = consumer.poll(0.5)
            if message is None:
                continue
            assert message.error() is None, message.error()
            value = message.value()
            assert isinstance(value, bytes)
            key = message.key()
            headers = message.headers() or []
            assert isinstance(headers, list), headers  # librdkafka gives a list of (name, bytes) pairs
            records.append(Record(str(message.topic()), int(message.partition() or 0),
                                  key if isinstance(key, bytes) else None, value,
                                  tuple((str(name), v if isinstance(v, bytes) else b"") for name, v in headers)))
        return [r for r in records if source_of(r.headers) in wanted]
    finally:
        consumer.close()


def test_binary_records_of_every_kind_are_read_back_by_the_sdk_kafka_binding_and_by_librdkafka(  # type: ignore[no-untyped-def]
    own_broker, bridge_process
) -> None:
    broker = own_broker
    run = uuid.uuid4().hex[:8]
    instances = [{**i, "name": f"{i['kind']}-bin-{run}", "source": f"/sms/{i['kind']}/bin-{run}"}
                 for i in dev_instances()]
    config: dict[str, Any] = {
        "server": {"host": "127.0.0.1", "port": 8080, "graceful_shutdown_seconds": 5},
        "kafka": {"bootstrap_servers": [broker.bootstrap], "enable_idempotence": False, "produce_timeout_seconds": 3,
                  "content_mode": "binary", "type_prefix": "com.example"},
        "providers": instances,
    }
    bridge = bridge_process(config)
    settings = settings_of({**config, "server": {**config["server"], "port": bridge.port}})
    wanted = {i["source"] for i in instances}

    sent: set[tuple[str, EventType]] = set()
    for instance in settings.providers:
        for sample in PROVIDERS[instance.kind].samples:
            answer = post(prepare(settings, instance, sample.name, bridge.url, None))
            assert 200 <= answer.status < 300, (instance.kind, sample.name, answer.status, answer.body, answer.reason)
            sent.add((instance.kind, sample.event_type))
    expected = int(metrics_totals(bridge.port)["records"])
    assert expected >= sum(len(cls.samples) for cls in PROVIDERS.values())

    by_aiokafka = [r for r in read_sync(broker.bootstrap, list(TOPICS.values()),
                                        lambda rs: len([r for r in rs if source_of(r.headers) in wanted]) >= expected)
                   if source_of(r.headers) in wanted]
    assert len(by_aiokafka) == expected
    seen: set[tuple[str, EventType]] = set()
    for record in by_aiokafka:
        event_type = EventType(dict(record.headers)["ce_type"].decode().removeprefix("com.example."))
        assert record.topic == TOPICS[event_type]
        raw = assert_valid_binary_record(KafkaRecord(record.topic, record.key or b"", record.value, record.headers,
                                                     dict(record.headers)["ce_id"].decode(), event_type))
        assert raw["type"] == f"com.example.{event_type.value}"
        kind = raw["data"]["provider"]
        assert raw["source"] == f"/sms/{kind}/bin-{run}"
        seen.add((kind, event_type))
    assert seen == sent

    by_librdkafka = read_with_librdkafka(broker.bootstrap, list(TOPICS.values()), expected, wanted)
    assert len(by_librdkafka) == expected
    assert {(r.topic, r.key, r.value, r.headers) for r in by_librdkafka} == {
        (r.topic, r.key, r.value, r.headers) for r in by_aiokafka}
    for record in by_librdkafka:
        message = KafkaMessage(headers=dict(record.headers), key=record.key, value=record.value)
        event = from_binary(message, JSONFormat(), CloudEvent)
        detected = from_kafka(message, JSONFormat())
        assert detected.get_attributes() == event.get_attributes()
        assert event.get_data() == orjson.loads(record.value)
        assert event.get_extension("partitionkey") == (record.key or b"").decode()
        assert event.get_datacontenttype() == "application/json"

    dead = read_sync(broker.bootstrap, [DEFAULT_DEAD_LETTER_TOPIC], lambda rs: False, timeout=1)
    assert [r for r in dead if f"bin-{run}".encode() in r.value] == []


def test_dead_letters_stay_json_records_without_ce_headers_in_binary_mode(  # type: ignore[no-untyped-def]
    own_broker, bridge_process
) -> None:
    broker = own_broker
    instance = next(i for i in dev_instances() if i["kind"] == "nxcloud")
    config: dict[str, Any] = {
        "server": {"host": "127.0.0.1", "port": 8080, "graceful_shutdown_seconds": 5},
        "kafka": {"bootstrap_servers": [broker.bootstrap], "enable_idempotence": False, "produce_timeout_seconds": 3,
                  "content_mode": "binary"},
        "providers": [instance],
    }
    bridge = bridge_process(config)
    settings = settings_of({**config, "server": {**config["server"], "port": bridge.port}})
    body = b'{"messageId":"m-1","status":1}'  # verified (signed with the instance's key) but not a report we know
    answer = post(prepare(settings, settings.providers[0], "dr", bridge.url, body))
    assert answer.status == 400, (answer.status, answer.body)
    dead = read_sync(broker.bootstrap, [DEFAULT_DEAD_LETTER_TOPIC], lambda rs: len(rs) >= 1)
    assert len(dead) == 1
    assert dead[0].headers == (("content-type", b"application/json"),)
    letter = orjson.loads(dead[0].value)
    assert letter["instance"] == instance["name"] and letter["provider"] == "nxcloud" and "reason" in letter
