"""The AsyncAPI document: the committed docs/asyncapi.yaml is what `sms-bridge asyncapi` prints, it validates
against the official AsyncAPI 3.0.0 JSON Schema (vendored in tests/fixtures/asyncapi/), its `data` schemas are
the shipped ones by reference, and the records the envelope writes, in either content mode, and the dead letters
match the messages it describes."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema
import orjson
import pytest
import referencing
import yaml
from referencing.jsonschema import DRAFT7

from bridge.cli.main import main
from bridge.errors import MalformedCallbackError
from bridge.events import EventType
from bridge.kafka import asyncapi
from bridge.kafka.dead_letters import to_dead_letter
from bridge.kafka.envelope import DATASCHEMA, Envelope, KafkaRecord
from bridge.kafka.settings import ContentMode, TopicSettings
from bridge.providers.base import BadReport
from bridge.schemas import load as load_schema
from scripts import docs
from tests.conftest import FIXTURES, ROOT, config_dict
from tests.helpers import FORMAT_CHECKER
from tests.unit.kafka.test_envelope import FIXTURE_EVENTS, TRACEPARENT

DOC = ROOT / "docs" / "asyncapi.yaml"
SPEC = FIXTURES / "asyncapi" / "asyncapi-3.0.0.schema.json"
SPEC_VALIDATOR = jsonschema.Draft7Validator(json.loads(SPEC.read_text("utf-8")), format_checker=FORMAT_CHECKER)
MODES: tuple[ContentMode, ...] = ("structured", "binary")


def committed() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(DOC.read_text("utf-8"))
    return loaded


def test_the_committed_document_is_what_the_command_prints(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["asyncapi", "--schema-base", asyncapi.DOCS_SCHEMA_BASE]) == 0
    assert capsys.readouterr().out == DOC.read_text("utf-8"), "run `make docs` and commit docs/asyncapi.yaml"
    assert docs.asyncapi("", {}, {}) == DOC.read_text("utf-8")
    assert docs.ASYNCAPI in docs.FILES


def test_the_committed_document_is_valid_asyncapi_3() -> None:
    assert json.loads(SPEC.read_text("utf-8"))["$id"] == "http://asyncapi.com/definitions/3.0.0/asyncapi.json"
    errors = [f"{list(e.absolute_path)}: {e.message[:200]}" for e in SPEC_VALIDATOR.iter_errors(committed())]
    assert errors == []


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("prefix", ["", "com.example"])
def test_every_configuration_gives_a_valid_document(mode: ContentMode, prefix: str) -> None:
    topics = TopicSettings(delivery_receipt="acme.dr", inbound_message="acme.mo", dead_letter="acme.dlq")
    doc = asyncapi.document(topics, type_prefix=prefix, content_mode=mode, sources=["/sms/tencent/1", "/sms/x/y"])
    SPEC_VALIDATOR.validate(yaml.safe_load(asyncapi.render(doc)))
    assert [c["address"] for c in doc["channels"].values()] == ["acme.dr", "acme.mo", "acme.dlq"]


def test_the_validator_is_real_it_rejects_a_broken_document() -> None:
    doc = committed()
    doc["operations"]["send_delivery_receipt"]["action"] = "publish"  # AsyncAPI 2's word, gone in 3.0
    assert not SPEC_VALIDATOR.is_valid(doc)
    doc = committed()
    doc["channels"]["dead_letter"]["bindings"]["kafka"]["bindingVersion"] = "9.9.9"
    assert not SPEC_VALIDATOR.is_valid(doc)


def test_the_channels_are_the_default_topics_and_each_event_type_has_one() -> None:
    doc = committed()
    assert {c["address"] for c in doc["channels"].values()} == {
        "sms.delivery-receipts", "sms.inbound-messages", "sms.bridge.dead-letter"}
    assert {m["name"] for m in doc["components"]["messages"].values()} == {*(t.value for t in EventType),
                                                                           "dead_letter"}
    for operation in doc["operations"].values():
        assert operation["action"] == "send"


@pytest.mark.parametrize("event_type", list(EventType))
def test_data_is_the_shipped_schema_by_reference_not_a_copy(event_type: EventType) -> None:
    message = committed()["components"]["messages"][event_type.name.lower()]
    ref = message["payload"]["properties"]["data"]["$ref"]
    path = (DOC.parent / ref).resolve()
    assert path == (ROOT / "bridge" / "schemas" / f"{event_type.value}.v1.json").resolve()
    assert json.loads(path.read_text("utf-8")) == load_schema(event_type)
    assert json.loads(path.read_text("utf-8"))["$id"] == DATASCHEMA[event_type]
    assert "additionalProperties" not in json.dumps(message["payload"]["properties"]["data"])


def test_the_command_points_at_the_installed_schemas_by_default(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["asyncapi"]) == 0
    doc = yaml.safe_load(capsys.readouterr().out)
    ref = doc["components"]["messages"]["delivery_receipt"]["payload"]["properties"]["data"]["$ref"]
    assert ref.startswith("file:///") and ref.endswith("/bridge/schemas/sms.delivery_receipt.v1.json")
    assert Path(ref.removeprefix("file://")).is_file()


def test_the_command_describes_the_configured_topics_prefix_and_mode(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = config_dict()
    config["kafka"].update({"type_prefix": "com.example", "content_mode": "binary",
                            "topics": {"delivery_receipt": "acme.dr", "dead_letter": "acme.dlq"}})
    path = tmp_path / "bridge.yaml"
    path.write_text(yaml.safe_dump(config), "utf-8")
    assert main(["asyncapi", "--config", str(path), "--schema-base", "https://schemas.example.com/sms/"]) == 0
    doc = yaml.safe_load(capsys.readouterr().out)
    SPEC_VALIDATOR.validate(doc)
    assert [c["address"] for c in doc["channels"].values()] == ["acme.dr", "sms.inbound-messages", "acme.dlq"]
    receipt = doc["components"]["messages"]["delivery_receipt"]
    assert receipt["name"] == "com.example.sms.delivery_receipt" and receipt["contentType"] == "application/json"
    assert receipt["payload"] == {"$ref": "https://schemas.example.com/sms/sms.delivery_receipt.v1.json"}
    assert receipt["headers"]["properties"]["ce_type"]["const"] == "com.example.sms.delivery_receipt"
    assert doc["components"]["schemas"]["source"]["examples"] == ["/sms/tencent/1400000000",
                                                                   "/sms/nxcloud/kGp5uFHN"]


def test_a_bad_configuration_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bridge.yaml"
    path.write_text("kafka: {content_mode: avro}\n", "utf-8")
    assert main(["asyncapi", "--config", str(path)]) == 2
    assert "content_mode" in capsys.readouterr().err


# --- the document describes the records ----------------------------------------------------------------


def validator(doc: dict[str, Any], pointer: str) -> jsonschema.Draft7Validator:
    """A validator for the schema at `pointer` in the document (written to docs/), its `$ref`s resolved: the
    document's own and the shipped `data` schemas beside it, each in its own dialect."""
    base = DOC.resolve().as_uri()
    registry: referencing.Registry[Any] = referencing.Registry().with_resource(
        base, DRAFT7.create_resource(doc))
    for event_type in EventType:
        schema = load_schema(event_type)
        uri = (ROOT / "bridge" / "schemas" / f"{event_type.value}.v1.json").resolve().as_uri()
        registry = registry.with_resources([(uri, referencing.Resource.from_contents(schema)),
                                            (schema["$id"], referencing.Resource.from_contents(schema))])
    return jsonschema.Draft7Validator({"$ref": f"{base}#{pointer}"}, registry=registry, format_checker=FORMAT_CHECKER)


def check(doc: dict[str, Any], message: str, record: KafkaRecord, value: Any) -> None:
    headers = {name: v.decode("utf-8") for name, v in record.headers}
    validator(doc, f"/components/messages/{message}/headers").validate(headers)
    validator(doc, f"/components/messages/{message}/payload").validate(value)
    validator(doc, f"/components/messages/{message}/bindings/kafka/key").validate(record.key.decode("utf-8"))
    topic = doc["channels"][message]["address"]
    assert record.topic == topic


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(("name", "event", "include_raw"), FIXTURE_EVENTS, ids=[n for n, _, _ in FIXTURE_EVENTS])
def test_every_fixture_record_matches_its_message_in_the_document(mode: ContentMode, name: str, event: Any,
                                                                  include_raw: bool) -> None:
    topics = TopicSettings()
    doc = yaml.safe_load(asyncapi.render(asyncapi.document(topics, type_prefix="com.example", content_mode=mode)))
    envelope = Envelope("/sms/test/x", topics.by_type(), "com.example", include_raw, mode)
    for traceparent in (None, TRACEPARENT):
        record = envelope.to_record(event, traceparent)
        check(doc, event.type.name.lower(), record, orjson.loads(record.value))


def test_the_document_rejects_a_record_of_the_other_mode() -> None:
    doc = committed()
    event = FIXTURE_EVENTS[0][1]
    record = Envelope("/sms/test/x", TopicSettings().by_type(), content_mode="binary").to_record(event)
    with pytest.raises(jsonschema.ValidationError):
        check(doc, event.type.name.lower(), record, orjson.loads(record.value))


def test_dead_letters_match_their_message_in_the_document() -> None:
    doc = committed()
    when = datetime(2026, 1, 2, tzinfo=UTC)
    error = MalformedCallbackError("invalid_json", "not JSON")
    common: dict[str, Any] = {"provider": "tencent", "instance": "tencent-main", "error": error,
                              "headers": {"content-type": "application/json", "x-signature": "s"},
                              "received_at": when, "query": (("token", "t"), ("a", "b")), "request_id": "r1"}
    for record in (
        to_dead_letter("sms.bridge.dead-letter", body=b"{oops", **common),
        to_dead_letter("sms.bridge.dead-letter", body=b"\xff\xfe", **common),
        to_dead_letter("sms.bridge.dead-letter", body=b"[{}]", report=BadReport(0, {"x": 1}, error), **common),
    ):
        check(doc, "dead_letter", record, orjson.loads(record.value))


def test_the_data_reference_is_followed_when_records_are_checked() -> None:
    event = FIXTURE_EVENTS[0][1]
    value = orjson.loads(Envelope("/sms/test/x", TopicSettings().by_type()).to_record(event).value)
    value["data"]["status"] = "great"
    with pytest.raises(jsonschema.ValidationError, match="great"):
        validator(committed(), f"/components/messages/{event.type.name.lower()}/payload").validate(value)
