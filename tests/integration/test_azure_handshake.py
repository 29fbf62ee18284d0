"""Azure (Event Grid) against a real `sms-bridge serve`: the subscription validation event and the CloudEvents
OPTIONS handshake are answered and publish nothing; the kind's samples, authenticated by the query secret and
by an Entra ID bearer token (RSA key made at run time, JWKS inline in the configuration), come back from the
broker as records; forgeries of each scheme are refused with nothing published."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from bridge.cli.dev_broker import EmbeddedBroker
from bridge.kafka.settings import DEFAULT_DEAD_LETTER_TOPIC, TopicSettings
from bridge.providers.azure import AzureProvider
from bridge.providers.azure_signature import EVENT_GRID_APP_IDS
from tests.conftest import TOPICS as BRIDGE_TOPICS
from tests.conftest import fixture_bytes
from tests.integration.kafka import Record, read_sync

pytestmark = pytest.mark.integration

SECRET = "integration-azure-secret-0123456789"
ISSUER = "https://login.microsoftonline.com/00000000-0000-0000-0000-000000000001/v2.0"
AUDIENCE = "api://sms-bridge-integration"
ORIGIN = "eventgrid.azure.net"
TOPICS = [*TopicSettings().by_type().values(), DEFAULT_DEAD_LETTER_TOPIC]


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[EmbeddedBroker]:
    with EmbeddedBroker(log_file=tmp_path / "broker.log") as running:
        running.create_topics(BRIDGE_TOPICS)
        yield running


def keys() -> tuple[rsa.RSAPrivateKey, rsa.RSAPrivateKey]:
    return (rsa.generate_private_key(public_exponent=65537, key_size=2048),
            rsa.generate_private_key(public_exponent=65537, key_size=2048))


def bearer(key: rsa.RSAPrivateKey, **changes: Any) -> dict[str, str]:
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": AUDIENCE, "azp": EVENT_GRID_APP_IDS[0], "nbf": now - 60, "exp": now + 3600,
              **changes}
    return {"authorization": "Bearer " + jwt.encode(claims, key, algorithm="RS256", headers={"kid": "entra"})}


def test_azure_handshakes_samples_and_forgeries_against_a_running_bridge(  # type: ignore[no-untyped-def]
    own_broker, bridge_process
) -> None:
    run = uuid.uuid4().hex[:8]
    entra_key, forger_key = keys()
    public = {**jwt.algorithms.RSAAlgorithm.to_jwk(entra_key.public_key(), as_dict=True), "kid": "entra", "use": "sig"}
    secret_source, entra_source = f"/sms/azure/secret-{run}", f"/sms/azure/entra-{run}"
    config: dict[str, Any] = {
        "server": {"host": "127.0.0.1", "port": 8080, "graceful_shutdown_seconds": 5},
        "kafka": {"bootstrap_servers": [own_broker.bootstrap], "enable_idempotence": False,
                  "produce_timeout_seconds": 3},
        "providers": [
            {"kind": "azure", "name": "azure-secret", "path": "/callbacks/azure/secret", "source": secret_source,
             "query_secrets": [SECRET]},
            {"kind": "azure", "name": "azure-entra", "path": "/callbacks/azure/entra", "source": entra_source,
             "auth": "entra_id", "jwks": orjson.dumps({"keys": [public]}).decode(), "issuers": [ISSUER],
             "audiences": [AUDIENCE]},
        ],
    }
    bridge = bridge_process(config)
    secret_url = f"{bridge.url}/callbacks/azure/secret?token={SECRET}"
    entra_url = f"{bridge.url}/callbacks/azure/entra"
    validation = fixture_bytes("azure", "subscription_validation.json")
    json = {"content-type": "application/json", "aeg-event-type": "SubscriptionValidation"}
    samples = {s.name: s.body(time.time()) for s in AzureProvider.samples}
    media = {name: "application/cloudevents+json; charset=utf-8" if name.startswith("cloudevents")
             else "application/json" for name in samples}

    with httpx.Client(timeout=15) as client:
        # forgeries of each scheme, handshakes included: refused, nothing published
        forged = [
            client.post(secret_url.replace(SECRET, "forged-azure-secret-0123456789"), content=samples["dr"],
                        headers=json),
            client.post(secret_url.split("?")[0], content=samples["mo"], headers=json),
            client.post(secret_url.split("?")[0], content=validation, headers=json),
            client.options(secret_url.split("?")[0], headers={"webhook-request-origin": ORIGIN}),
            client.post(entra_url, content=samples["dr"], headers={**json, **bearer(forger_key)}),
            client.post(entra_url, content=samples["dr"], headers={**json, **bearer(entra_key, aud="api://other")}),
            client.post(entra_url, content=samples["dr"], headers={**json, **bearer(entra_key, iss="https://evil/")}),
            client.post(entra_url, content=samples["dr"], headers={**json, **bearer(entra_key, exp=1_000_000)}),
            client.post(entra_url, content=samples["dr"], headers={**json, "authorization": f"Bearer {SECRET}"}),
            client.post(entra_url + f"?token={SECRET}", content=samples["dr"], headers=json),
            client.options(entra_url, headers={"webhook-request-origin": ORIGIN, **bearer(forger_key)}),
            client.options(secret_url, headers={"webhook-request-origin": "evil.example.com"}),
        ]
        assert [r.status_code for r in forged] == [401] * 4 + [401, 401, 401, 401, 401, 401, 401, 403], \
            [(r.status_code, r.text) for r in forged]

        # the Event Grid validation handshake and the CloudEvents OPTIONS handshake, on each scheme
        for url, auth in ((secret_url, {}), (entra_url, bearer(entra_key))):
            answer = client.post(url, content=validation, headers={**json, **auth})
            assert answer.status_code == 200, answer.text
            assert answer.json() == {"validationResponse": "512d38b6-c7b8-40c8-89fe-f46f9e9622b6"}
            granted = client.options(url, headers={"webhook-request-origin": ORIGIN, "webhook-request-rate": "120",
                                                   **auth})
            assert granted.status_code == 200, granted.text
            assert granted.headers["webhook-allowed-origin"] == ORIGIN
            assert granted.headers["webhook-allowed-rate"] == "*"

        # the samples, authenticated as Event Grid does
        for name, body in samples.items():
            for url, auth in ((secret_url, {}), (entra_url, bearer(entra_key))):
                answer = client.post(url, content=body, headers={"content-type": media[name], "aeg-event-type":
                                                                 "Notification", **auth})
                assert answer.status_code == 200, (name, url, answer.text)

    wanted = {secret_source, entra_source}

    def mine(records: list[Record]) -> list[Record]:
        return [r for r in records if orjson.loads(r.value).get("source") in wanted]

    expected = 2 * len(samples)
    records = read_sync(own_broker.bootstrap, TOPICS, lambda rs: len(mine(rs)) >= expected)
    ours = mine(records)
    assert len(ours) == expected  # nothing from the forgeries or the handshakes, no dead letters
    assert all(r.topic != DEFAULT_DEAD_LETTER_TOPIC for r in ours)
    by_source = {source: sorted(orjson.loads(r.value)["type"] for r in ours
                                if orjson.loads(r.value)["source"] == source) for source in wanted}
    assert by_source[secret_source] == by_source[entra_source] == sorted(
        ["sms.delivery_receipt", "sms.inbound_message"] * 2)
    assert {orjson.loads(r.value)["data"]["provider"] for r in ours} == {"azure"}
