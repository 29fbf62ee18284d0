"""The Provider contract, run against every registered kind and a kind defined only in tests/.

verify() gives a Verified value or VerificationError; parse() gives events (and BadReports) or
MalformedCallbackError; nothing else, whatever the bytes. Every sample a kind declares, signed
by its sign(), goes over HTTP through the real endpoint and becomes records that the official
SDK and the shipped schemas accept. The endpoint enforces the shared rules for every kind: a
disallowed address with a valid signature gets 403, an exact replay and a stale signed time are
refused, and nothing is published in each case.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import orjson
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from bridge.clock import FixedClock
from bridge.config import Settings, parse
from bridge.errors import CallbackError, MalformedCallbackError, VerificationError
from bridge.events import DeliveryReceipt, InboundMessage, Status
from bridge.http.app import create_app
from bridge.http.lifecycle import Lifecycle
from bridge.kafka.envelope import Envelope
from bridge.providers import PROVIDERS, ProviderAdapter, build
from bridge.providers.base import BadReport, Outgoing, RawCallback, Verified
from tests.fakes import FakePublisher
from tests.helpers import assert_valid_record

PEER = ("203.0.113.5", 40000)
BASE = "http://bridge.test"
PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                          HealthCheck.function_scoped_fixture])


def instance(kind: str, **overrides: Any) -> dict[str, Any]:
    cls = PROVIDERS[kind]
    return {"kind": kind, "name": f"{kind}-test", "path": f"/callbacks/{kind}/test", **cls.dev_instance, **overrides}


def bridge_settings(kind: str, **overrides: Any) -> Settings:
    document = {
        "server": {"host": "127.0.0.1", "port": 8080},
        "kafka": {"bootstrap_servers": ["127.0.0.1:9"], "enable_idempotence": False, "produce_timeout_seconds": 1},
        "providers": [instance(kind, **overrides)],
    }
    return parse(yaml.safe_dump(document), {})


def make_provider(kind: str, now: float, **overrides: Any) -> ProviderAdapter:
    return build(bridge_settings(kind, **overrides).providers[0], FixedClock(now))


def secrets_of(kind: str) -> list[str]:
    """The dev instance's secret values, as configured (defaults of `${VAR:-default}` resolved)."""
    out: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)
        elif isinstance(node, str) and len(node) >= 8 and not node.startswith("/"):
            out.append(node.split(":-", 1)[1].rstrip("}") if node.startswith("${") else node)

    walk(PROVIDERS[kind].dev_instance)
    return out


def signed(provider: ProviderAdapter, sample: str, now: float) -> Outgoing:
    body = next(s for s in provider.samples if s.name == sample).body(now)
    return provider.sign(BASE + provider.settings.path, body, sample, now)


def to_raw(provider: ProviderAdapter, request: Outgoing, received: datetime,
           client: str | None = PEER[0]) -> RawCallback:
    """The callback as the endpoint would hand it to the provider (for the pure-level tests)."""
    parts = urlsplit(request.url)
    headers = {k.lower(): v for k, v in request.headers.items()}
    form = tuple(parse_qsl(request.body.decode())) if provider.body_kind(headers) == "form" else ()
    extra = parts.path[len(provider.settings.path):].strip("/")
    query = tuple(parse_qsl(parts.query, keep_blank_values=True))
    token = extra or next((v for k, v in query if k == "token"), None)
    return RawCallback(request.body, headers, client, received, token, request.method, request.url, query, form)


class App:
    """The real app in process for one kind's test instance, with a fake publisher."""

    def __init__(self, kind: str, now: float, peer: tuple[str, int] = PEER, **overrides: Any) -> None:
        self.publisher = FakePublisher()
        self.clock = FixedClock(now)
        self.registry = CollectorRegistry()
        app = create_app(bridge_settings(kind, **overrides), self.publisher, self.registry, self.clock, Lifecycle())
        self.client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=peer), base_url=BASE)

    async def send(self, request: Outgoing) -> httpx.Response:
        return await self.client.request(request.method, request.url, headers=dict(request.headers),
                                         content=request.body if request.method != "GET" else None)


@pytest.fixture
def now() -> Iterator[float]:
    yield float(int(time.time()))


# --- the registry ----------------------------------------------------------------------------------


def test_every_kind_declares_what_the_seam_needs(kind: str, now: float) -> None:
    cls = PROVIDERS[kind]
    assert cls.kind == kind and cls.title
    assert cls.settings_model.model_fields["kind"].default == kind
    assert cls.methods and cls.methods <= {"GET", "POST", "OPTIONS"}
    assert cls.media_types and set(cls.media_types.values()) <= {"json", "form"}
    assert not cls.safe_headers & {"authorization", "cookie", "x-twilio-signature", "sign"}
    assert cls.samples and len({s.name for s in cls.samples}) == len(cls.samples)
    assert all(isinstance(code, str) and isinstance(status, Status) for code, status in cls.statuses.items())
    assert make_provider(kind, now).is_a(cls)


def test_every_kind_says_of_every_code_it_maps_whether_it_is_final(kind: str, now: float) -> None:
    """`finality` covers `statuses` exactly; a delivered or undelivered code is the last word on the message."""
    cls = PROVIDERS[kind]
    assert cls.finality.keys() == cls.statuses.keys()
    assert all(isinstance(final, bool) for final in cls.finality.values())
    assert all(cls.finality[code] for code, status in cls.statuses.items() if status is not Status.UNKNOWN)


def test_every_receipt_says_final_as_its_kind_declares_for_its_code(kind: str, now: float) -> None:
    provider = make_provider(kind, now)
    finality = PROVIDERS[kind].finality
    received = datetime.fromtimestamp(now, UTC)
    for sample in provider.samples:
        verified = provider.verify(to_raw(provider, signed(provider, sample.name, now), received))
        for event in provider.parse(verified):
            if isinstance(event, DeliveryReceipt):
                assert isinstance(event.final, bool)
                assert event.final or event.status is Status.UNKNOWN, sample.name
                if event.status_code in finality:
                    assert event.final is finality[event.status_code], sample.name


def test_every_sample_is_signed_verified_and_parsed_to_events_of_its_type(kind: str, now: float) -> None:
    provider = make_provider(kind, now)
    received = datetime.fromtimestamp(now, UTC)
    for sample in provider.samples:
        verified = provider.verify(to_raw(provider, signed(provider, sample.name, now), received))
        assert isinstance(verified, Verified)
        if provider.signs_time():
            assert verified.signed_at is not None and abs(verified.signed_at - now) < 600
        events = [e for e in provider.parse(verified) if not isinstance(e, BadReport)]
        assert events and all(e.type is sample.event_type and e.provider == kind for e in events), sample.name
        envelope = Envelope(provider.settings.cloudevents_source, {t: t.value for t in type(sample.event_type)})
        for event in events:
            assert_valid_record(envelope.to_record(event))


def test_a_retried_sample_resigned_later_gives_the_same_event_ids(kind: str, now: float) -> None:
    """EVENTS.md: the same provider record always gives the same id, so a provider's retry (the same body,
    signed again with a new nonce and time, received later) is a duplicate consumers can drop."""
    later = now + 61
    for sample in PROVIDERS[kind].samples:
        body = sample.body(now)  # once: many samples embed `now` in their ids and times
        ids = []
        for moment in (now, later):
            provider = make_provider(kind, moment)
            request = provider.sign(BASE + provider.settings.path, body, sample.name, moment)
            verified = provider.verify(to_raw(provider, request, datetime.fromtimestamp(moment, UTC)))
            events = [e for e in provider.parse(verified) if not isinstance(e, BadReport)]
            assert events, sample.name
            ids.append([e.id for e in events])
        assert ids[0] == ids[1], sample.name


def test_every_kind_puts_the_report_in_raw_whatever_the_instance_says(kind: str, now: float) -> None:
    """`include_raw` is not the kind's business: the envelope applies it (see the next test)."""
    received = datetime.fromtimestamp(now, UTC)
    for include_raw in (True, False):
        provider = make_provider(kind, now, include_raw=include_raw)
        for sample in provider.samples:
            verified = provider.verify(to_raw(provider, signed(provider, sample.name, now), received))
            events = [e for e in provider.parse(verified) if not isinstance(e, BadReport)]
            assert events and all(isinstance(e.raw, dict) and e.raw for e in events), (sample.name, include_raw)


@pytest.mark.anyio
async def test_include_raw_decides_whether_records_carry_the_report(kind: str, now: float) -> None:
    """The same callbacks to an instance with `include_raw` and one without: the first's records carry
    the report, the second's are the same records with `raw` null."""
    with_raw, without_raw = App(kind, now), App(kind, now, include_raw=False)
    provider = make_provider(kind, now)
    for sample in provider.samples:
        request = signed(provider, sample.name, now)
        for app in (with_raw, without_raw):
            assert (await app.send(request)).status_code < 300, sample.name
    assert len(with_raw.publisher.records) == len(without_raw.publisher.records) > 0
    for on, off in zip(with_raw.publisher.records, without_raw.publisher.records, strict=True):
        full, bare = orjson.loads(on.value), orjson.loads(off.value)
        assert isinstance(full["data"]["raw"], dict) and full["data"]["raw"]
        assert bare["data"]["raw"] is None
        assert bare == {**full, "data": {**full["data"], "raw": None}}


# --- the shared rules, enforced by the endpoint for every kind ---------------------------------------


@pytest.mark.anyio
async def test_every_sample_over_http_is_accepted_and_published_as_valid_records(kind: str, now: float) -> None:
    app = App(kind, now)
    provider = make_provider(kind, now)
    for sample in provider.samples:
        before = len(app.publisher.records)
        reply = await app.send(signed(provider, sample.name, now))
        assert 200 <= reply.status_code < 300, (sample.name, reply.status_code, reply.text)
        records = app.publisher.records[before:]
        assert records and all(r.event_type is sample.event_type for r in records)
        for record in records:
            assert_valid_record(record)


@pytest.mark.anyio
async def test_a_disallowed_address_with_a_valid_signature_gets_403_and_nothing_is_published(
    kind: str, now: float
) -> None:
    app = App(kind, now, allowed_networks=["192.0.2.0/24"])
    provider = make_provider(kind, now)
    reply = await app.send(signed(provider, provider.samples[0].name, now))
    assert reply.status_code == 403
    assert app.publisher.records == []
    allowed = App(kind, now, peer=("192.0.2.9", 40000), allowed_networks=["192.0.2.0/24"])
    assert (await allowed.send(signed(provider, provider.samples[0].name, now))).status_code < 300


@pytest.mark.anyio
async def test_an_exact_replay_is_refused_and_nothing_more_is_published(kind: str, now: float) -> None:
    provider = make_provider(kind, now)
    request = signed(provider, provider.samples[0].name, now)
    verified = provider.verify(to_raw(provider, request, datetime.fromtimestamp(now, UTC)))
    if verified.replay_key is None:
        assert not provider.signs_time(), "a kind that signs a time must name each callback for replay refusal"
        pytest.skip(f"{kind} callbacks carry neither a nonce nor a signed time to refuse a replay by")
    app = App(kind, now)
    assert (await app.send(request)).status_code < 300
    published = len(app.publisher.records)
    again = await app.send(request)
    assert again.status_code == 403
    assert len(app.publisher.records) == published


@pytest.mark.anyio
async def test_a_stale_signed_time_is_refused_and_nothing_is_published(kind: str, now: float) -> None:
    provider = make_provider(kind, now)
    if not provider.signs_time():
        pytest.skip(f"{kind} signs no time")
    window = provider.settings.timestamp_tolerance_seconds
    app = App(kind, now)
    for skew in (-window - 60, window + 60):
        reply = await app.send(signed(provider, provider.samples[0].name, now + skew))
        assert reply.status_code == 401, (skew, reply.text)
    assert app.publisher.records == []


# --- verify and parse are total ----------------------------------------------------------------------

any_text = st.text(st.characters() | st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF, categories=["Cs"]),
                   max_size=30)
pairs = st.lists(st.tuples(any_text, any_text), max_size=5).map(tuple)


@PROPERTY
@given(data=st.data(), client=st.none() | st.ip_addresses().map(str) | any_text)
def test_verify_and_parse_raise_only_callback_errors_for_any_input(kind: str, now: float, data: st.DataObject,
                                                                   client: str | None) -> None:
    provider = make_provider(kind, now)
    received = datetime.fromtimestamp(now, UTC)
    genuine = [to_raw(provider, signed(provider, s.name, now), received) for s in provider.samples]
    base = data.draw(st.sampled_from(genuine))
    names = sorted({*base.headers, "content-type", "authorization"})
    headers = data.draw(st.fixed_dictionaries({}, optional={n: st.sampled_from([base.headers.get(n, ""), ""]) | any_text
                                                            for n in names}))
    body = data.draw(st.just(base.body) | st.binary(max_size=200) | st.just(base.body[: len(base.body) // 2]))
    callback = RawCallback(body, headers, client, received, data.draw(st.none() | any_text | st.just(base.url_token)),
                           base.method, data.draw(st.just(base.url) | any_text), data.draw(st.just(base.query) | pairs),
                           data.draw(st.just(base.form) | pairs))
    try:
        verified = provider.verify(callback)
    except VerificationError as error:
        assert error.status in (401, 403)
        return
    try:
        items = provider.parse(verified)
    except MalformedCallbackError as error:
        assert error.status == 400
        return
    assert all(isinstance(e, DeliveryReceipt | InboundMessage | BadReport) for e in items)


@PROPERTY
@given(data=st.data())
def test_restore_of_any_dead_letter_gives_a_verified_value_or_malformed(kind: str, now: float,
                                                                        data: st.DataObject) -> None:
    provider = make_provider(kind, now)
    received = datetime.fromtimestamp(now, UTC)
    callback = RawCallback(data.draw(st.binary(max_size=100)), data.draw(st.dictionaries(any_text, any_text,
                                                                                         max_size=3)),
                           None, received, None, "POST", "", data.draw(pairs), data.draw(pairs))
    try:
        verified = provider.restore(callback)
        items = provider.parse(verified)
    except MalformedCallbackError:
        return
    assert all(isinstance(e, DeliveryReceipt | InboundMessage | BadReport) for e in items)


# --- replies -----------------------------------------------------------------------------------------

ERRORS: list[CallbackError] = [
    VerificationError("bad_signature", "signature: does not match"),
    VerificationError("source_not_allowed", "source address is not in allowed_networks", status=403),
    MalformedCallbackError("invalid_json", "body is not valid JSON"),
    CallbackError("internal_error", "internal error", status=500),
    CallbackError("timeout", "not stored; retry later", status=503),
]


def test_replies_have_the_errors_status_and_never_carry_secrets(kind: str, now: float) -> None:
    provider = make_provider(kind, now)
    received = datetime.fromtimestamp(now, UTC)
    accepted = [provider.accepted(provider.verify(to_raw(provider, signed(provider, s.name, now), received)))
                for s in provider.samples]
    assert all(200 <= reply.status < 300 for reply in accepted)
    rejected = [provider.rejected(error) for error in ERRORS]
    assert [reply.status for reply in rejected] == [error.status for error in ERRORS]
    assert all(reply.body != accepted[0].body or reply.status != accepted[0].status for reply in rejected)
    for reply in [*accepted, *rejected]:
        text = reply.body.decode("utf-8", "replace") + repr(reply.headers)
        assert not [secret for secret in secrets_of(kind) if secret in text]


@pytest.mark.anyio
async def test_a_callback_signed_for_the_configured_public_url_verifies_behind_any_host(kind: str, now: float) -> None:
    public = "https://sms.example.com/hooks/" + kind
    provider = make_provider(kind, now, public_url=public)
    sample = provider.samples[0]
    signed_for_public = provider.sign(public, sample.body(now), sample.name, now)
    path = BASE + provider.settings.path + signed_for_public.url[len(public):]  # token or query as signed
    request = Outgoing(signed_for_public.method, path, signed_for_public.headers, signed_for_public.body)
    app = App(kind, now, public_url=public)
    reply = await app.send(request)
    assert 200 <= reply.status_code < 300, reply.text
    assert app.publisher.records
