"""Running the app under uvicorn: draining on SIGTERM, then a bounded graceful shutdown."""

from __future__ import annotations

import gc
import logging
import signal
from types import FrameType

import uvicorn
from prometheus_client import CollectorRegistry
from starlette.applications import Starlette

from bridge.clock import SystemClock
from bridge.config import Settings
from bridge.lifecycle import Lifecycle
from bridge.publisher import KafkaPublisher

log = logging.getLogger(__name__)


class DrainingServer(uvicorn.Server):
    """A uvicorn server that marks the bridge as draining the moment a stop signal arrives,
    so /readyz turns false and new callbacks get the provider's failure reply."""

    def __init__(self, config: uvicorn.Config, lifecycle: Lifecycle) -> None:
        super().__init__(config)
        self.lifecycle = lifecycle

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if not self.lifecycle.draining:
            log.info("draining", extra={"event": "draining", "signal": sig, "in_flight": self.lifecycle.in_flight})
        self.lifecycle.draining = True
        super().handle_exit(sig, frame)
        if sig == signal.SIGTERM:
            # uvicorn re-raises captured signals after shutdown, so the process would die by
            # SIGTERM; a completed drain is a clean exit (code 0).
            self._captured_signals[:] = [s for s in self._captured_signals if s != signal.SIGTERM]


def build_app(settings: Settings) -> tuple[Starlette, Lifecycle]:
    """The production wiring: real clock, real Kafka publisher, a fresh registry."""
    from bridge.app import create_app

    lifecycle = Lifecycle()
    app = create_app(settings, KafkaPublisher(settings.kafka), CollectorRegistry(), SystemClock(), lifecycle)
    return app, lifecycle


def uvicorn_config(
    app: Starlette, settings: Settings, *, host: str | None = None, port: int | None = None
) -> uvicorn.Config:
    server = settings.server
    return uvicorn.Config(
        app,
        host=host or server.host,
        port=port if port is not None else server.port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=int(server.graceful_shutdown_seconds) or None,
        timeout_keep_alive=server.keep_alive_seconds,
        # No uvicorn limit: it would answer a bare 503 (not the provider's format) counting idle
        # keep-alive connections too. max_in_flight refuses callbacks in the provider's format.
        limit_concurrency=None,
        h11_max_incomplete_event_size=64 * 1024,
        server_header=False,
        proxy_headers=False,
        lifespan="on",
    )


def serve(settings: Settings, *, host: str | None = None, port: int | None = None) -> int:
    """Serve until stopped; returns the process exit code."""
    app, lifecycle = build_app(settings)
    server = DrainingServer(uvicorn_config(app, settings, host=host, port=port), lifecycle)
    # Modules, settings and the app live as long as the process: move them out of the garbage
    # collector's generations, so that full collections under load scan only request objects.
    gc.collect()
    gc.freeze()
    server.run()
    return 0 if server.started else 1
