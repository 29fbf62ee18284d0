"""Kafka's settings (`kafka:` in the configuration): brokers, security, delivery guarantees, topics."""

from __future__ import annotations

import re
from typing import Annotated, Final, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from bridge.events import EventType
from bridge.redact import Secret

DEFAULT_DELIVERY_RECEIPT_TOPIC: Final = "sms.delivery-receipts"
DEFAULT_INBOUND_MESSAGE_TOPIC: Final = "sms.inbound-messages"
DEFAULT_DEAD_LETTER_TOPIC: Final = "sms.bridge.dead-letter"

ContentMode = Literal["structured", "binary"]
"""How a record carries its CloudEvent (the CloudEvents Kafka protocol binding): `structured`, the whole event as
JSON in the value; `binary`, the attributes as `ce_*` headers and `data` alone in the value."""

_TOPIC = Annotated[str, Field(pattern=r"^[A-Za-z0-9._-]{1,249}$")]
_HOST_PORT: Final = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[^\s:\[\]/]+):([0-9]{1,5})$")


def host_port(text: str) -> str:
    """`text` if it is `host:port` (`[v6]:port` for IPv6) with a port from 1 to 65535, else ValueError."""
    match = _HOST_PORT.match(text)
    if match is None or not 1 <= int(match.group(2)) <= 65535:
        raise ValueError(f"{text!r} is not host:port (a port from 1 to 65535)")
    return text


class TopicSettings(BaseModel):
    """One Kafka topic per event type, and the dead-letter topic."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    delivery_receipt: _TOPIC = DEFAULT_DELIVERY_RECEIPT_TOPIC
    inbound_message: _TOPIC = DEFAULT_INBOUND_MESSAGE_TOPIC
    dead_letter: _TOPIC = DEFAULT_DEAD_LETTER_TOPIC

    def by_type(self) -> dict[EventType, str]:
        return {EventType.DELIVERY_RECEIPT: self.delivery_receipt, EventType.INBOUND_MESSAGE: self.inbound_message}


class KafkaSettings(BaseModel):
    """The producer: brokers, security passed through to aiokafka, delivery guarantees."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    bootstrap_servers: Annotated[tuple[Annotated[str, AfterValidator(host_port)], ...], Field(min_length=1)]
    client_id: str = "sms-bridge"
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    sasl_username: str | None = None
    sasl_password: Secret | None = None
    ssl_cafile: str | None = None
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None
    ssl_check_hostname: bool = True
    enable_idempotence: bool = True
    produce_timeout_seconds: Annotated[float, Field(gt=0, le=300)] = 5.0
    linger_ms: Annotated[int, Field(ge=0, le=1000)] = 0
    max_batch_bytes: Annotated[int, Field(ge=1024, le=16 * 1024 * 1024)] = 131_072
    compression_type: Literal["gzip", "snappy", "lz4", "zstd"] | None = None
    type_prefix: Annotated[str, Field(pattern=r"^([a-z0-9-]+(\.[a-z0-9-]+)*)?$")] = ""
    content_mode: ContentMode = "structured"
    topics: TopicSettings = TopicSettings()

    @model_validator(mode="after")
    def _sasl_complete(self) -> KafkaSettings:
        sasl = (self.sasl_mechanism, self.sasl_username, self.sasl_password)
        if self.security_protocol.startswith("SASL_") and None in sasl:
            raise ValueError("SASL needs sasl_mechanism, sasl_username and sasl_password")
        return self
