"""The link to Kafka as aiokafka makes it: the producer's options, why a connection failed (its cause), a
diagnostic connection for when aiokafka dropped the reason, and its connection events, watched."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

from aiokafka.conn import CloseReason, create_conn  # type: ignore[import-untyped]
from aiokafka.errors import (  # type: ignore[import-untyped]
    AuthenticationFailedError,
    IllegalSaslStateError,
    KafkaTimeoutError,
    RequestTimedOutError,
    SaslAuthenticationFailed,
    UnsupportedSaslMechanismError,
)
from aiokafka.helpers import create_ssl_context  # type: ignore[import-untyped]

from bridge.kafka.causes import KafkaCause, classify
from bridge.kafka.settings import KafkaSettings

log = logging.getLogger(__name__)

DIAGNOSE_TIMEOUT_SECONDS: Final = 2.0  # a diagnostic connection that takes longer says "timeout"
# Why aiokafka closes a connection when the link failed (not an idle drop, not our own shutdown).
LINK_FAILURES: Final[Mapping[int, KafkaCause]] = {
    CloseReason.CONNECTION_BROKEN: "closed",
    CloseReason.CONNECTION_TIMEOUT: "timeout",
    CloseReason.OUT_OF_SYNC: "unknown",
    CloseReason.AUTH_FAILURE: "auth",
}
AUTH_ERRORS: Final = (
    AuthenticationFailedError, SaslAuthenticationFailed, UnsupportedSaslMechanismError, IllegalSaslStateError
)  # fmt: skip
# The aiokafka client's methods watch_connections() wraps (private in aiokafka 0.11-0.14; a test checks).
CLIENT_HOOKS: Final = ("_on_connection_closed", "_get_conn")


def producer_options(settings: KafkaSettings) -> dict[str, Any]:
    """aiokafka producer options from the settings (acks=all, always)."""
    options: dict[str, Any] = {
        "bootstrap_servers": list(settings.bootstrap_servers),
        "client_id": settings.client_id,
        "acks": "all",
        "enable_idempotence": settings.enable_idempotence,
        "linger_ms": settings.linger_ms,
        "max_batch_size": settings.max_batch_bytes,
        "max_request_size": max(settings.max_batch_bytes, 2 * 1024 * 1024),
        "compression_type": settings.compression_type,
        "request_timeout_ms": max(1000, int(settings.produce_timeout_seconds * 1000)),
        "security_protocol": settings.security_protocol,
    }
    if settings.security_protocol in ("SSL", "SASL_SSL"):
        context = create_ssl_context(
            cafile=settings.ssl_cafile, certfile=settings.ssl_certfile, keyfile=settings.ssl_keyfile
        )
        context.check_hostname = settings.ssl_check_hostname
        options["ssl_context"] = context
    if settings.security_protocol.startswith("SASL_"):
        options["sasl_mechanism"] = settings.sasl_mechanism
        options["sasl_plain_username"] = settings.sasl_username
        options["sasl_plain_password"] = settings.sasl_password.reveal() if settings.sasl_password else None
    return options


def cause_of(error: BaseException) -> KafkaCause:
    """The cause an aiokafka error's chain names (`unknown` when aiokafka dropped it)."""
    return classify(error, auth=AUTH_ERRORS, timeouts=(KafkaTimeoutError, RequestTimedOutError))


def host_port(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host.strip("[]"), int(port)


async def diagnose(settings: KafkaSettings, addresses: Sequence[tuple[str, int]]) -> KafkaCause:
    """Why the brokers at `addresses` cannot be reached: a fresh connection to each, opened the way
    aiokafka opens its own (TLS, SASL, an ApiVersions request), until one fails; `unknown` if none does.
    Needed because aiokafka's bootstrap and metadata errors do not keep the failure that caused them."""
    options = producer_options(settings)
    for host, port in addresses:
        try:
            async with asyncio.timeout(DIAGNOSE_TIMEOUT_SECONDS):
                conn = await create_conn(
                    host, port, client_id=options["client_id"], request_timeout_ms=options["request_timeout_ms"],
                    ssl_context=options.get("ssl_context"), security_protocol=options["security_protocol"],
                    sasl_mechanism=options.get("sasl_mechanism") or "PLAIN",
                    sasl_plain_username=options.get("sasl_plain_username"),
                    sasl_plain_password=options.get("sasl_plain_password"),
                )
        except Exception as exc:  # any failure is the answer, classified
            return cause_of(exc)
        conn.close()
    return "unknown"


def watch_connections(
producer: Any, *, current: Callable[[], bool], down: Callable[[KafkaCause | None, str], None]
) -> None:
    """Mark Kafka down the moment the producer's client loses a connection (reset, closed by the
    peer, a request timed out) or fails to open one, instead of at the next probe: aiokafka
    only logs these and retries until the produce deadline. Only once `producer` is the
    connected one (`current()`), so failures while starting or stopping do not count. `down(cause,
detail)` is told; a None cause: the publisher's last known one.

    aiokafka has no public hook for this: the client's connection-close callback and its
    connection getter are wrapped on this instance. Should a release rename them, the bridge
    logs it and falls back to the probe (tests/unit/kafka/test_publisher_hooks.py fails).
    """
    client = producer.client
    if not all(callable(getattr(client, name, None)) for name in CLIENT_HOOKS):
        log.warning(
            "aiokafka client hooks missing: a lost connection is noticed at the next probe",
            extra={"event": "kafka_hooks_missing"},
        )
        return
    closed_cb, get_conn = client._on_connection_closed, client._get_conn

    def on_connection_closed(conn: Any, reason: Any) -> None:
        closed_cb(conn, reason)
        if reason in LINK_FAILURES and current():
            down(LINK_FAILURES[reason], f"connection: {CloseReason(reason).name.lower()}")

    async def connect(*args: Any, **kwargs: Any) -> Any:
        conn = await get_conn(*args, **kwargs)
        if conn is None and current():  # aiokafka logged why and returns None
            down(None, "connection: connect failed")
        return conn

    client._on_connection_closed = on_connection_closed
    client._get_conn = connect
