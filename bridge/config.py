"""Settings: one YAML file, `${VAR}` and `${file:PATH}` substitution, validated into a frozen tree."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Final, Literal

import yaml
from pydantic import Field, IPvAnyNetwork, ValidationError, model_validator

from bridge.errors import ConfigError
from bridge.events import EventType
from bridge.providers import PROVIDERS, ProviderSettings
from bridge.providers.base import StrictModel
from bridge.redact import Secret

DEFAULT_DELIVERY_RECEIPT_TOPIC: Final = "sms.delivery-receipts"
DEFAULT_INBOUND_MESSAGE_TOPIC: Final = "sms.inbound-messages"
DEFAULT_DEAD_LETTER_TOPIC: Final = "sms.bridge.dead-letter"
DEFAULT_MAX_BODY_BYTES: Final = 1024 * 1024
RESERVED_PATHS: Final = ("/livez", "/readyz", "/metrics")  # the app's own routes (app.py)

_TOPIC = Annotated[str, Field(pattern=r"^[A-Za-z0-9._-]{1,249}$")]
_SUBSTITUTION = re.compile(r"\$\{([^}]*)\}")
_VARIABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class ServerSettings(StrictModel):
    """The HTTP side: where to listen and the limits on each callback."""

    host: str = "0.0.0.0"  # noqa: S104 (a container listens on every interface)
    port: Annotated[int, Field(ge=1, le=65535)] = 8080
    max_body_bytes: Annotated[int, Field(ge=1024, le=64 * 1024 * 1024)] = DEFAULT_MAX_BODY_BYTES
    reply_deadline_seconds: Annotated[float, Field(gt=0, le=300)] = 10.0
    body_timeout_seconds: Annotated[float, Field(gt=0, le=300)] = 5.0
    graceful_shutdown_seconds: Annotated[float, Field(ge=0, le=3600)] = 20.0
    max_in_flight: Annotated[int, Field(ge=1, le=1_000_000)] = 1024
    keep_alive_seconds: Annotated[int, Field(ge=1, le=3600)] = 75
    trusted_proxies: tuple[IPvAnyNetwork, ...] = ()


class TopicSettings(StrictModel):
    """One Kafka topic per event type, and the dead-letter topic."""

    delivery_receipt: _TOPIC = DEFAULT_DELIVERY_RECEIPT_TOPIC
    inbound_message: _TOPIC = DEFAULT_INBOUND_MESSAGE_TOPIC
    dead_letter: _TOPIC = DEFAULT_DEAD_LETTER_TOPIC

    def by_type(self) -> dict[EventType, str]:
        return {EventType.DELIVERY_RECEIPT: self.delivery_receipt, EventType.INBOUND_MESSAGE: self.inbound_message}


class KafkaSettings(StrictModel):
    """The producer: brokers, security passed through to aiokafka, delivery guarantees."""

    bootstrap_servers: Annotated[tuple[Annotated[str, Field(min_length=3)], ...], Field(min_length=1)]
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
    topics: TopicSettings = TopicSettings()

    @model_validator(mode="after")
    def _sasl_complete(self) -> KafkaSettings:
        sasl = (self.sasl_mechanism, self.sasl_username, self.sasl_password)
        if self.security_protocol.startswith("SASL_") and None in sasl:
            raise ValueError("SASL needs sasl_mechanism, sasl_username and sasl_password")
        return self


class LoggingSettings(StrictModel):
    """Log lines: JSON on stdout."""

    level: Literal["debug", "info", "warning", "error"] = "info"


class Settings(StrictModel):
    """The whole configuration: built once at start-up and never changed."""

    server: ServerSettings = ServerSettings()
    kafka: KafkaSettings
    logging: LoggingSettings = LoggingSettings()
    providers: Annotated[tuple[ProviderSettings, ...], Field(min_length=1)]

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        names = [p.name for p in self.providers]
        paths = [p.path for p in self.providers]
        if len(set(names)) != len(names):
            raise ValueError("providers: instance names must be unique")
        for i, path in enumerate(paths):
            for j, other in enumerate(paths):
                if i != j and (path == other or path.startswith(other + "/")):
                    raise ValueError(f"providers: path of providers[{i}] overlaps providers[{j}]")
            if any(path == r or path.startswith(r + "/") for r in RESERVED_PATHS):
                raise ValueError(f"providers: path of providers[{i}] is reserved ({', '.join(RESERVED_PATHS)})")
        if self.kafka.produce_timeout_seconds >= self.server.reply_deadline_seconds:
            raise ValueError("kafka.produce_timeout_seconds must be shorter than server.reply_deadline_seconds")
        if self.server.body_timeout_seconds >= self.server.reply_deadline_seconds:
            raise ValueError("server.body_timeout_seconds must be shorter than server.reply_deadline_seconds")
        return self


def load(path: str | Path, environ: Mapping[str, str] | None = None) -> Settings:
    """Read, substitute and validate a configuration file; ConfigError lists every problem."""
    path = Path(path)
    try:
        text = path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([("(file)", f"cannot read {path.name}: {type(exc).__name__}")]) from exc
    return parse(text, os.environ if environ is None else environ, base_dir=path.parent)


def parse(text: str, environ: Mapping[str, str], *, base_dir: Path = Path(".")) -> Settings:
    """Validate configuration text; `environ` feeds `${VAR}`, `base_dir` anchors `${file:...}`."""
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "(file)"
        raise ConfigError([(where, "not valid YAML")]) from exc
    if not isinstance(document, dict):
        raise ConfigError([("(file)", "must be a mapping")])
    problems: list[tuple[str, str]] = []
    substituted = _substitute(document, "", environ, base_dir, problems)
    try:
        settings = Settings.model_validate(substituted)
    except ValidationError as exc:
        errors = exc.errors(include_input=False)
        failed = [err["loc"] for err in errors]
        problems.extend(
            (_dotted(e["loc"]), e["msg"]) for e in errors if not _counted_short(e["type"], e["loc"], failed)
        )
        settings = None
    if problems or settings is None:
        raise ConfigError(problems)
    return settings


def _substitute(node: Any, path: str, environ: Mapping[str, str], base: Path, problems: list[tuple[str, str]]) -> Any:
    if isinstance(node, dict):
        return {k: _substitute(v, f"{path}.{k}" if path else str(k), environ, base, problems) for k, v in node.items()}
    if isinstance(node, list):
        return [_substitute(v, f"{path}[{i}]", environ, base, problems) for i, v in enumerate(node)]
    if not isinstance(node, str) or "${" not in node:
        return node

    def replace(match: re.Match[str]) -> str:
        token = match.group(1)
        if token.startswith("file:"):
            file = base / token[5:]
            try:
                return file.read_text("utf-8").rstrip("\r\n")
            except (OSError, UnicodeDecodeError):
                problems.append((path, f"secret file {token[5:]!r} cannot be read"))
                return ""
        name, _, default = token.partition(":-")
        if not _VARIABLE.match(name):
            problems.append((path, f"${{{token}}} is not a variable reference"))
            return ""
        if name in environ:
            return environ[name]
        if ":-" in token:
            return default
        problems.append((path, f"environment variable {name} is not set"))
        return ""

    return _SUBSTITUTION.sub(replace, node)


def _counted_short(kind: str, loc: tuple[int | str, ...], failed: list[tuple[int | str, ...]]) -> bool:
    """pydantic also calls a list "too short" when it counts only its valid items; that names the wrong problem."""
    return kind == "too_short" and any(len(other) > len(loc) and other[: len(loc)] == loc for other in failed)


def _dotted(loc: tuple[int | str, ...]) -> str:
    out = ""
    parts = list(loc)
    for i, part in enumerate(parts):
        if isinstance(part, int):
            out += f"[{part}]"
            continue
        if i >= 2 and parts[0] == "providers" and isinstance(parts[i - 1], int) and part in PROVIDERS:
            continue  # the discriminator tag pydantic inserts
        out += f".{part}" if out else part
    return out or "(root)"
