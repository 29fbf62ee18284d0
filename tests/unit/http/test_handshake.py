"""Control callbacks and outside key material through the whole app: a kind's handshake() answers a
verified callback without publishing (confirming by GET first when it names a URL), and prepare() fetches
what verify() needs through the injected fetcher; neither runs for a callback that fails verification."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import httpx
import orjson
import pytest
from prometheus_client import CollectorRegistry

from bridge.clock import FixedClock
from bridge.errors import VerificationError
from bridge.http.app import create_app
from bridge.providers import PROVIDERS
from bridge.providers.base import JSON, Fetch, Handshake, RawCallback, Reply
from tests.conftest import make_settings
from tests.contract.echo_provider import EchoProvider, EchoVerified, _mac
from tests.fakes import FakePublisher

pytestmark = pytest.mark.anyio

PATH = "/callbacks/shake/test"
SECRET = "shake-test-secret"
KEY_URL = "https://keys.example.test/key.pem"
CONFIRM_URL = "https://confirm.example.test/?token=abc"


class ShakeProvider(EchoProvider):
    """Echo, plus a validation handshake (`{"validate": code}` echoes the code) and a key it must fetch."""

    async def prepare(self, callback: RawCallback, fetch: Fetch) -> None:
        if callback.headers.get("x-shake-key") == "fetch":
            await fetch(KEY_URL)

    def handshake(self, verified: EchoVerified) -> Handshake | None:
        body = orjson.loads(verified.raw.body) if verified.raw.body.startswith(b'{"validate"') else None
        if body is None:
            return None
        reply = Reply(200, orjson.dumps({"validationResponse": body["validate"]}), JSON)
        return Handshake(reply, confirm_url=CONFIRM_URL if body.get("confirm") else None)


class Fetcher:
    def __init__(self) -> None:
        self.urls: list[str] = []
        self.failing = False

    async def __call__(self, url: str) -> bytes:
        self.urls.append(url)
        if self.failing:
            raise VerificationError("key_unavailable", "outbound fetch failed: TimeoutError", status=503)
        return b"ok"


@pytest.fixture
def shake(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setitem(PROVIDERS, "echo", ShakeProvider)  # the test-only kind, with a handshake
    yield


@pytest.fixture
def app_parts(shake: None) -> tuple[httpx.AsyncClient, FakePublisher, Fetcher]:
    document = {
        "kafka": {"bootstrap_servers": ["127.0.0.1:9"], "enable_idempotence": False, "produce_timeout_seconds": 3},
        "providers": [{"kind": "echo", "name": "shake-test", "path": PATH, "secret": SECRET}],
    }
    publisher, fetcher = FakePublisher(), Fetcher()
    now = time.time()
    app = create_app(make_settings(document), publisher, CollectorRegistry(), FixedClock(now), fetch=fetcher)
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bridge.test")
    return client, publisher, fetcher


def signed(body: bytes, *, secret: str = SECRET, nonce: str | None = None) -> dict[str, str]:
    """Headers as the echo kind signs: HMAC-SHA256 over `timestamp.nonce.body`."""
    timestamp = str(int(time.time()))
    nonce = nonce or uuid.uuid4().hex
    return {"content-type": JSON, "x-echo-timestamp": timestamp, "x-echo-nonce": nonce,
            "x-echo-signature": _mac(secret, timestamp, nonce, body)}


async def test_a_verified_validation_is_answered_with_the_kinds_reply_and_nothing_is_published(
    app_parts: tuple[httpx.AsyncClient, FakePublisher, Fetcher],
) -> None:
    client, publisher, fetcher = app_parts
    body = orjson.dumps({"validate": "c0de"})
    reply = await client.post(PATH, content=body, headers=signed(body))
    assert reply.status_code == 200 and reply.json() == {"validationResponse": "c0de"}
    assert publisher.records == [] and fetcher.urls == []


async def test_a_handshake_that_names_a_url_is_confirmed_by_get_before_the_reply(
    app_parts: tuple[httpx.AsyncClient, FakePublisher, Fetcher],
) -> None:
    client, publisher, fetcher = app_parts
    body = orjson.dumps({"validate": "c0de", "confirm": True})
    reply = await client.post(PATH, content=body, headers=signed(body))
    assert reply.status_code == 200 and fetcher.urls == [CONFIRM_URL] and publisher.records == []


async def test_an_unverified_handshake_is_refused_and_confirms_nothing(
    app_parts: tuple[httpx.AsyncClient, FakePublisher, Fetcher],
) -> None:
    client, publisher, fetcher = app_parts
    body = orjson.dumps({"validate": "c0de", "confirm": True})
    reply = await client.post(PATH, content=body, headers=signed(body, secret="not-the-secret"))
    assert reply.status_code == 401 and reply.text == "no: bad_signature"
    assert fetcher.urls == [] and publisher.records == []


async def test_a_failed_confirmation_asks_for_a_retry_and_the_retry_is_not_a_replay(
    app_parts: tuple[httpx.AsyncClient, FakePublisher, Fetcher],
) -> None:
    client, _, fetcher = app_parts
    body = orjson.dumps({"validate": "c0de", "confirm": True})
    headers = signed(body, nonce="n-retry")
    fetcher.failing = True
    first = await client.post(PATH, content=body, headers=headers)
    assert first.status_code == 503 and first.headers["retry-after"] == "5" and first.text == "no: key_unavailable"
    fetcher.failing = False
    retry = await client.post(PATH, content=body, headers=headers)
    assert retry.status_code == 200 and fetcher.urls == [CONFIRM_URL, CONFIRM_URL]


async def test_prepare_fetches_key_material_before_verify_and_its_failure_stores_nothing(
    app_parts: tuple[httpx.AsyncClient, FakePublisher, Fetcher],
) -> None:
    client, publisher, fetcher = app_parts
    body = orjson.dumps({"id": "m1", "to": "+14155552671", "state": "delivered", "at": int(time.time())})
    fetcher.failing = True
    refused = await client.post(PATH, content=body, headers={**signed(body), "x-shake-key": "fetch"})
    assert refused.status_code == 503 and publisher.records == [] and fetcher.urls == [KEY_URL]
    fetcher.failing = False
    accepted = await client.post(PATH, content=body, headers={**signed(body), "x-shake-key": "fetch"})
    assert accepted.status_code == 200 and len(publisher.records) == 1
