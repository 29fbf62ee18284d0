"""The HTTP side's settings (`server:` in the configuration): where to listen and each callback's limits."""

from __future__ import annotations

from typing import Annotated, Final

from pydantic import BaseModel, ConfigDict, Field, IPvAnyNetwork

DEFAULT_MAX_BODY_BYTES: Final = 1024 * 1024


class ServerSettings(BaseModel):
    """The HTTP side: where to listen and the limits on each callback."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = "0.0.0.0"  # noqa: S104 (a container listens on every interface)
    port: Annotated[int, Field(ge=1, le=65535)] = 8080
    max_body_bytes: Annotated[int, Field(ge=1024, le=64 * 1024 * 1024)] = DEFAULT_MAX_BODY_BYTES
    reply_deadline_seconds: Annotated[float, Field(gt=0, le=300)] = 10.0
    body_timeout_seconds: Annotated[float, Field(gt=0, le=300)] = 5.0
    graceful_shutdown_seconds: Annotated[float, Field(ge=0, le=3600)] = 20.0
    max_in_flight: Annotated[int, Field(ge=1, le=1_000_000)] = 1024
    keep_alive_seconds: Annotated[int, Field(ge=1, le=3600)] = 75
    trusted_proxies: tuple[IPvAnyNetwork, ...] = ()
