"""Test helpers: provider instances, raw and signed callbacks, and the record oracles."""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import jsonschema
import orjson
from cloudevents.core.base import BaseCloudEvent
from cloudevents.core.bindings.kafka import KafkaMessage, from_binary, from_kafka, from_structured
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent

from bridge.clock import Clock
from bridge.errors import CallbackError
from bridge.events import EventType, SmsEvent
from bridge.http.guard import Guard
from bridge.http.replay_cache import ReplayCache
from bridge.kafka.envelope import Envelope, KafkaRecord
from bridge.providers import Provider, ProviderAdapter
from bridge.providers.base import BadReport, InstanceSettings, Outgoing, Parsed, RawCallback, Reply, Verified
from bridge.providers.nxcloud import NxCloudProvider, NxCloudSettings, signed_headers
from bridge.providers.tencent import TencentProvider, TencentSettings
from bridge.schemas import load as load_schema
from tests.conftest import FIXTURES, NX_ACCESS_KEY, NX_SECRET, SEED_EPOCH, TENCENT_TOKEN, config_dict

S = TypeVar("S", bound=InstanceSettings)
V = TypeVar("V", bound=Verified)
SEED_MS = int(SEED_EPOCH * 1000)
SEED_TIME = datetime.fromtimestamp(SEED_EPOCH, UTC)
RFC3339_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{3})?Z$")
CE_SCHEMA_PATH = FIXTURES / "cloudevents-1.0.2.schema.json"

# jsonschema checks `date-time` and `uri` only with optional packages that are not installed;
# these checkers make format checking real without them.
FORMAT_CHECKER = jsonschema.FormatChecker()
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*$")
_NO_SPACE = re.compile(r"^[^\s\x00-\x1f\x7f]*$")


@FORMAT_CHECKER.checks("date-time", raises=ValueError)
def _date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if not _RFC3339.match(value):
        return False
    datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
    return True


@FORMAT_CHECKER.checks("uri", raises=ValueError)
def _uri(value: object) -> bool:
    if not isinstance(value, str):
        return True
    return bool(_SCHEME.match(urlsplit(value).scheme)) and bool(_NO_SPACE.match(value))


@FORMAT_CHECKER.checks("uri-reference", raises=ValueError)
def _uri_reference(value: object) -> bool:
    if not isinstance(value, str):
        return True
    urlsplit(value)
    return bool(_NO_SPACE.match(value))


DATA_VALIDATORS = {
    t: jsonschema.Draft202012Validator(load_schema(t), format_checker=FORMAT_CHECKER) for t in EventType
}


def cloudevents_validator() -> jsonschema.Draft7Validator | None:
    """The official CloudEvents 1.0.2 JSON Schema, when its copy is present."""
    if not CE_SCHEMA_PATH.exists():
        return None
    schema = json.loads(CE_SCHEMA_PATH.read_text("utf-8"))
    return jsonschema.Draft7Validator(schema, format_checker=FORMAT_CHECKER)


def decode(record: KafkaRecord) -> BaseCloudEvent:
    """The record as the official CloudEvents SDK (v2) reads it: structured mode, JSON format."""
    message = KafkaMessage(headers=dict(record.headers), key=record.key, value=record.value)
    return from_structured(message, JSONFormat(), CloudEvent)


def decode_binary(record: KafkaRecord) -> BaseCloudEvent:
    """The record as the official CloudEvents SDK (v2) reads it: binary mode, JSON data."""
    message = KafkaMessage(headers=dict(record.headers), key=record.key, value=record.value)
    return from_binary(message, JSONFormat(), CloudEvent)


BINARY_REQUIRED = ("ce_specversion", "ce_id", "ce_source", "ce_type", "ce_time", "ce_dataschema", "ce_partitionkey",
                   "content-type")
BINARY_OPTIONAL = ("ce_subject", "ce_traceparent")


def assert_valid_binary_record(record: KafkaRecord) -> dict[str, Any]:
    """A binary-mode record, checked on its headers and value and through the SDK's Kafka binding (both its
    `from_binary` and the auto-detecting `from_kafka`); the event in the JSON format, as a structured record
    would hold it (for comparing the modes), after the same checks as `assert_valid_record`."""
    headers = dict(record.headers)
    assert len(headers) == len(record.headers), "a header twice"
    assert set(BINARY_REQUIRED) <= set(headers) <= {*BINARY_REQUIRED, *BINARY_OPTIONAL}, sorted(headers)
    assert headers["content-type"] == b"application/json"
    text = {name.removeprefix("ce_"): value.decode("utf-8") for name, value in headers.items()
            if name.startswith("ce_")}
    raw: dict[str, Any] = {**text, "datacontenttype": "application/json", "data": orjson.loads(record.value)}
    assert raw["specversion"] == "1.0"
    assert re.fullmatch(r"[0-9a-f]{32}", raw["id"]) and record.event_id == raw["id"]
    assert RFC3339_UTC.match(raw["time"]), raw["time"]
    assert raw["partitionkey"] and raw["partitionkey"].encode("utf-8") == record.key
    assert "subject" not in raw or raw["subject"]
    event_type = record.event_type
    assert event_type is not None and raw["type"].endswith(event_type.value)
    DATA_VALIDATORS[event_type].validate(raw["data"])
    assert raw["time"] == raw["data"]["occurred_at"]
    validator = cloudevents_validator()
    if validator is not None:
        validator.validate(raw)
    for event in (decode_binary(record),
                  from_kafka(KafkaMessage(headers=headers, key=record.key, value=record.value), JSONFormat())):
        assert event.get_attributes() == {**text, "datacontenttype": "application/json",
                                          "time": datetime.fromisoformat(raw["time"].replace("Z", "+00:00"))}
        assert event.get_data() == raw["data"]
    assert len(record.value) + sum(len(n) + len(v) for n, v in record.headers if n.startswith("ce_")) <= 64 * 1024
    return raw


def events_of(parsed: Parsed) -> list[SmsEvent]:
    """The events of a parse() result that must hold no bad report."""
    assert not [item for item in parsed if isinstance(item, BadReport)], parsed
    return [item for item in parsed if not isinstance(item, BadReport)]


def assert_valid_record(record: KafkaRecord) -> dict[str, Any]:
    """Everything a consumer relies on, checked on the raw JSON and through the SDK; the raw JSON."""
    raw: dict[str, Any] = orjson.loads(record.value)
    assert dict(record.headers) == {"content-type": b"application/cloudevents+json; charset=utf-8"}
    assert isinstance(raw.get("id"), str) and raw["id"]
    assert isinstance(raw.get("time"), str) and RFC3339_UTC.match(raw["time"]), raw.get("time")
    assert raw["partitionkey"] and raw["partitionkey"].encode("utf-8") == record.key
    assert "subject" not in raw or raw["subject"]
    event_type = record.event_type
    assert event_type is not None and raw["type"].endswith(event_type.value) and record.event_id == raw["id"]
    DATA_VALIDATORS[event_type].validate(raw["data"])
    assert raw["time"] == raw["data"]["occurred_at"]
    validator = cloudevents_validator()
    if validator is not None:
        validator.validate(raw)
    event = decode(record)
    assert (event.get_id(), event.get_source(), event.get_type()) == (raw["id"], raw["source"], raw["type"])
    assert event.get_time() == datetime.fromisoformat(raw["time"].replace("Z", "+00:00"))
    assert event.get_data() == raw["data"]
    assert len(record.value) <= 64 * 1024
    return raw


# --- provider instances -----------------------------------------------------------------------


def _instance(kind: str) -> dict[str, Any]:
    return next(p for p in config_dict()["providers"] if p["kind"] == kind)


def tencent_settings(**overrides: Any) -> TencentSettings:
    return TencentSettings.model_validate({**_instance("tencent"), **overrides})


def nxcloud_settings(**overrides: Any) -> NxCloudSettings:
    return NxCloudSettings.model_validate({**_instance("nxcloud"), **overrides})


class Checked:
    """A provider behind the endpoint's shared checks, in the endpoint's order (allowlist, verify,
    freshness and replay): unit tests of a kind's verification see what a callback would see."""

    def __init__(self, provider: Provider[S, V], clock: Clock) -> None:
        self.provider = ProviderAdapter(provider)
        self.settings: InstanceSettings = provider.settings
        self.kind = provider.kind
        self.guard = Guard(provider.settings, clock, timestamped=provider.signs_time())

    def verify(self, callback: RawCallback) -> Any:
        self.guard.admit(callback.client)
        verified = self.provider.verify(callback)
        self.guard.check(verified)
        return verified

    def parse(self, verified: Verified) -> Parsed:
        return self.provider.parse(verified)

    def release(self, verified: Verified) -> None:
        self.guard.release(verified)

    def accepted(self, verified: Verified) -> Reply:
        return self.provider.accepted(verified)

    def rejected(self, error: CallbackError) -> Reply:
        return self.provider.rejected(error)

    @property
    def replay_cache(self) -> ReplayCache:
        return self.guard.replays


def tencent_provider(clock: Clock, **overrides: Any) -> Checked:
    return Checked(TencentProvider(tencent_settings(**overrides), clock), clock)


def nxcloud_provider(clock: Clock, **overrides: Any) -> Checked:
    return Checked(NxCloudProvider(nxcloud_settings(**overrides), clock), clock)


# --- callbacks --------------------------------------------------------------------------------


def tencent_callback(
    body: bytes, token: str | None = TENCENT_TOKEN, *, client: str | None = "203.0.113.7"
) -> RawCallback:
    return RawCallback(
        body=body, headers={"content-type": "application/json"}, client=client, received_at=SEED_TIME, url_token=token
    )


def nx_headers(
    body: bytes,
    *,
    action: str = "dr",
    access_key: str = NX_ACCESS_KEY,
    secret: str = NX_SECRET,
    ts_ms: int = SEED_MS,
    algorithm: str = "md5",
    biz_type: str = "4",
) -> dict[str, str]:
    """Headers of a correctly signed NxCloud callback, lower-case as on the wire."""
    return signed_headers(
        body, access_key=access_key, secret=secret, action=action, algorithm=algorithm, ts_ms=ts_ms, biz_type=biz_type
    )


def nxcloud_request(
    url: str, body: bytes, *, access_key: str, secret: str, action: str, algorithm: str = "md5",
    ts_ms: int | None = None, biz_type: str = "4",
) -> Outgoing:
    """A signed NxCloud callback to post (its signing time now unless given)."""
    ts = ts_ms if ts_ms is not None else int(time.time() * 1000)
    headers = signed_headers(body, access_key=access_key, secret=secret, action=action, ts_ms=ts, algorithm=algorithm,
                             biz_type=biz_type)
    return Outgoing("POST", url, headers, body)


def nx_callback(
    body: bytes, headers: dict[str, str] | None = None, *, client: str | None = "203.0.113.7", **signing: Any
) -> RawCallback:
    """A signed NxCloud callback (or one with the given headers)."""
    return RawCallback(
        body=body,
        headers=headers if headers is not None else nx_headers(body, **signing),
        client=client,
        received_at=SEED_TIME,
    )


def fixture_path(kind: str, name: str) -> Path:
    return FIXTURES / kind / name


def recorded_raw(settings: InstanceSettings, event: SmsEvent) -> Any:
    """The record's `data.raw` as the instance's envelope writes it: its `include_raw` is applied there."""
    envelope = Envelope(settings.cloudevents_source, {t: t.value for t in EventType}, include_raw=settings.include_raw)
    return orjson.loads(envelope.to_record(event).value)["data"]["raw"]
