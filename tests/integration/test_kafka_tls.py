"""TLS to Kafka: the right CA connects and publishes; a certificate that does not verify, or is for
another name, keeps the bridge unready, and its /readyz, metric and log line say which."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from bridge.cli.dev_broker import EmbeddedBroker, free_port
from tests.conftest import TOPICS, BridgeProcess, config_dict
from tests.integration.test_spool import post, sample, wait_for
from tests.integration.tls import Authority, TlsTerminator, dns, loopback_ip

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class TlsBroker:
    authority: Authority  # issued the broker's certificate
    stranger: Authority  # issued nothing the broker serves
    address: str  # TLS, a certificate for 127.0.0.1: the broker's advertised address
    misnamed: str  # TLS to the same broker, a certificate for another name


@pytest.fixture(scope="module")
def tls_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsBroker]:
    """A plaintext Tansu behind a TLS terminator it advertises, and a second terminator whose
    certificate (from the same CA) names another host."""
    directory = tmp_path_factory.mktemp("tls")
    authority, stranger = Authority("test-ca", directory), Authority("other-ca", directory)
    broker_port = free_port()
    terminators = [
        TlsTerminator(broker_port, *authority.issue("broker", loopback_ip())),
        TlsTerminator(broker_port, *authority.issue("elsewhere", dns("kafka.elsewhere.invalid"))),
    ]
    broker = EmbeddedBroker(port=broker_port, advertised=terminators[0].address, log_file=directory / "broker.log")
    try:
        for terminator in terminators:
            terminator.start()
        broker.start().create_topics(TOPICS)
        yield TlsBroker(authority, stranger, terminators[0].address, terminators[1].address)
    finally:
        broker.stop()
        for terminator in terminators:
            terminator.stop()


def tls_config(bootstrap: str, cafile: Path) -> dict[str, Any]:
    config = config_dict(bootstrap)
    config["kafka"].update(security_protocol="SSL", ssl_cafile=str(cafile), ssl_check_hostname=True)
    return config


def readyz(bridge: BridgeProcess) -> tuple[int, str]:
    reply = httpx.get(bridge.url + "/readyz", timeout=5)
    return reply.status_code, reply.text


def failed_lines(bridge: BridgeProcess) -> list[dict[str, Any]]:
    lines = [orjson.loads(line) for line in bridge.logs().splitlines() if line.startswith("{")]
    return [line for line in lines if line.get("event") == "kafka_connect_failed"]


def test_with_the_right_ca_the_bridge_is_ready_and_publishes_over_tls(
    tls_broker: TlsBroker, bridge_process: Callable[..., BridgeProcess]
) -> None:
    bridge = bridge_process(tls_config(tls_broker.address, tls_broker.authority.cafile))
    assert readyz(bridge) == (200, "ready\n")
    assert post(bridge).status_code == 200  # acknowledged by the broker, through TLS (acks=all)
    assert sample(bridge, "sms_bridge_records_published_total") == 1
    assert sample(bridge, "sms_bridge_kafka_connect_failures_total") == 0


@pytest.mark.parametrize(
    ("stranger_ca", "misnamed", "cause"),
    [(True, False, "tls_certificate"), (False, True, "tls_hostname")],
    ids=["a certificate from another CA", "a certificate for another host name"],
)
def test_a_tls_failure_keeps_the_bridge_unready_and_names_its_cause(
    tls_broker: TlsBroker,
    bridge_process: Callable[..., BridgeProcess],
    stranger_ca: bool,
    misnamed: bool,
    cause: str,
) -> None:
    cafile = (tls_broker.stranger if stranger_ca else tls_broker.authority).cafile
    bootstrap = tls_broker.misnamed if misnamed else tls_broker.address
    bridge = bridge_process(tls_config(bootstrap, cafile), wait_ready=False)
    wait_for(lambda: sample(bridge, "sms_bridge_kafka_connect_failures_total", cause=cause) >= 3)  # retried
    assert readyz(bridge) == (503, f"not ready: kafka not connected: {cause}\n")
    assert post(bridge).status_code == 503
    assert sample(bridge, "sms_bridge_kafka_connect_failures_total") == sample(
        bridge, "sms_bridge_kafka_connect_failures_total", cause=cause
    )  # every attempt failed for that one cause
    lines = failed_lines(bridge)
    assert [line["cause"] for line in lines] == [cause]  # once per change of cause, not per retry
    assert lines[0]["msg"] == f"kafka connect failed, retrying: {cause}"
