"""Running the app under uvicorn: a drain phase on SIGTERM, then a bounded graceful shutdown.

On SIGTERM the bridge turns draining at once (/readyz 503, new callbacks get the provider's
503 + Retry-After), but keeps listening and keeps every open connection: replies during the
drain carry `Connection: close`, so clients leave on their own after their current exchange.
The drain phase ends when nothing is in flight and no request arrived for DRAIN_QUIET_SECONDS,
or after `server.graceful_shutdown_seconds`; then uvicorn stops listening, closes the idle
connections, waits for what is in flight (for the rest of `graceful_shutdown_seconds`), and the
lifespan stops the publisher.
"""

from __future__ import annotations

import gc
import logging
import math
import os
import signal
import time
from collections.abc import Mapping
from types import FrameType
from typing import Final

import uvicorn
from prometheus_client import CollectorRegistry
from starlette.applications import Starlette

from bridge.clock import SystemClock
from bridge.config import Settings
from bridge.errors import UsageError
from bridge.http.lifecycle import Lifecycle
from bridge.kafka.publisher import KafkaPublisher, Publisher
from bridge.spool.metrics import SpoolMetrics
from bridge.spool.publisher import SpoolingPublisher
from bridge.spool.store import Spool
from bridge.tracing import Tracing, configured

log = logging.getLogger(__name__)

DRAIN_QUIET_SECONDS: Final = 1.0
GC_YOUNG_OBJECTS: Final = 20_000  # see tune_gc()


class DrainingServer(uvicorn.Server):
    """A uvicorn server that marks the bridge as draining the moment a stop signal arrives and
    holds uvicorn's shutdown back until the drain phase is over (see the module docstring)."""

    def __init__(self, config: uvicorn.Config, lifecycle: Lifecycle) -> None:
        super().__init__(config)
        self.lifecycle = lifecycle
        self.drain_limit = float(config.timeout_graceful_shutdown or 0)
        self._drain_started: float | None = None
        self._requests_seen = 0
        self._last_arrival = 0.0

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if not self.lifecycle.draining:
            log.info("draining", extra={"event": "draining", "signal": sig, "in_flight": self.lifecycle.in_flight})
            self._drain_started = self._last_arrival = time.monotonic()
            self._requests_seen = self.server_state.total_requests
        self.lifecycle.draining = True
        super().handle_exit(sig, frame)
        if sig == signal.SIGTERM:
            # uvicorn re-raises captured signals after shutdown, so the process would die by
            # SIGTERM; a completed drain is a clean exit (code 0).
            self._captured_signals[:] = [s for s in self._captured_signals if s != signal.SIGTERM]

    async def on_tick(self, counter: int) -> bool:
        should_exit = await super().on_tick(counter)
        if not should_exit or self.force_exit or self._drain_started is None:
            return should_exit
        return self.drained()

    def drained(self) -> bool:
        """True once nothing is in flight and no request arrived for a while, or time is up."""
        now = time.monotonic()
        state = self.server_state
        if state.total_requests != self._requests_seen:
            self._requests_seen, self._last_arrival = state.total_requests, now
        started = self._drain_started if self._drain_started is not None else now
        if now - started >= self.drain_limit:
            reason = "time limit"
        elif not state.tasks and now - self._last_arrival >= DRAIN_QUIET_SECONDS:
            reason = "quiet"
        else:
            return False
        log.info("drain phase over", extra={"event": "drained", "reason": reason, "seconds": round(now - started, 1)})
        # One budget for both phases: what is still in flight gets the rest of the grace period.
        if self.config.timeout_graceful_shutdown is not None:
            self.config.timeout_graceful_shutdown = max(1, math.ceil(self.drain_limit - (now - started)))
        return True


def build_publisher(settings: Settings, registry: CollectorRegistry) -> Publisher:
    """The Kafka publisher, wrapped in a SpoolingPublisher when `spool:` is configured."""
    kafka = KafkaPublisher(settings.kafka)
    if settings.spool is None:
        return kafka
    return SpoolingPublisher(kafka, Spool(settings.spool), SpoolMetrics(registry))


def build_app(settings: Settings, tracing: Tracing | None = None) -> tuple[Starlette, Lifecycle]:
    """The production wiring: real clock, real publisher, a fresh registry, the lifecycle the drain turns
    (while draining, the app's replies say `Connection: close`: bridge.http.app.BridgeApp)."""
    from bridge.http.app import create_app

    lifecycle = Lifecycle()
    registry = CollectorRegistry()
    app = create_app(settings, build_publisher(settings, registry), registry, SystemClock(), lifecycle,
                     tracing=tracing)
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
    tracing = start_tracing(os.environ)
    app, lifecycle = build_app(settings, tracing)
    server = DrainingServer(uvicorn_config(app, settings, host=host, port=port), lifecycle)
    tune_gc()
    try:
        server.run()
    finally:
        if tracing is not None:
            tracing.shutdown()
    return 0 if server.started else 1


def tune_gc() -> None:
    """Modules, settings and the app live as long as the process: move them out of the garbage collector's
    generations, so that full collections under load scan only request objects. And collect the youngest
    generation every GC_YOUNG_OBJECTS allocations instead of 700: a callback allocates a few hundred
    objects that die with it, so at 700 the collector ran every few callbacks and promoted the in-flight
    callbacks' objects to older generations, to be scanned again there (-4 % instructions per callback;
    the young generation stays a few MB)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG_OBJECTS, *gc.get_threshold()[1:])


def start_tracing(env: Mapping[str, str]) -> Tracing | None:
    """OpenTelemetry tracing when the environment configures it (bridge.tracing.configured), else None: then
    nothing of OpenTelemetry is imported. Configured without the `otel` extra installed is a usage error."""
    if not configured(env):
        return None
    try:
        return Tracing.from_env()
    except ImportError as exc:
        raise UsageError("OTEL_EXPORTER_OTLP_ENDPOINT is set but OpenTelemetry is not installed: "
                         "pip install 'sms-bridge[otel]'") from exc
