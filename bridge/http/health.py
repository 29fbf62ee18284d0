"""Probes: /livez (the process answers) and /readyz (callbacks can be stored now, not draining)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from bridge.http.lifecycle import Lifecycle
from bridge.kafka.publisher import Publisher


class Health:
    """The two probe endpoints. Neither touches the network; both are cheap."""

    def __init__(self, publisher: Publisher, lifecycle: Lifecycle) -> None:
        self._publisher = publisher
        self._lifecycle = lifecycle

    @property
    def ready(self) -> bool:
        return self._publisher.accepting and not self._lifecycle.draining

    async def livez(self, request: Request) -> Response:
        """The process and its event loop answer. Never depends on Kafka (no restart storms)."""
        return PlainTextResponse("ok\n")

    async def readyz(self, request: Request) -> Response:
        """Ready when callbacks can be stored (Kafka answered recently, or the spool has room) and
        the bridge is not draining. A pod spooling through a Kafka outage stays ready. When Kafka is
        the reason and its cause is known, the text names it: `kafka not connected: tls_hostname`."""
        if self.ready:
            return PlainTextResponse("ready\n")
        cause = self._publisher.cause
        why = "draining" if self._lifecycle.draining else "kafka not connected" + (f": {cause}" if cause else "")
        return PlainTextResponse(f"not ready: {why}\n", status_code=503)
